"""`ganforge train --eval-every`: evaluation records in metrics.jsonl, the best checkpoint,
refusals before anything is written, and training that evaluation does not disturb."""

from __future__ import annotations

import json

import pytest
import torch
from typer.testing import CliRunner

from ganforge.errors import GanforgeError
from ganforge.training.setup import monitor_options
from ganforge.training.setup.assemble import build_run, resolve_config
from ganforge.training.loop.checkpoint import load_checkpoint
from ganforge.training.loop.driver import RunDriver
from ganforge.training.hooks.evaluation import flatten_metrics
from ganforge.training.hooks.standard import standard_hooks
from ganforge.training.loop.rundir import create_run_dir

SMALL = {"ngf": "4", "ndf": "4"}
TIMING = {"img_per_s"}


def make_driver(tmp_path, name="run", **flags):
    flags = {"arch": "dcgan", "batch_size": 16, "steps": 4, "log_every": 1, "sample_every": 2,
             "checkpoint_every": 2, "runs_dir": str(tmp_path), "arch_options": SMALL, "device": "cpu",
             "seed": 3, **flags}
    config, plugins = resolve_config(flags)
    run = build_run(config, plugins)
    return RunDriver(run, create_run_dir(str(tmp_path), name), standard_hooks(config, progress=False))


def records(run_dir) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def without_timing(rs):
    return [{k: v for k, v in r.items() if k not in TIMING} for r in rs]


