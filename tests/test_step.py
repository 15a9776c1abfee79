"""The update step's speed settings: each changes speed only, or changes the math in the one
documented way (reuse_fake draws one batch of noise per iteration instead of two)."""

import pytest
import torch

from ganforge.training.setup.assemble import build_run, resolve_config
from ganforge.training.loop.driver import RunDriver

TINY = {"arch": "dcgan", "batch_size": 8, "steps": 2, "device": "cpu", "arch_options": {"ngf": "4", "ndf": "4"},
        "runs_dir": "unused"}


def driver_for(**options):
    config, plugins = resolve_config({**TINY, **options})
    return RunDriver(build_run(config, plugins), run_dir=None)


def run_iterations(driver, n=2):
    return [driver.update(driver.batches, step) for step in range(n)]


def count_generator_calls(driver):
    calls = []
    driver.run.networks["G"].register_forward_hook(lambda module, args, out: calls.append(out))
    return calls


def test_reuse_fake_runs_one_generator_forward_per_iteration():
    reusing, regenerating = driver_for(), driver_for(reuse_fake=False)
    reused_calls, fresh_calls = count_generator_calls(reusing), count_generator_calls(regenerating)
    run_iterations(reusing, 3)
    run_iterations(regenerating, 3)
    assert len(reused_calls) == 3 and len(fresh_calls) == 6


def test_reused_fake_images_are_the_ones_the_discriminator_saw():
    driver = driver_for()
    seen = {"d": [], "g": []}
    d_loss, g_loss = driver.update.loss.discriminator_loss, driver.update.loss.generator_loss
    driver.update.loss.discriminator_loss = lambda b: seen["d"].append(b.fake) or d_loss(b)
    driver.update.loss.generator_loss = lambda b: seen["g"].append(b.fake) or g_loss(b)
    run_iterations(driver, 1)
    assert torch.equal(seen["d"][0], seen["g"][0].detach()) and seen["g"][0].requires_grad
    assert all(p.grad is not None for p in driver.run.generator.parameters())


def test_reuse_with_several_generator_updates_regenerates_after_the_first():
    driver = driver_for(g_steps=3)
    calls = count_generator_calls(driver)
    run_iterations(driver, 1)
    assert len(calls) == 3  # one reused from the D update, two new


def test_channels_last_is_on_by_default_on_the_cpu_only():
    from ganforge.training.step.engine import use_channels_last

    driver = driver_for()
    assert driver.run.config.channels_last is True  # resolved: config.json records what ran
    assert driver.update.memory_format == torch.channels_last
    assert all(p.is_contiguous(memory_format=torch.channels_last) for p in driver.run.generator.parameters()
               if p.dim() == 4)
    assert driver_for(channels_last=False).run.config.channels_last is False
    assert use_channels_last(None, torch.device("cuda")) is False  # unmeasured there: NCHW
    assert use_channels_last(True, torch.device("cuda")) is True


def test_channels_last_gives_the_same_training():
    plain, last = driver_for(channels_last=False), driver_for(channels_last=True)
    assert plain.update.memory_format == torch.contiguous_format
    assert any(p.dim() == 4 and p.is_contiguous(memory_format=torch.channels_last) and not p.is_contiguous()
               for p in last.run.discriminator.parameters())
    first_plain, first_last = run_iterations(plain, 1)[0], run_iterations(last, 1)[0]
    # D's first loss is computed before any update: only rounding differs.
    torch.testing.assert_close(first_plain["d_loss"], first_last["d_loss"], rtol=1e-4, atol=1e-6)
    # After that, Adam's first steps move each weight by about +-lr whatever the gradient's size, so a
    # gradient component near 0 that rounds to the other sign moves by 2 lr: allow a few lr.
    run_iterations(plain, 2)
    run_iterations(last, 2)
    lr = plain.run.config.g_optim.lr
    for p, q in zip(plain.run.generator.parameters(), last.run.generator.parameters()):
        torch.testing.assert_close(p, q, rtol=0, atol=8 * lr)


def test_bf16_autocast_runs_the_networks_in_bf16_with_fp32_master_weights():
    driver = driver_for(precision="bf16")
    dtypes = []
    driver.run.discriminator.net[0].register_forward_hook(lambda m, a, out: dtypes.append(out.dtype))
    values = run_iterations(driver, 2)
    assert dtypes and set(dtypes) == {torch.bfloat16}
    assert all(p.dtype == torch.float32 for p in driver.run.generator.parameters())
    reference = run_iterations(driver_for(), 1)[0]
    for key in ("d_loss", "g_loss"):
        assert torch.isfinite(values[0][key])
        assert abs(float(values[0][key]) - float(reference[key])) < 0.05, key


def test_fp16_uses_a_gradient_scaler_kept_in_checkpoints():
    driver = driver_for(precision="fp16")
    scalers = driver.update.scalers
    assert set(scalers) == {"D", "G"} and all(s.is_enabled() for s in scalers.values())  # one per phase
    run_iterations(driver, 2)
    state = driver.state_dict()["update"]
    assert state["scalers"]["D"]["scale"] > 0
    other = driver_for(precision="fp16")
    other.update.load_state_dict(state)
    assert other.update.scalers["D"].get_scale() == scalers["D"].get_scale()


def test_cudagraphs_needs_cuda():
    from ganforge.errors import GanforgeError

    with pytest.raises(GanforgeError, match="needs a CUDA device"):
        driver_for(compile="cudagraphs")


@pytest.mark.slow
def test_compiled_networks_train_like_eager_ones():
    eager, compiled = driver_for(), driver_for(compile="networks")  # dcgan: no dropout, whose RNG differs
    for a, b in zip(run_iterations(eager), run_iterations(compiled)):
        for key in ("d_loss", "g_loss"):
            torch.testing.assert_close(a[key], b[key], rtol=1e-4, atol=1e-5)
