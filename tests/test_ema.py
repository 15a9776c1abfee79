"""The generator EMA (--ema): the average against a hand-computed reference, and a run that
samples, exports and checkpoints the average."""

import pytest
import torch
from torch import nn

from ganforge.generator_file import load_generator
from ganforge.training.setup.assemble import build_run, resolve_config
from ganforge.training.loop.checkpoint import load_checkpoint
from ganforge.training.loop.driver import RunDriver
from ganforge.training.hooks.ema import GeneratorAverage, GeneratorEMA
from ganforge.training.hooks.standard import standard_hooks
from ganforge.training.loop.rundir import create_run_dir


def tiny_module():
    return nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.ReLU(), nn.Linear(4, 2))


def train_a_little(module, generator):
    """Move the weights and the batch-norm statistics as training would."""
    module.train()
    module(torch.randn(8, 3, generator=generator))
    with torch.no_grad():
        for p in module.parameters():
            p.add_(torch.randn(p.shape, generator=generator) * 0.3)


@pytest.mark.parametrize("decay", [0.5, 0.9, 0.999])
def test_average_matches_a_hand_computed_reference(decay):
    rng = torch.Generator().manual_seed(int(decay * 1000))
    module = tiny_module()
    average = GeneratorAverage(module, decay)
    reference = {k: v.detach().double().clone() for k, v in module.state_dict().items()}
    for t in range(12):
        train_a_little(module, rng)
        average.update()
        beta = min(decay, (1 + t) / (10 + t))  # the documented warm-up
        for key, value in module.state_dict().items():
            if key.endswith("num_batches_tracked"):
                reference[key] = value.clone()  # integer buffers are copied
            else:
                reference[key] = beta * reference[key] + (1 - beta) * value.double()
    got = average.module.state_dict()
    assert set(got) == set(reference)
    for key, expected in reference.items():
        if expected.is_floating_point():
            torch.testing.assert_close(got[key].double(), expected, rtol=1e-5, atol=1e-6, msg=key)
        else:
            assert torch.equal(got[key], expected), key
    assert average.updates == 12
    # the average really differs from the trained module (it is not a copy)
    assert not torch.allclose(got["0.weight"], module.state_dict()["0.weight"])


def test_average_has_no_gradients_and_leaves_the_source_alone():
    module = tiny_module()
    before = {k: v.clone() for k, v in module.state_dict().items()}
    average = GeneratorAverage(module, 0.9)
    average.update()
    assert all(not p.requires_grad for p in average.module.parameters())
    assert all(p.requires_grad for p in module.parameters())
    assert all(torch.equal(before[k], v) for k, v in module.state_dict().items())


def test_average_state_round_trips():
    rng = torch.Generator().manual_seed(3)
    module = tiny_module()
    first = GeneratorAverage(module, 0.8)
    for _ in range(3):
        train_a_little(module, rng)
        first.update()
    second = GeneratorAverage(module, 0.8)
    second.load_state_dict(first.state_dict())
    train_a_little(module, rng)
    first.update()
    second.update()
    for key, value in first.module.state_dict().items():
        assert torch.equal(value, second.module.state_dict()[key]), key


def make_driver(tmp_path, name="run", **flags):
    flags = {"arch": "dcgan", "batch_size": 16, "steps": 4, "log_every": 1, "sample_every": 2,
             "checkpoint_every": 2, "runs_dir": str(tmp_path), "device": "cpu",
             "arch_options": {"ngf": "8", "ndf": "8"}, **flags}
    config, plugins = resolve_config(flags)
    return RunDriver(build_run(config, plugins), create_run_dir(str(tmp_path), name),
                     standard_hooks(config, progress=False))


def test_a_run_with_ema_exports_and_checkpoints_the_average(tmp_path):
    driver = make_driver(tmp_path, ema=0.9)
    hook = driver.hooks[0]
    assert isinstance(hook, GeneratorEMA)
    driver.run_steps()
    averaged = hook.average.module
    assert driver.output_generator is averaged
    raw = driver.run.generator.state_dict()
    exported, _ = load_generator(driver.run_dir, torch.device("cpu"))
    differs = False
    for key, value in averaged.state_dict().items():
        assert torch.equal(exported.state_dict()[key], value), key
        differs |= not torch.equal(value, raw[key])
    assert differs, "the exported file holds the trained generator, not the average"
    state = load_checkpoint(driver.run_dir)
    assert state["hooks"]["ema"]["updates"] == 4
    for key, value in averaged.state_dict().items():
        assert torch.equal(state["hooks"]["ema"]["module"][key], value), key
        assert torch.equal(state["networks"]["G"][key], raw[key]), key  # the checkpoint keeps both


def test_without_ema_the_output_generator_is_the_trained_one(tmp_path):
    driver = make_driver(tmp_path, steps=1)
    assert not any(isinstance(h, GeneratorEMA) for h in driver.hooks)
    assert driver.output_generator is driver.run.generator


def test_sample_grids_show_the_average(tmp_path):
    from ganforge.training.hooks.standard import SampleGrids

    driver = make_driver(tmp_path, ema=0.9, steps=2)
    seen = []
    grids = next(h for h in driver.hooks if isinstance(h, SampleGrids))
    original = grids.act
    grids.act = lambda d: seen.append(d.output_generator) or original(d)
    driver.run_steps()
    assert seen and all(g is driver.hooks[0].average.module for g in seen)


def test_ema_does_not_change_training(tmp_path):
    """The average only observes: the trained networks equal those of a run without --ema."""
    plain = make_driver(tmp_path, name="plain", steps=3)
    plain.run_steps()  # each run from its own seeding (build_run seeds the global RNG)
    averaged = make_driver(tmp_path, name="ema", steps=3, ema=0.9)
    averaged.run_steps()
    assert averaged.output_generator is not averaged.run.generator
    for a, b in zip(plain.run.generator.state_dict().values(), averaged.run.generator.state_dict().values()):
        assert torch.equal(a, b)
    for a, b in zip(plain.run.discriminator.state_dict().values(), averaged.run.discriminator.state_dict().values()):
        assert torch.equal(a, b)
