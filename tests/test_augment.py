"""DiffAugment (--augment diffaugment): each operation's shapes and values, differentiability,
seeded reproducibility, and its place in the update step."""

import itertools

import pytest
import torch

from ganforge import augment
from ganforge.training.setup.config import AUGMENT_CHOICES


def images(n=6, c=3, h=16, w=12, seed=0):
    """Values in [0.1, 1]: no pixel is zero, so zeros in an output come from the augmentation."""
    return torch.rand(n, c, h, w, generator=torch.Generator().manual_seed(seed)) * 0.9 + 0.1


def test_the_config_choices_are_the_implemented_policies():
    assert set(AUGMENT_CHOICES) == set(augment.POLICIES)
    assert augment.augmentation("none") is None
    with pytest.raises(ValueError, match="unknown augmentation"):
        augment.augmentation("mixup")


@pytest.mark.parametrize("shape", [(5, 1, 28, 28), (3, 3, 16, 12), (2, 3, 64, 64)])
def test_translation_shifts_each_image_within_the_ratio_and_fills_with_zeros(shape):
    n, c, h, w = shape
    x = images(*shape)
    torch.manual_seed(1)
    out = augment.translation(x)
    assert out.shape == x.shape and out.dtype == x.dtype
    max_dy, max_dx = int(h / 8 + 0.5), int(w / 8 + 0.5)
    for i in range(n):
        matches = []
        for dy, dx in itertools.product(range(-max_dy, max_dy + 1), range(-max_dx, max_dx + 1)):
            expected = torch.zeros_like(x[i])
            src = x[i][:, max(0, -dy):h - max(0, dy), max(0, -dx):w - max(0, dx)]
            expected[:, max(0, dy):max(0, dy) + src.shape[1], max(0, dx):max(0, dx) + src.shape[2]] = src
            if torch.equal(out[i], expected):
                matches.append((dy, dx))
        assert len(matches) == 1, f"image {i} is not one shift of its input"


def test_translation_draws_varied_shifts():
    x = images(64, 1, 16, 16)
    torch.manual_seed(0)
    out = augment.translation(x)
    unchanged = sum(torch.equal(out[i], x[i]) for i in range(64))
    assert unchanged < 16  # a shift of (0, 0) has probability 1/25


@pytest.mark.parametrize("shape", [(8, 1, 28, 28), (4, 3, 15, 9)])
def test_cutout_zeroes_one_clipped_square_of_half_the_size(shape):
    n, c, h, w = shape
    x = images(*shape)
    torch.manual_seed(2)
    out = augment.cutout(x)
    assert out.shape == x.shape
    size_h, size_w = int(h / 2 + 0.5), int(w / 2 + 0.5)
    for i in range(n):
        zero = out[i] == 0
        assert torch.equal(out[i][~zero], x[i][~zero])  # everything else untouched
        assert torch.equal(zero, zero[:1].expand_as(zero))  # the same hole in every channel
        rows = zero[0].any(dim=1).nonzero().flatten()
        cols = zero[0].any(dim=0).nonzero().flatten()
        assert len(rows) and len(cols)
        assert len(rows) <= size_h and len(cols) <= size_w
        assert int(zero[0].sum()) == len(rows) * len(cols)  # a rectangle
        # a full-size square unless it touches a border
        assert len(rows) == size_h or rows[0] == 0 or rows[-1] == h - 1
        assert len(cols) == size_w or cols[0] == 0 or cols[-1] == w - 1


def test_colour_operations_keep_what_they_should():
    x = images(8, 3, 10, 10) * 2 - 1
    torch.manual_seed(3)
    shifted = augment.brightness(x)
    delta = shifted - x
    assert torch.allclose(delta, delta[:, :1, :1, :1].expand_as(delta), atol=1e-6)
    assert delta.abs().max() <= 0.5 and delta.flatten(1)[:, 0].std() > 0
    saturated = augment.saturation(x)
    torch.testing.assert_close(saturated.mean(dim=1), x.mean(dim=1))  # per-pixel grey level kept
    assert not torch.allclose(saturated, x)
    contrasted = augment.contrast(x)
    torch.testing.assert_close(contrasted.mean(dim=(1, 2, 3)), x.mean(dim=(1, 2, 3)))
    ratio = (contrasted - contrasted.mean(dim=(1, 2, 3), keepdim=True)) / (x - x.mean(dim=(1, 2, 3), keepdim=True))
    factors = ratio.flatten(1).median(dim=1).values
    assert (factors >= 0.5 - 1e-4).all() and (factors <= 1.5 + 1e-4).all()


