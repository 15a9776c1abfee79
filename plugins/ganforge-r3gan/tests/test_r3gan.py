"""The r3gan package: its architecture and loss pass ganforge's conformance kit, its step trains
through the public step interface, its penalties are the gradients they claim to be, and a run
with lazy R1/R2 and the path-length penalty resumes exactly."""

import json
import math

import pytest
import torch

import ganforge
from ganforge import registry
from ganforge.testing import check_architecture, check_loss, check_training_steps, spec_for, state_differences
from ganforge_r3gan import functional as F
from ganforge_r3gan.arch import R3GAN
from ganforge_r3gan.loss import RpGAN
from ganforge_r3gan.step import R3GANStep

SMALL = {"width": 8, "group_width": 8}
FAST = {"batch_size": 8, "device": "cpu", "arch_options": SMALL, "log_every": 1, "sample_every": 1000,
        "checkpoint_every": 1000}


def test_architecture_passes_the_conformance_kit():
    check_architecture(R3GAN, options=SMALL, batch_size=2)


def test_rpgan_passes_the_conformance_kit():
    check_loss(RpGAN)


@pytest.mark.parametrize("step_options", [{}, {"reg_interval": 2, "pl_weight": 1.0, "pl_interval": 1}])
def test_the_step_trains_every_network_through_the_kit(step_options):
    spec = spec_for(R3GAN(), (1, 28, 28), options=SMALL)
    check_training_steps(R3GAN(), spec, steps=2, batch_size=4, loss=RpGAN(), step=R3GANStep(),
                         step_options=step_options)


def test_entry_points_name_this_distribution():
    for kind, name, cls in (("architecture", "r3gan", R3GAN), ("loss", "rpgan", RpGAN), ("step", "r3gan", R3GANStep)):
        found = registry.find(kind).get(name)
        assert found.distribution == "ganforge-r3gan"
        assert type(found.load().obj) is cls


def test_rpgan_is_softplus_of_the_paired_difference():
    real, fake = torch.tensor([2.0, -1.0]), torch.tensor([0.5, 0.5])
    assert F.rpgan_discriminator_loss(real, fake) == pytest.approx(
        (math.log1p(math.exp(-1.5)) + math.log1p(math.exp(1.5))) / 2)
    assert F.rpgan_generator_loss(real, fake) == pytest.approx(
        (math.log1p(math.exp(1.5)) + math.log1p(math.exp(-1.5))) / 2)
    assert F.rpgan_discriminator_loss(real, real) == pytest.approx(math.log(2))


def test_the_gradient_penalty_is_the_squared_input_gradient():
    torch.manual_seed(0)
    weight = torch.randn(12)
    images = torch.randn(5, 3, 2, 2, requires_grad=True)
    logits = (images.flatten(1) * weight).sum(1) ** 2  # d/dx = 2 (w.x) w
    expected = ((2 * (images.flatten(1) @ weight))[:, None] * weight).square().sum(1).mean()
    torch.testing.assert_close(F.gradient_penalty(logits, images), expected)


def test_path_lengths_are_the_norm_of_the_jacobian_transpose_times_the_noise():
    latents = torch.randn(3, 4, requires_grad=True)
    matrix = torch.randn(4, 6)
    images = (latents @ matrix).view(3, 1, 2, 3)
    noise = torch.randn_like(images)
    expected = (noise.flatten(1) @ matrix.T).norm(dim=1)
    torch.testing.assert_close(F.path_lengths(images, latents, noise), expected)


def test_rpgan_without_real_logits_says_which_step_to_use():
    from ganforge.interfaces import GeneratorBatch

    with pytest.raises(ValueError, match="--step r3gan"):
        RpGAN().generator_loss(GeneratorBatch(torch.zeros(2, 1, 4, 4), torch.zeros(2), None, lambda x: x))


def test_r3gan_defaults_pick_its_loss_and_step(tmp_path):
    run_dir = ganforge.train("r3gan", steps=1, runs_dir=str(tmp_path), progress=False, **FAST)
    config = json.loads((run_dir / "config.json").read_text())
    assert (config["loss"], config["step"]) == ("rpgan", "r3gan")
    assert config["g_optim"]["betas"] == [0.0, 0.99] and config["step_options"]["gamma"] == R3GANStep.options["gamma"].default


def test_lazy_phases_log_their_own_metrics_and_rescale_adam(tmp_path):
    run_dir = ganforge.train("r3gan", steps=4, step_options={"reg_interval": 2, "pl_weight": 2.0, "pl_interval": 2},
                             runs_dir=str(tmp_path), progress=False, **FAST)
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [("d_reg_r1" in r, "g_reg_path_length" in r) for r in records] == [(True, True), (False, False)] * 2
    assert all("d_r1" not in r and r["d_loss"] > 0 for r in records)  # R1/R2 only in the lazy phase
    state = torch.load(run_dir / "checkpoints" / "latest.pt", weights_only=True)
    group = state["optimizers"]["D"]["param_groups"][0]
    assert group["lr"] == pytest.approx(1e-3 * 2 / 3) and group["betas"][1] == pytest.approx(0.99 ** (2 / 3))
    assert state["update"]["step_state"]["pl_mean"] > 0


def test_a_resumed_run_with_lazy_penalties_ends_exactly_like_an_uninterrupted_one(tmp_path):
    options = dict(step_options={"reg_interval": 3, "pl_weight": 1.0, "pl_interval": 2}, ema=0.9, **FAST)
    straight = ganforge.train("r3gan", steps=7, runs_dir=str(tmp_path / "a"), progress=False, **options)
    halted = ganforge.train("r3gan", steps=4, runs_dir=str(tmp_path / "b"), progress=False, **options)
    ganforge.resume(halted, steps=7, progress=False)
    a, b = (torch.load(d / "checkpoints" / "latest.pt", weights_only=True) for d in (straight, halted))
    for key in ("networks", "optimizers", "update", "rng", "hooks"):
        assert not state_differences(a[key], b[key], key), key
    drop = lambda d: [{k: v for k, v in json.loads(line).items() if k != "img_per_s"}
                      for line in (d / "metrics.jsonl").read_text().splitlines()]
    assert drop(straight) == drop(halted)


