"""The training-health monitor: each failure mode provoked for real (a discriminator that wins,
a planted NaN, a generator with one output) and the rules on planted numbers."""

from __future__ import annotations

import json
import math

import pytest
import torch
from torch import nn

from ganforge.training.loop import health_checks as rules
from ganforge.training.setup.assemble import build_run, resolve_config
from ganforge.training.loop.driver import NonFiniteLoss, RunDriver
from ganforge.training.hooks.health import HealthMonitor, REPEAT_AFTER_CHECKS
from ganforge.training.hooks.standard import MetricsFile, standard_hooks
from ganforge.training.loop.rundir import create_run_dir

CHANCE = 2 * math.log(2)


def make_run(**flags):
    flags = {"arch": "dcgan", "batch_size": 16, "steps": 4, "log_every": 1, "sample_every": 1000,
             "checkpoint_every": 1000, "arch_options": {"ngf": "4", "ndf": "4"}, "device": "cpu", **flags}
    return build_run(*resolve_config(flags))


def make_driver(tmp_path, hooks=None, run=None, **flags):
    run = run or make_run(**flags)
    hooks = standard_hooks(run.config, progress=False) if hooks is None else hooks
    return RunDriver(run, create_run_dir(str(tmp_path), "run"), hooks)


def health_records(driver) -> list[dict]:
    lines = (driver.run_dir / "metrics.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, lines) if "health" in r]


# -- the rules on planted numbers -------------------------------------------------------------
def test_discriminator_rule_on_the_seen_case_and_on_a_healthy_run():
    seen = [(0.0009, 6.9), (0.0006, 7.2), (0.0005, 7.3), (0.0004, 7.5), (0.0003, 7.6)]
    assert "winning outright" in rules.discriminator_wins(seen, CHANCE)
    healthy = [(0.22, 2.3), (0.20, 2.8), (0.29, 2.7), (0.31, 2.4), (0.51, 2.2)]  # a real run's lowest D loss
    assert rules.discriminator_wins(healthy, CHANCE) is None
    assert rules.discriminator_wins(seen[1:], CHANCE) is None  # not a full window yet
    assert rules.discriminator_wins(seen, None) is None  # a loss of unknown scale is not judged
    recovering = [(0.001, 7.6), (0.001, 7.0), (0.001, 6.0), (0.001, 5.0), (0.001, 4.0)]
    assert rules.discriminator_wins(recovering, CHANCE) is None


def test_collapse_rules_on_planted_numbers():
    assert rules.diversity_collapse(0.9, 0.95, 400) is None
    assert "fell to" in rules.diversity_collapse(0.2, 0.95, 400)
    assert "nearly identical" in rules.diversity_collapse(0.0, None, None)
    assert rules.diversity_collapse(0.1, 0.2, 50) is None  # an untrained generator's peak is no reference
    assert rules.coverage_collapse(2.1, 2.2, 1000) is None
    assert "class coverage fell to 0.300" in rules.coverage_collapse(0.3, 2.2, 1000)


def test_every_builtin_loss_that_has_a_zero_floor_says_its_chance_level():
    from ganforge import registry

    for name, chance in (("minimax", CHANCE), ("nonsaturating", CHANCE), ("lsgan", 0.5)):
        loss = registry.load("loss", name).obj
        assert loss.discriminator_loss_at_chance == pytest.approx(chance)
        from ganforge.interfaces import DiscriminatorBatch

        zeros = torch.zeros(4, 1)  # D cannot tell: every logit 0
        batch = DiscriminatorBatch(real=None, fake=None, real_logits=zeros, fake_logits=zeros, labels=None,
                                   discriminator=None)
        assert float(loss.discriminator_loss(batch)) == pytest.approx(chance)


# -- provoked in real runs --------------------------------------------------------------------
def test_a_discriminator_that_wins_is_reported_once_then_only_while_it_persists(tmp_path, capsys):
    # Measured with these settings: D loss 0.0094 at step 12, 0.0003 at step 46, G loss climbing.
    driver = make_driver(tmp_path, steps=45, log_every=1, d_lr=5e-3, g_lr=1e-6, batch_size=16,
                         arch_options={"ngf": "8", "ndf": "8"})
    driver.hooks[1].live = False  # the plain progress output
    driver.run_steps()
    found = [r for r in health_records(driver) if r["health"] == rules.DISCRIMINATOR_WINS]
    assert found, health_records(driver)
    assert "winning outright" in found[0]["message"]
    # Said once, again only after REPEAT_AFTER_CHECKS more logs: never at consecutive logs.
    gaps = [b["step"] - a["step"] for a, b in zip(found, found[1:])]
    assert all(g >= REPEAT_AFTER_CHECKS for g in gaps), gaps
    assert len(found) <= 45 // REPEAT_AFTER_CHECKS + 1
    err = capsys.readouterr().err
    assert err.count("warning: step") == len(found) and "Traceback" not in err
    state = torch.load(driver.run_dir / "checkpoints" / "latest.pt", weights_only=True)["hooks"]["health"]
    assert rules.DISCRIMINATOR_WINS in state["active"] and len(state["window"]) == rules.D_WINS_WINDOW


def test_a_nan_stops_the_run_keeps_the_last_good_checkpoint_and_says_so_in_the_health_record(tmp_path):
    driver = make_driver(tmp_path, steps=6, checkpoint_every=2)
    original = driver.update.loss.discriminator_loss

    def poisoned(batch):
        loss = original(batch)
        return loss * float("nan") if batch.step >= 3 else loss

    driver.update.loss.discriminator_loss = poisoned
    with pytest.raises(NonFiniteLoss, match="step 4: d_loss") as caught:
        driver.run_steps()
    (record,) = health_records(driver)
    assert record == {"step": 4, "health": rules.NON_FINITE, "message": str(caught.value), "stopped": True}
    state = torch.load(driver.run_dir / "checkpoints" / "latest.pt", weights_only=True)
    assert state["step"] == 2
    assert all(torch.isfinite(v).all() for v in state["networks"]["G"].values() if v.is_floating_point())


class _Constant(nn.Module):
    """A generator forced to one output: a learnable image, whatever z is."""

    def __init__(self, shape):
        super().__init__()
        self.image = nn.Parameter(torch.zeros(1, *shape))

    def forward(self, z, labels=None):
        return torch.tanh(self.image).expand(z.shape[0], *self.image.shape[1:])


def test_a_generator_with_one_output_is_reported_as_mode_collapse(tmp_path):
    run = make_run(steps=20)
    run.generator = _Constant(run.spec.image_shape)
    run.g_optimizer = torch.optim.Adam(run.generator.parameters(), lr=1e-2)
    driver = make_driver(tmp_path, hooks=[MetricsFile(), HealthMonitor(diversity_every=5, floor_after=10)], run=run)
    driver.run_steps()
    (record,) = [r for r in health_records(driver) if r["health"] == rules.MODE_COLLAPSE]
    assert record["step"] == 10 and "nearly identical" in record["message"]


def test_a_healthy_generator_raises_no_collapse(tmp_path):
    # The same tiny dcgan reached 10% of real images' diversity by step 50 (3% at step 35).
    driver = make_driver(tmp_path, steps=50, hooks=[MetricsFile(), HealthMonitor(diversity_every=5, floor_after=50)])
    driver.run_steps()
    assert not [r for r in health_records(driver) if r["health"] == rules.MODE_COLLAPSE]


def test_class_coverage_dropping_sharply_is_reported_then_cleared(tmp_path):
    monitor = HealthMonitor(diversity_every=None)
    driver = make_driver(tmp_path, hooks=[MetricsFile(), monitor])
    for hook in driver.hooks:
        hook.on_start(driver)
    for step, coverage in ((100, 1.9), (200, 2.2), (300, 2.1), (400, 0.6), (500, 0.5), (600, 2.0)):
        driver.step = step
        driver.publish({"step": step, "eval_class_coverage": coverage})
    said = [r for r in health_records(driver)]
    assert [(r["step"], r.get("cleared", False)) for r in said] == [(400, False), (600, True)]
    assert "fell to 0.600 from 2.200 at step 200" in said[0]["message"]


def test_monitor_state_round_trips(tmp_path):
    monitor = HealthMonitor(diversity_every=None)
    monitor.window = [(0.1, 2.0), (0.2, 2.5)]
    monitor.active = {rules.MODE_COLLAPSE: {"since": 400, "checks": 3, "value": 0.6}}
    monitor.peaks = {"coverage": (2.2, 200)}
    other = HealthMonitor(diversity_every=None)
    other.load_state_dict(monitor.state_dict())
    assert (other.window, other.active, other.peaks) == (monitor.window, monitor.active, monitor.peaks)
