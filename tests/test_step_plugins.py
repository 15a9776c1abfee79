"""Step plugins (issue 20): the built-in alternating step against the release before steps existed,
old checkpoints, named networks, phases (interval, lazy rescale, gain, own-mean metrics), and the
one-line errors for steps that do not fit their architecture."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

import ganforge
from ganforge.cli.app import app
from ganforge.errors import InvalidPluginError
from ganforge.training.setup.assemble import build_run, resolve_config
from ganforge.training.loop.checkpoint import migrated, verify_checkpoint
from ganforge.training.loop.driver import RunDriver

RELEASE = Path(__file__).parent / "data" / "release-0.1"
EXPECTED = json.loads((RELEASE / "expected.json").read_text())


def driver_for(values: dict) -> RunDriver:
    config, plugins = resolve_config(values)
    return RunDriver(build_run(config, plugins), run_dir=None)


@pytest.mark.parametrize("case", sorted(EXPECTED["first_steps"]))
def test_the_alternating_step_gives_the_losses_of_the_release_before_steps(case):
    """Recorded by ganforge 0.1 (tests/data/release-0.1, fp32, fixed seed): the same losses step for
    step (bitwise on the machine that recorded them; other CPUs round their convolutions apart)."""
    recorded = EXPECTED["first_steps"][case]
    driver = driver_for(recorded["flags"])
    assert driver.run.config.step == "alternating"
    for index, expected in enumerate(recorded["steps"]):
        got = {k: float(v) for k, v in driver.update(driver.batches, index).items()}
        assert set(got) == set(expected), index
        tolerance = 1e-5 if index == 0 else 2e-3  # the first D loss is computed before any update
        for key, value in expected.items():
            assert got[key] == pytest.approx(value, rel=tolerance, abs=1e-5), (index, key)


def test_a_checkpoint_written_by_the_release_before_steps_resumes(tmp_path):
    run_dir = tmp_path / "legacy-dcgan"
    shutil.copytree(RELEASE / "legacy-dcgan", run_dir)
    raw = torch.load(run_dir / "checkpoints" / "latest.pt", weights_only=True)
    assert {"generator", "discriminator", "g_optimizer", "d_optimizer"} <= set(raw)  # the old layout
    state = migrated(raw)
    assert set(state["networks"]) == set(state["optimizers"]) == {"G", "D"}
    assert state["networks"]["G"] is raw["generator"] and "generator" not in state
    ganforge.resume(run_dir, steps=9, progress=False)
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    resumed = [r for r in records if r["step"] > 6]
    assert [r["step"] for r in resumed] == [7, 8, 9]
    for got, expected in zip(resumed, EXPECTED["resume_to_step_9"]):  # what 0.1 itself resumed to
        for key, value in expected.items():
            assert got[key] == pytest.approx(value, rel=2e-3, abs=2e-5), (got["step"], key)
    config = json.loads((run_dir / "config.json").read_text())
    assert config["step"] == "alternating" and config["step_options"] == {}
    assert set(verify_checkpoint(run_dir / "checkpoints" / "latest.pt")["networks"]) == {"G", "D"}
    assert "generator" not in torch.load(run_dir / "checkpoints" / "latest.pt", weights_only=True)


LAZY_STEP = '''
import torch
from ganforge.interfaces import Phase, Step


class Lazy(Step):
    """G learns from a fixed target; D is moved only by a lazy phase every 4 steps."""
    interval = 4

    def phases(self, spec):
        return (Phase("Gmain", ("G",)), Phase("Dreg", ("D",), interval=self.interval, lazy=True, prefix="d_reg"))

    def run_phase(self, phase, ctx):
        if phase.name == "Gmain":
            z = ctx.latent(ctx.spec.batch_size)
            return ctx.net("G")(z, None).square().mean()
        first = next(ctx.module("D").parameters())
        return {"loss": first.sum(), "when": torch.tensor(float(ctx.step))}


class Zero(Lazy):
    interval = 0


class Elsewhere(Lazy):
    networks = {"G": "generator", "D_B": "discriminator"}
'''
TINY = {"arch": "dcgan", "batch_size": 4, "device": "cpu", "arch_options": {"ngf": "4", "ndf": "4"}}


@pytest.fixture
def lazy_steps(make_distribution):
    make_distribution("ganforge-lazy-test", {"ganforge.steps": {
        "lazy": "lazy_step:Lazy", "zero": "lazy_step:Zero", "elsewhere": "lazy_step:Elsewhere"}},
        {"lazy_step": LAZY_STEP})


def test_a_lazy_phase_rescales_its_networks_optimizer_and_multiplies_its_loss(lazy_steps):
    driver = driver_for({**TINY, "step": "lazy", "d_optimizer": "sgd", "d_lr": 0.1, "d_momentum": 0.5,
                         "g_betas": (0.5, 0.9)})
    ratio = 4 / 5
    d_group, g_group = driver.run.d_optimizer.param_groups[0], driver.run.g_optimizer.param_groups[0]
    assert d_group["lr"] == pytest.approx(0.1 * ratio) and d_group["momentum"] == pytest.approx(0.5 ** ratio)
    assert g_group["betas"] == (0.5, 0.9) and g_group["lr"] == driver.run.config.g_optim.lr  # no lazy phase of G
    first = next(driver.run.discriminator.parameters())
    before = first.detach().clone()
    driver.update(driver.batches, 0)  # Dreg runs at step 0: SGD moves each weight by lr * ratio * gain * 1
    torch.testing.assert_close(first.detach(), before - 0.1 * ratio * 4, rtol=0, atol=1e-6)
    moved = first.detach().clone()
    for step in (1, 2, 3):
        driver.update(driver.batches, step)
    assert torch.equal(first.detach(), moved)  # not at steps 1-3


def test_a_phase_every_n_steps_logs_its_own_mean(lazy_steps, tmp_path):
    run_dir = ganforge.train("dcgan", step="lazy", steps=8, log_every=8, runs_dir=str(tmp_path), progress=False,
                             **{k: v for k, v in TINY.items() if k != "arch"})
    record = json.loads((run_dir / "metrics.jsonl").read_text().splitlines()[0])
    assert record["step"] == 8
    assert record["d_reg_when"] == pytest.approx(2.0)  # steps 0 and 4, not (0 + 4) / 8
    assert "gmain_loss" in record
    config = json.loads((run_dir / "config.json").read_text())
    assert config["step"] == "lazy"


def test_a_phase_that_does_not_update_a_network_freezes_it(lazy_steps):
    driver = driver_for({**TINY, "step": "lazy"})
    driver.update(driver.batches, 1)  # Gmain only
    assert all(p.grad is None for p in driver.run.discriminator.parameters())
    assert all(p.requires_grad for p in driver.run.discriminator.parameters())  # unfrozen afterwards
    assert any(p.grad is not None for p in driver.run.generator.parameters())


def one_line_refusal(args, tmp_path):
    result = CliRunner().invoke(app, ["train", "dcgan", *args, "--steps", "2", "--runs-dir", str(tmp_path / "runs"),
                                      "--device", "cpu"])
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.strip().splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    assert not (tmp_path / "runs").exists()
    return lines[0]


def test_a_step_that_trains_a_network_the_architecture_does_not_build_is_one_line(lazy_steps, tmp_path):
    line = one_line_refusal(["--step", "elsewhere"], tmp_path)
    assert "step plugin 'elsewhere' from ganforge-lazy-test 1.0" in line and "D_B" in line
    assert "architecture plugin 'dcgan'" in line


def test_a_phase_with_interval_zero_is_one_line(lazy_steps, tmp_path):
    line = one_line_refusal(["--step", "zero"], tmp_path)
    assert "step plugin 'zero' from ganforge-lazy-test 1.0" in line and "interval 0" in line


def test_step_options_are_typed_and_unknown_ones_named(tmp_path):
    line = one_line_refusal(["-S", "nope=1"], tmp_path)
    assert "step 'alternating'" in line and "nope" in line


def test_a_step_plugin_is_validated_when_it_loads(make_distribution):
    from ganforge import registry

    make_distribution("ganforge-bad-step", {"ganforge.steps": {"bad": "bad_step:Bad", "roles": "bad_step:Roles"}},
                      {"bad_step": '''
from ganforge.interfaces import Step

class Bad(Step):
    def phases(self, spec):
        return ()

class Roles(Bad):
    networks = {"G": "generator", "D": "critic"}

    def run_phase(self, phase, ctx):
        return 0
'''})
    with pytest.raises(InvalidPluginError, match="missing method.*run_phase"):
        registry.load("step", "bad")
    with pytest.raises(InvalidPluginError, match="role must be generator or discriminator"):
        registry.load("step", "roles")


def test_optim_sets_one_named_networks_optimizer_over_its_roles(tmp_path):
    from ganforge.training.setup.command_line import train_command

    driver = driver_for({**TINY, "d_lr": 5e-4, "network_optim": {"D": {"optimizer": "sgd", "momentum": "0.5"}}})
    d, g = driver.run.d_optimizer, driver.run.g_optimizer
    assert isinstance(d, torch.optim.SGD) and d.param_groups[0]["momentum"] == 0.5
    assert d.param_groups[0]["lr"] == 5e-4  # the role's setting where the network sets none
    assert isinstance(g, torch.optim.Adam)
    command = train_command(driver.run.config)
    assert "--optim D.optimizer=sgd" in command and "--optim D.momentum=0.5" in command
    result = CliRunner().invoke(app, ["train", "dcgan", "--optim", "G.lr=3e-3", "--steps", "1", "--batch-size", "4",
                                      "-O", "ngf=4", "-O", "ndf=4", "--device", "cpu", "--runs-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    config = json.loads((Path(result.stdout.strip().splitlines()[-1]) / "config.json").read_text())
    assert config["network_optim"] == {"G": {"lr": 3e-3}}


@pytest.mark.parametrize("args,expected", [
    (["--optim", "G_AB.lr=1e-4"], "--optim names network(s) G_AB, but step 'alternating' trains G, D"),
    (["--optim", "D.lr=-1"], "--optim D.lr must be positive"),
    (["--optim", "D.speed=2"], "D.speed is no optimizer setting"),
    (["--optim", "lr=2"], "--optim takes NETWORK.SETTING=VALUE"),
])
def test_bad_optim_values_are_one_line(tmp_path, args, expected):
    assert expected in one_line_refusal(args, tmp_path)


#: The ganforge-r3gan package (installed by the README's test command), small.
R3GAN_FAST = {"batch_size": 8, "device": "cpu", "arch_options": {"width": 8, "group_width": 8}}


@pytest.mark.parametrize("precision,compile", [("bf16", "none"), ("fp32", "networks"), ("bf16", "networks")])
@pytest.mark.parametrize("lazy", [False, True], ids=["penalties-in-D-loss", "lazy-phases"])
def test_penalties_run_eagerly_with_compile_and_bf16(precision, compile, lazy):
    pytest.importorskip("ganforge_r3gan")
    """torch.compile has no double backward: the phases that take one run the networks uncompiled,
    the others compiled; bf16 autocast covers every phase."""
    step_options = {"reg_interval": 2, "pl_weight": 1.0, "pl_interval": 2} if lazy else {}
    config, plugins = resolve_config({"arch": "r3gan", **R3GAN_FAST, "precision": precision, "compile": compile,
                                      "step_options": step_options})
    driver = RunDriver(build_run(config, plugins), run_dir=None)
    before = {name: [p.detach().clone() for p in m.parameters()] for name, m in driver.run.networks.items()}
    values = [driver.update(driver.batches, step) for step in range(2)]
    assert all(torch.isfinite(v) for step in values for v in step.values())
    assert ("d_reg_r1" in values[0]) == lazy and ("d_r1" in values[0]) == (not lazy)
    for name, module in driver.run.networks.items():
        assert any(not torch.equal(a, b) for a, b in zip(before[name], module.parameters())), name
    runners = driver.update.runners
    compiled = compile != "none"
    for phase in driver.run.phases:
        for name in ("G", "D"):
            eager = runners[phase.name].net(name) is driver.run.networks[name]
            assert eager == (phase.double_backward or not compiled), (phase.name, name)
