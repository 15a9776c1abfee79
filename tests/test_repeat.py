"""``ganforge train --repeats N``: N seeds of one recipe, each evaluated, summarised across the
seeds; interrupted, it continues where it stopped (issue 19, item 2)."""

from __future__ import annotations

import json
import os
import signal

import pytest
from typer.testing import CliRunner

from ganforge.cli.app import app
from ganforge.repeat import REPEAT_FILE, SUMMARY_FILE
from ganforge.training.loop.driver import RunDriver

RECIPE = ["gan", "--steps", "12", "--batch-size", "16", "--log-every", "1", "--sample-every", "100",
          "--checkpoint-every", "4", "--device", "cpu", "--eval-n", "60"]
FEW_METRICS = ["--eval-metrics", "fid,pr,coverage"]


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def repeat(tmp_path, name, *extra):
    result = invoke("train", *RECIPE, "--repeats", "2", "--seed", "3", "--runs-dir", tmp_path, "--name", name, *extra)
    return result, tmp_path / name


def interrupt_run_at_step(monkeypatch, run_name, step):
    """SIGINT to this process once the run ``run_name`` has computed ``step``."""
    update = RunDriver._update

    def iterate(self):
        values = update(self)
        if self.run_dir is not None and self.run_dir.name == run_name and self.step + 1 == step:
            os.kill(os.getpid(), signal.SIGINT)
        return values

    monkeypatch.setattr(RunDriver, "_update", iterate)


def test_repeat_trains_each_seed_evaluates_and_summarises(tmp_path, digit_cache_env):
    result, repeat_dir = repeat(tmp_path, "rep")  # every metric that applies to an unconditional generator
    assert result.exit_code == 0, result.output
    assert result.stdout.strip().splitlines()[-1] == str(repeat_dir)
    state = json.loads((repeat_dir / REPEAT_FILE).read_text())
    assert state["seeds"] == [3, 4] and state["finished"] == ["seed-3", "seed-4"]
    for seed in (3, 4):
        config = json.loads((repeat_dir / f"seed-{seed}" / "config.json").read_text())
        assert config["seed"] == seed and config["steps"] == 12 and config["arch"] == "gan"
        report = json.loads((repeat_dir / f"seed-{seed}" / "eval.json").read_text())
        assert report["protocol"]["n_fake"] == 60 and "fid_digits" in report and "kid_digits" in report
        assert "label_accuracy" not in report["protocol"]["metrics"]
    summary = json.loads((repeat_dir / SUMMARY_FILE).read_text())
    assert [r["run"] for r in summary["rows"]] == ["seed-3", "seed-4"]
    fid = summary["metrics"]["fid_digits"]
    assert fid["values"] == [r["fid_digits"] for r in summary["rows"]]
    assert fid["low"] < fid["mean"] < fid["high"] and fid["values"][0] != fid["values"][1]  # two different seeds
    assert set(summary["metrics"]) >= {"fid_digits", "kid_digits", "precision", "recall", "class_coverage"}
    assert "across training seeds" in result.stderr and "fid_digits" in result.stderr


def test_an_interrupted_repeat_continues_where_it_stopped(tmp_path, monkeypatch, digit_cache_env):
    whole, whole_dir = repeat(tmp_path, "whole", *FEW_METRICS)
    assert whole.exit_code == 0, whole.output

    with monkeypatch.context() as patch:
        interrupt_run_at_step(patch, "seed-4", 6)
        stopped, repeat_dir = repeat(tmp_path, "cut", *FEW_METRICS)
    assert stopped.exit_code == 130, stopped.output
    assert f"Continue with: ganforge train --resume {repeat_dir}" in stopped.stderr
    state = json.loads((repeat_dir / REPEAT_FILE).read_text())
    assert state["finished"] == ["seed-3"] and not (repeat_dir / SUMMARY_FILE).exists()
    first = repeat_dir / "seed-3" / "checkpoints" / "latest.pt"
    kept = first.stat().st_mtime_ns

    resumed = invoke("train", "--resume", repeat_dir)
    assert resumed.exit_code == 0, resumed.output
    assert "1 finished, continuing with seed 4" in resumed.stderr
    assert first.stat().st_mtime_ns == kept  # the finished run was not trained again
    # The interrupted run resumed exactly: the same evaluation as the uninterrupted repeat's.
    want = json.loads((whole_dir / SUMMARY_FILE).read_text())["metrics"]
    got = json.loads((repeat_dir / SUMMARY_FILE).read_text())["metrics"]
    assert got == want

    # Two repeat directories compare run for run: the same seeds trained alike, so B - A is 0.
    compared = invoke("compare", whole_dir, repeat_dir, "--json")
    assert compared.exit_code == 0, compared.output
    result = json.loads(compared.stdout)
    assert result["a"]["kind"] == "repeat summary of 2 runs"
    assert {m["difference"] for m in result["metrics"].values()} == {0.0}
    unfinished = tmp_path / "unfinished"
    unfinished.mkdir()
    (unfinished / REPEAT_FILE).write_text((repeat_dir / REPEAT_FILE).read_text())
    refused = invoke("compare", whole_dir, unfinished)
    assert refused.exit_code == 2 and "has no summary.json yet" in refused.stderr


@pytest.mark.parametrize("args, message", [
    (["--repeats", "0"], "--repeats must be between 1 and 1000, got 0"),
    (["--repeats", "2", "--repeat-jobs", "0"], "--repeat-jobs must be between 1 and"),
    (["--repeats", "2", "--repeat-jobs", "100000"], "--repeat-jobs must be between 1 and"),
    (["--repeat-jobs", "2"], "--repeat-jobs needs --repeats N"),
    (["--repeats", "2", "--steps", "0"], "--steps must be positive"),
    (["--repeats", "2", "--nproc", "2"], "--nproc cannot be combined"),
])
def test_bad_repeat_input_is_one_line_and_writes_nothing(tmp_path, args, message):
    runs = tmp_path / "runs"
    result = invoke("train", "gan", *args, "--runs-dir", runs)
    assert result.exit_code == 2, result.output
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not runs.exists() or not any(runs.iterdir())


def test_a_deleted_run_directory_is_one_line_or_trained_again(tmp_path, digit_cache_env):
    import shutil

    result, repeat_dir = repeat(tmp_path, "rep", "--eval-metrics", "fid")
    assert result.exit_code == 0, result.output
    summary = json.loads((repeat_dir / SUMMARY_FILE).read_text())
    shutil.rmtree(repeat_dir / "seed-4")
    gone = invoke("train", "--resume", repeat_dir)  # a finished run is gone: nothing to summarise it from
    assert gone.exit_code == 2 and "lists seed-4, but" in gone.stderr and "is gone" in gone.stderr
    assert json.loads((repeat_dir / SUMMARY_FILE).read_text()) == summary  # nothing written
    state = json.loads((repeat_dir / REPEAT_FILE).read_text())
    state["finished"] = ["seed-3"]  # as if it had been removed before it finished: it is trained again
    (repeat_dir / REPEAT_FILE).write_text(json.dumps(state))
    resumed = invoke("train", "--resume", repeat_dir)
    assert resumed.exit_code == 0, resumed.output
    assert json.loads((repeat_dir / SUMMARY_FILE).read_text()) == summary
