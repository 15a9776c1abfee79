"""The health monitor that acts (``--on-problem rollback``): each problem provoked for real, the
restore target, the remedies, the records and the refusals. Exact resume of a run that rolled
back is proven in ``test_fault_injection.py``."""

from __future__ import annotations

import json

import pytest
import torch
from typer.testing import CliRunner

from ganforge.cli.app import app
from ganforge.errors import GanforgeError
from ganforge.training.loop import health_checks as rules
from ganforge.training.loop.checkpoint import checkpoint_at_or_before
from ganforge.training.loop.driver import NonFiniteLoss
from ganforge.training.hooks.health import HealthMonitor
from ganforge.training.hooks.standard import Checkpoints, MetricsFile

from test_health import _Constant, health_records, make_driver, make_run

# Measured with these settings (batch 8, seed 7): D wins is found at step 9, and again at step 15
# after the first rollback halved D's learning rate.
WINNING_D = {"steps": 30, "log_every": 1, "checkpoint_every": 5, "batch_size": 8, "seed": 7, "d_lr": 0.02,
             "g_lr": 1e-6, "on_problem": "rollback", "max_rollbacks": 2}


def records(driver) -> list[dict]:
    return [json.loads(line) for line in (driver.run_dir / "metrics.jsonl").read_text().splitlines()]


def actions(driver) -> list[dict]:
    return [r for r in records(driver) if r.get("action") == "rollback"]


def final_state(driver) -> dict:
    return torch.load(driver.run_dir / "checkpoints" / "latest.pt", weights_only=True)


def poison_discriminator_loss(driver, poisoned):
    """Make D's loss NaN while ``poisoned(step)`` says so."""
    original = driver.update.loss.discriminator_loss

    def loss(batch):
        value = original(batch)
        return value * float("nan") if poisoned(batch.step) else value

    driver.update.loss.discriminator_loss = loss


def test_a_discriminator_that_wins_is_rolled_back_with_a_lower_d_learning_rate(tmp_path, capsys):
    driver = make_driver(tmp_path, **WINNING_D)
    driver.run_steps()
    done = actions(driver)
    assert [(a["rollback"], a["health"], a["remedy"]) for a in done] == [
        (1, rules.DISCRIMINATOR_WINS, "lower-d-lr"), (2, rules.DISCRIMINATOR_WINS, "lower-d-lr")]
    assert [a["d_lr"] for a in done] == pytest.approx([0.01, 0.005])
    for action in done:  # restored to a checkpoint from before the window that showed the problem
        assert action["step"] <= action["detected_step"] - rules.D_WINS_WINDOW
        assert action["step"] % 5 == 0 and "winning outright" in action["problem"]
    assert done[1]["step"] >= done[0]["step"]  # a later rollback never undoes an earlier remedy
    state = final_state(driver)
    assert state["optimizers"]["D"]["param_groups"][0]["lr"] == pytest.approx(0.005)
    assert state["optimizers"]["G"]["param_groups"][0]["lr"] == pytest.approx(1e-6)
    assert [r["rollback"] for r in state["hooks"]["health"]["rollbacks"]] == [1, 2]
    logged = [r["step"] for r in records(driver) if "d_loss" in r]
    assert logged == list(range(1, 31))  # the abandoned steps' records went; every step logged once
    err = capsys.readouterr().err
    assert err.count("action: step") == 2 and "D learning rate now 0.005" in err
    # After the last allowed rollback the monitor only warns again.
    assert any(r.get("health") == rules.DISCRIMINATOR_WINS and "action" not in r for r in records(driver))


def test_a_rollback_target_is_kept_from_step_zero_and_through_pruning(tmp_path):
    driver = make_driver(tmp_path, **{**WINNING_D, "checkpoint_every": 1, "keep_checkpoints": 2, "steps": 12})
    driver.run_steps()
    assert actions(driver)[0]["step"] <= 4
    periodic = sorted((driver.run_dir / "checkpoints").glob("step-*.pt"))
    assert len(periodic) > 2  # pruning keeps enough to reach back past a problem's window


def test_a_nan_is_rolled_back_with_lower_learning_rates_and_the_run_goes_on(tmp_path):
    driver = make_driver(tmp_path, steps=8, checkpoint_every=2, on_problem="rollback")
    d_lr = driver.run.d_optimizer.param_groups[0]["lr"]
    # NaN from step 5 on while D's rate is the configured one: the remedy cures it.
    poison_discriminator_loss(driver, lambda step: step >= 5 and driver.run.d_optimizer.param_groups[0]["lr"] == d_lr)
    driver.run_steps()
    (action,) = actions(driver)
    assert (action["health"], action["remedy"], action["detected_step"]) == (rules.NON_FINITE, "lower-lr", 6)
    assert action["step"] == 4 and action["problem"] == "d_loss, g_loss became nan"
    state = final_state(driver)
    assert state["step"] == 8
    assert state["optimizers"]["D"]["param_groups"][0]["lr"] == pytest.approx(d_lr / 2)
    assert all(torch.isfinite(v).all() for v in state["networks"]["G"].values() if v.is_floating_point())