def test_saturation_of_grey_images_is_a_no_op_that_draws_nothing():
    x = images(4, 1, 8, 8)
    torch.manual_seed(4)
    out = augment.saturation(x)
    after = torch.rand(1)
    torch.manual_seed(4)
    assert out is x and torch.equal(after, torch.rand(1))


def test_same_seed_same_augmentation_other_seed_other():
    x = images(8, 3, 16, 16)
    outputs = []
    for seed in (5, 5, 6):
        torch.manual_seed(seed)
        outputs.append(augment.diff_augment(x))
    assert torch.equal(outputs[0], outputs[1])
    assert not torch.equal(outputs[0], outputs[2])


@pytest.mark.parametrize("channels", [1, 3])
def test_the_policy_is_differentiable(channels):
    x = images(2, channels, 8, 8).double().requires_grad_()

    def seeded(t):
        with torch.random.fork_rng():
            torch.manual_seed(7)
            return augment.diff_augment(t)

    assert torch.autograd.gradcheck(seeded, (x,))


def test_gradients_reach_the_generator_through_the_augmentation():
    torch.manual_seed(0)
    generator = torch.nn.Sequential(torch.nn.Linear(4, 3 * 8 * 8), torch.nn.Tanh(), torch.nn.Unflatten(1, (3, 8, 8)))
    discriminator = torch.nn.Sequential(torch.nn.Conv2d(3, 2, 3), torch.nn.Flatten(), torch.nn.Linear(72, 1))
    fake = generator(torch.randn(5, 4))
    discriminator(augment.diff_augment(fake)).sum().backward()
    for p in generator.parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0


TINY = {"arch": "dcgan", "batch_size": 8, "steps": 2, "device": "cpu", "arch_options": {"ngf": "4", "ndf": "4"},
        "runs_dir": "unused"}


def driver_for(**options):
    from ganforge.training.setup.assemble import build_run, resolve_config
    from ganforge.training.loop.driver import RunDriver

    config, plugins = resolve_config({**TINY, **options})
    return RunDriver(build_run(config, plugins), run_dir=None)


@pytest.mark.parametrize("channels_last", [False, True])
def test_the_step_shows_the_discriminator_augmented_images_in_both_updates(channels_last):
    driver = driver_for(augment="diffaugment", channels_last=channels_last)
    seen, batches = [], {}
    driver.run.networks["D"].register_forward_hook(lambda module, args, out: seen.append(args[0]))
    d_loss, g_loss = driver.update.loss.discriminator_loss, driver.update.loss.generator_loss

    def spy_d(batch):
        batches["d"] = batch
        return d_loss(batch)

    def spy_g(batch):
        batches["g"] = batch
        return g_loss(batch)

    driver.update.loss.discriminator_loss, driver.update.loss.generator_loss = spy_d, spy_g
    driver.update(driver.batches, 0)
    d_real, d_fake, g_fake = seen[:3]
    assert not torch.equal(d_real, batches["d"].real)  # real images are augmented
    assert not torch.equal(d_fake, batches["d"].fake)
    assert not torch.equal(g_fake, batches["g"].fake.detach())
    assert (d_real == 0).any() and not (batches["d"].real == 0).all()  # cutout/translation zeros
    if channels_last:
        assert d_real.is_contiguous(memory_format=torch.channels_last)
    # the losses' D callable (gradient penalties) goes through the augmentation too, fresh each call
    before = len(seen)
    with torch.no_grad():
        batches["d"].discriminator(batches["d"].real)
        batches["d"].discriminator(batches["d"].real)
    assert len(seen) == before + 2 and not torch.equal(seen[-1], seen[-2])
    assert all(p.grad is not None for p in driver.run.generator.parameters())


def test_without_augment_the_discriminator_sees_the_images_themselves():
    driver = driver_for()
    seen, batches = [], {}
    driver.run.networks["D"].register_forward_hook(lambda module, args, out: seen.append(args[0]))
    d_loss = driver.update.loss.discriminator_loss
    driver.update.loss.discriminator_loss = lambda b: batches.setdefault("d", b) and d_loss(b)
    driver.update(driver.batches, 0)
    assert seen[0] is batches["d"].real and seen[1] is batches["d"].fake