def test_evaluations_are_logged_plotted_and_keep_the_best_checkpoint(tmp_path, digit_cache_env):
    driver = make_driver(tmp_path, steps=5, eval_every=2, eval_n=40)
    driver.run_steps()
    d = driver.run_dir
    evals = [r for r in records(d) if "eval_fid_digits" in r]
    assert [r["step"] for r in evals] == [2, 4, 5]  # every 2 steps and at the end
    assert {"eval_kid_digits", "eval_precision", "eval_recall", "eval_class_coverage",
            "eval_memorization_fid_train_half", "eval_memorization_difference", "eval_best"} <= set(evals[0])
    assert "eval_label_accuracy" not in evals[0]  # unconditional
    best_step = min(evals, key=lambda r: r["eval_fid_digits"])["step"]
    assert [r["step"] for r in evals if r["eval_best"]][-1] == best_step
    best = torch.load(d / "checkpoints" / "best.pt", weights_only=True)
    assert best["step"] == best_step
    assert best["hooks"]["evaluation"]["best"] == {"metric": "fid_digits", "step": best_step,
                                                   "value": min(r["eval_fid_digits"] for r in evals)}
    assert (d / "checkpoints" / "best.pt.sha256").is_file()
    assert (d / "evaluation.png").stat().st_size > 1000 and (d / "losses.png").is_file()
    # generator-best holds the weights of best.pt's generator
    from safetensors.torch import load_file

    exported = load_file(str(d / "generator-best.safetensors"))
    assert all(torch.equal(exported[k], v) for k, v in best["networks"]["G"].items())
    # `ganforge sample --best` and `ganforge eval --best`
    from ganforge.cli.app import app

    result = CliRunner().invoke(app, ["sample", str(d), "--best", "--n", "4", "--out", str(tmp_path / "b.png")])
    assert result.exit_code == 0, result.output
    result = CliRunner().invoke(app, ["eval", str(d), "--best", "--n", "40", "--metrics", "fid", "--seed", "3", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads((d / "eval-best.json").read_text())
    assert report["fid_digits"] == pytest.approx(min(r["eval_fid_digits"] for r in evals), rel=1e-6)


def test_a_conditional_run_logs_label_accuracy_and_can_keep_the_best_by_it(tmp_path, digit_cache_env):
    driver = make_driver(tmp_path, arch="cgan", steps=2, eval_every=2, eval_n=20,
                         eval_metrics="label_accuracy,coverage", best_metric="label_accuracy")
    driver.run_steps()
    (record,) = [r for r in records(driver.run_dir) if "eval_label_accuracy" in r]
    assert 0 <= record["eval_label_accuracy"] <= 1 and record["eval_best"] is True


def test_evaluation_does_not_change_training(tmp_path, digit_cache_env):
    plain = make_driver(tmp_path, "plain", health=False)
    plain.run_steps()
    evaluated = make_driver(tmp_path, "evaluated", eval_every=1, eval_n=20, eval_metrics="fid,coverage")
    evaluated.run_steps()
    for a, b in zip(plain.run.generator.state_dict().values(), evaluated.run.generator.state_dict().values()):
        assert torch.equal(a, b)
    trained = [r for r in records(evaluated.run_dir) if "d_loss" in r]
    assert without_timing(trained) == without_timing(records(plain.run_dir))


def test_resume_with_evaluation_and_health_is_exact(tmp_path, digit_cache_env):
    flags = dict(eval_every=2, eval_n=20, eval_metrics="fid,coverage", checkpoint_every=2)
    straight = make_driver(tmp_path, "straight", **flags)
    straight.run_steps()
    first = make_driver(tmp_path, "split", steps=2, **flags)
    first.run_steps()
    config = first.run.config
    config.steps = 4
    resumed = RunDriver(build_run(config, first.run.plugins), first.run_dir, standard_hooks(config, progress=False))
    resumed.load_state_dict(load_checkpoint(first.run_dir))
    resumed.run_steps()
    for a, b in zip(straight.run.generator.state_dict().values(), resumed.run.generator.state_dict().values()):
        assert torch.equal(a, b)
    assert without_timing(records(straight.run_dir)) == without_timing(records(first.run_dir))
    a = load_checkpoint(straight.run_dir)["hooks"]
    b = load_checkpoint(first.run_dir)["hooks"]
    assert a == b and set(a) == {"evaluation", "health"}


@pytest.mark.parametrize("flags, message", [
    ({"dataset": "cifar10"}, "trains on 'cifar10'"),
    ({"image_size": 32}, "at 32x32"),
    ({"eval_metrics": "kid,coverage"}, "needs 'fid' in --eval-metrics"),
    ({"best_metric": "recall", "eval_metrics": "fid"}, "needs 'pr' in --eval-metrics"),
    ({"best_metric": "sharpness"}, "--best-metric must be one of"),
    ({"eval_n": 5}, "--eval-n must be at least"),
    ({"arch": "dcgan", "eval_metrics": "fid,label_accuracy"}, "unconditional"),
])
def test_mistakes_fail_before_a_run_directory_exists(tmp_path, flags, message):
    import ganforge

    runs = tmp_path / "runs"
    with pytest.raises(GanforgeError, match=message):
        ganforge.train(**{"arch": "dcgan", "steps": 1, "eval_every": 1, "runs_dir": str(runs),
                          "arch_options": SMALL, **flags})
    assert not runs.exists()


def test_best_metric_without_evaluation_and_tensorboard_without_its_package(tmp_path, monkeypatch):
    import importlib.util

    import ganforge

    runs = tmp_path / "runs"
    with pytest.raises(GanforgeError, match="--best-metric needs --eval-every"):
        ganforge.train("dcgan", steps=1, best_metric="fid_digits", runs_dir=str(runs))
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "tensorboard" else real_find_spec(name, *a))
    with pytest.raises(GanforgeError, match=r"pip install 'ganforge\[tensorboard\]'"):
        ganforge.train("dcgan", steps=1, tensorboard=True, runs_dir=str(runs))
    assert not runs.exists()


def test_flatten_metrics_and_the_metric_tables():
    from ganforge.evaluation import ALL_METRICS

    assert flatten_metrics({"fid_digits": 41.2, "memorization": {"ratio": 0.9, "difference": None}, "n": 3}) == \
        {"eval_fid_digits": 41.2, "eval_memorization_ratio": 0.9, "eval_n": 3.0}
    assert monitor_options.EVAL_METRICS == ALL_METRICS
    assert monitor_options.is_better("fid_digits", 10.0, 12.0) and not monitor_options.is_better("recall", 0.1, 0.2)
    assert all(group in ALL_METRICS for group, _ in monitor_options.BEST_METRICS.values())