def test_a_nan_that_stays_stops_the_run_after_the_last_rollback(tmp_path):
    driver = make_driver(tmp_path, steps=8, checkpoint_every=2, on_problem="rollback", max_rollbacks=2)
    poison_discriminator_loss(driver, lambda step: step >= 5)
    with pytest.raises(NonFiniteLoss, match="d_loss"):
        driver.run_steps()
    assert [a["rollback"] for a in actions(driver)] == [1, 2]
    assert health_records(driver)[-1]["stopped"] is True
    assert final_state(driver)["step"] <= 4  # nothing diverged was checkpointed


def test_a_collapsed_generator_is_rolled_back_and_its_discriminator_slowed(tmp_path):
    run = make_run(steps=30, on_problem="rollback", max_rollbacks=2, seed=5)
    run.generator = _Constant(run.spec.image_shape)
    run.g_optimizer = torch.optim.Adam(run.generator.parameters(), lr=1e-2)
    d_lr = run.d_optimizer.param_groups[0]["lr"]
    hooks = [MetricsFile(), HealthMonitor(diversity_every=5, floor_after=10), Checkpoints(5, at_start=True)]
    driver = make_driver(tmp_path, hooks=hooks, run=run)
    driver.run_steps()
    done = actions(driver)
    assert [(a["health"], a["remedy"]) for a in done] == [(rules.MODE_COLLAPSE, "lower-d-lr")] * 2
    assert [a["d_lr"] for a in done] == pytest.approx([d_lr / 2, d_lr / 4])
    assert "nearly identical" in done[0]["problem"] and done[0]["step"] <= done[0]["detected_step"] - 5
    # a generator with one output stays one: after the last rollback the monitor warns
    assert health_records(driver)[-1]["health"] == rules.MODE_COLLAPSE and "action" not in health_records(driver)[-1]


def test_an_explicit_remedy_replaces_the_automatic_one(tmp_path):
    driver = make_driver(tmp_path, **{**WINNING_D, "steps": 12, "remedy": "lower-lr", "max_rollbacks": 1})
    driver.run_steps()
    (action,) = actions(driver)
    assert action["remedy"] == "lower-lr" and action["g_lr"] == pytest.approx(5e-7)


def test_without_a_checkpoint_to_go_back_to_the_monitor_warns_and_goes_on(tmp_path):
    driver = make_driver(tmp_path, hooks=[MetricsFile(), HealthMonitor(diversity_every=None)],
                         **{**WINNING_D, "steps": 12})
    driver.run_steps()
    (warning,) = [r for r in health_records(driver) if r["health"] == rules.DISCRIMINATOR_WINS]
    assert "no rollback: no intact checkpoint" in warning["message"] and not actions(driver)


def test_the_restore_target_is_the_newest_intact_checkpoint_at_or_before_a_step(tmp_path):
    driver = make_driver(tmp_path, steps=6, checkpoint_every=2)
    driver.run_steps()
    assert checkpoint_at_or_before(driver.run_dir, 5).state["step"] == 4
    assert checkpoint_at_or_before(driver.run_dir, 6).state["step"] == 6  # latest.pt
    (driver.run_dir / "checkpoints" / "step-000004.pt").write_bytes(b"broken")
    assert checkpoint_at_or_before(driver.run_dir, 5).state["step"] == 2
    assert checkpoint_at_or_before(driver.run_dir, 1) is None


def test_monitor_state_with_rollbacks_round_trips():
    monitor = HealthMonitor(diversity_every=None)
    monitor.rollbacks = [{"step": 40, "rollback": 1, "remedy": "lower-d-lr", "d_lr": 1e-4}]
    other = HealthMonitor(diversity_every=None)
    other.load_state_dict(monitor.state_dict())
    assert other.rollbacks == monitor.rollbacks


@pytest.mark.parametrize("flags, said", [
    (["--on-problem", "rollback", "--no-health"], "--on-problem rollback acts on the health monitor's findings"),
    (["--on-problem", "undo"], "--on-problem"),
    (["--remedy", "reseed"], "--remedy"),
    (["--max-rollbacks", "-1"], "--max-rollbacks must be 0 or more"),
])
def test_bad_rollback_options_are_one_line_and_nothing_is_written(tmp_path, flags, said):
    result = CliRunner().invoke(app, ["train", "dcgan", "--steps", "2", "--runs-dir", str(tmp_path / "runs"), *flags])
    assert result.exit_code == 2, result.output
    assert said in result.output and "Traceback" not in result.output
    assert not (tmp_path / "runs").exists()


def test_several_processes_refuse_rollbacks_in_one_line():
    from ganforge.training.parallel.distributed import Parallel

    run = make_run(on_problem="rollback")
    with pytest.raises(GanforgeError, match="works in one process"):
        Parallel(0, 2, 0, 60.0, False).check(run.config)
    Parallel(0, 2, 0, 60.0, False).check(make_run().config)  # warn only: fine
