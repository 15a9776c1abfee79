"""Exact resume, proven by fault injection: training subprocesses are SIGKILLed at random
moments (half of the kills in the middle of a checkpoint write, made likely by the test-only
write delay), resumed with ``ganforge train --resume``, and must end with the same networks,
optimizer states, data order, RNG states, hook states (the generator average) and metrics as an
uninterrupted run of the same seed."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from ganforge.files import WRITE_DELAY_ENV
from ganforge.testing import state_differences

STEPS = 12
TRAIN = ["-m", "ganforge", "train", "dcgan", "-O", "ngf=4", "-O", "ndf=4", "--batch-size", "8",
         "--steps", str(STEPS), "--checkpoint-every", "1", "--log-every", "1", "--sample-every", "4",
         "--device", "cpu", "--seed", "7", "--name", "run",
         # evaluation (with its best checkpoint), the health monitor, the generator average and the
         # augmentation's random draws must not break exactness
         "--eval-every", "4", "--eval-n", "40", "--ema", "0.9", "--augment", "diffaugment"]
#: A run whose discriminator wins within a few steps (measured: found at steps 9 and 14), rolled
#: back twice by the health monitor: restores, remedies and their records must be exact too.
ROLLBACK_TRAIN = ["-m", "ganforge", "train", "dcgan", "-O", "ngf=4", "-O", "ndf=4", "--batch-size", "8",
                  "--steps", "24", "--checkpoint-every", "1", "--log-every", "1", "--sample-every", "4",
                  "--device", "cpu", "--seed", "7", "--name", "run", "--ema", "0.9",
                  "--d-lr", "0.02", "--g-lr", "1e-6", "--on-problem", "rollback", "--max-rollbacks", "2"]
#: The ganforge-r3gan package's step: lazy R1 + R2 (Dreg every 3) and the path-length penalty (Greg every
#: 2, with a running mean kept in the step's state): phases that skip steps and step state must resume exactly.
LAZY_TRAIN = ["-m", "ganforge", "train", "r3gan", "-O", "width=8", "-O", "group_width=8", "--batch-size", "8",
              "--steps", str(STEPS), "--checkpoint-every", "1", "--log-every", "1", "--sample-every", "4",
              "--device", "cpu", "--seed", "7", "--name", "run", "--ema", "0.9",
              "-S", "reg_interval=3", "-S", "pl_weight=1", "-S", "pl_interval=2"]
#: The ganforge-cyclegan package: two generators and two discriminators, two batches per step, on paired
#: digits whose pairs it never uses; the exported generator is the averaged G_AB.
TWO_PAIRS_TRAIN = ["-m", "ganforge", "train", "cyclegan", "--dataset", "mnist-5k-invert", "--subset", "64",
                   "-O", "ngf=4", "-O", "ndf=4", "-O", "blocks=1", "--batch-size", "4",
                   "--steps", str(STEPS), "--checkpoint-every", "1", "--log-every", "1", "--sample-every", "4",
                   "--device", "cpu", "--seed", "7", "--name", "run", "--ema", "0.9"]
#: The ganforge-pix2pix package: an image-to-image step on paired digits (fakes kept for the G phase).
PAIRED_TRAIN = ["-m", "ganforge", "train", "pix2pix", "--dataset", "mnist-5k-inpaint", "--subset", "64",
                "-O", "ngf=4", "-O", "ndf=4", "--batch-size", "8", "--steps", str(STEPS), "--checkpoint-every", "1",
                "--log-every", "1", "--sample-every", "4", "--device", "cpu", "--seed", "7", "--name", "run",
                "--ema", "0.9"]
TIMING_FIELDS = {"img_per_s"}
WRITE_DELAY_S = 0.03
COMPARED = ("step", "networks", "optimizers", "update", "rng", "batches", "hooks")


def environment(delay: bool) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "GANFORGE_DEBUG": "0"}
    env.pop(WRITE_DELAY_ENV, None)
    if delay:
        env[WRITE_DELAY_ENV] = str(WRITE_DELAY_S)
    return env


def start(runs: Path, resume: bool, delay: bool, train: list[str]) -> subprocess.Popen:
    args = ["-m", "ganforge", "train", "--resume", str(runs / "run")] if resume else [*train, "--runs-dir", str(runs)]
    log = (runs / f"stderr-{time.monotonic_ns()}.txt").open("w")
    return subprocess.Popen([sys.executable, *args], env=environment(delay), stdout=subprocess.DEVNULL,
                            stderr=log, cwd=runs)


def run_in_process(runs: Path, resume: bool, train: list[str]) -> None:
    """The same command through typer's CliRunner, with the subprocesses' single thread, to save
    a Python start-up in the default suite."""
    from typer.testing import CliRunner

    from ganforge.cli.app import app

    args = ["train", "--resume", str(runs / "run")] if resume else [*train[2:], "--runs-dir", str(runs)]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        result = CliRunner().invoke(app, args)
    finally:
        torch.set_num_threads(threads)
    (runs / f"stderr-{time.monotonic_ns()}.txt").write_text(result.stderr)
    assert result.exit_code == 0, result.output


def reference_run(runs: Path, in_process: bool, train: list[str]) -> dict:
    runs.mkdir()
    if in_process:
        began = time.monotonic()
        run_in_process(runs, resume=False, train=train)
        return {"dir": runs / "run", "training_s": time.monotonic() - began}
    proc = start(runs, resume=False, delay=False, train=train)
    metrics = runs / "run" / "metrics.jsonl"
    while not metrics.exists() and proc.poll() is None:
        time.sleep(0.005)
    training_began = time.monotonic()
    assert proc.wait() == 0, stderr_of(runs)
    return {"dir": runs / "run", "training_s": time.monotonic() - training_began}


def stderr_of(runs: Path) -> str:
    return "\n".join(p.read_text() for p in sorted(runs.glob("stderr-*.txt")))


def writing_a_checkpoint(run: Path) -> bool:
    try:
        return any(name.endswith(".tmp") for name in os.listdir(run / "checkpoints"))
    except FileNotFoundError:
        return False


def kill_at_random(proc: subprocess.Popen, run: Path, rng: random.Random, mid_write: bool,
                   training_s: float) -> str:
    """SIGKILL ``proc`` in the middle of a checkpoint write or at a random moment of training;
    returns what happened."""
    deadline = time.monotonic() + 120
    if mid_write:
        while not writing_a_checkpoint(run):
            if proc.poll() is not None or time.monotonic() > deadline:
                return "finished"
            time.sleep(0.001)
        time.sleep(rng.uniform(0, WRITE_DELAY_S))
    else:
        while not (run / "metrics.jsonl").exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                return "finished"
            time.sleep(0.002)
        time.sleep(rng.uniform(0, training_s * 1.5))
    if proc.poll() is not None:
        return "finished"
    was_writing = writing_a_checkpoint(run)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return "killed mid-write" if was_writing else "killed"


def has_checkpoint(run: Path) -> bool:
    return (run / "config.json").is_file() and any((run / "checkpoints").glob("*.pt"))


def run_trial(runs: Path, rng: random.Random, kills: int, training_s: float, in_process: bool,
              train: list[str]) -> list[str]:
    runs.mkdir()
    run = runs / "run"
    events = []
    for attempt in range(kills + 1):
        resume = has_checkpoint(run)
        if not resume and run.exists():
            shutil.rmtree(run)  # killed before its first checkpoint: nothing to resume, start again
        if attempt < kills:
            proc = start(runs, resume=resume, delay=True, train=train)
            events.append(("resume: " if resume else "fresh: ") +
                          kill_at_random(proc, run, rng, mid_write=attempt % 2 == 0 or rng.random() < 0.5,
                                         training_s=training_s))
        elif in_process:
            run_in_process(runs, resume, train)
        else:
            assert start(runs, resume=resume, delay=True, train=train).wait(timeout=300) == 0, stderr_of(runs)
        if attempt == kills:
            events.append("resumed to the end" if resume else "fresh to the end")
    return events


def load_final(run: Path) -> dict:
    return torch.load(run / "checkpoints" / "latest.pt", map_location="cpu", weights_only=True)


def metrics_without_timing(run: Path) -> list[dict]:
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in r.items() if k not in TIMING_FIELDS} for r in records]


def compare_runs(reference: Path, resumed: Path) -> list[str]:
    ref, got = load_final(reference), load_final(resumed)
    found = [d for key in COMPARED for d in state_differences(ref[key], got[key], key)]
    if metrics_without_timing(reference) != metrics_without_timing(resumed):
        found.append("metrics.jsonl")
    return found


def kill_resume_trials(tmp_path: Path, trials: int, seed: int, in_process: bool, train: list[str] = TRAIN) -> dict:
    """``trials`` runs killed 1-2 times each; with ``in_process`` the uninterrupted reference and
    the final resume run through CliRunner instead of a subprocess (the killed runs never do)."""
    reference = reference_run(tmp_path / "reference", in_process, train)
    rng = random.Random(seed)
    report = {"trials": 0, "differed": 0, "kills": 0, "mid_write_kills": 0, "fallbacks": 0, "events": []}
    for i in range(trials):
        runs = tmp_path / f"trial-{i}"
        events = run_trial(runs, rng, kills=rng.choice([1, 1, 2]), training_s=reference["training_s"],
                           in_process=in_process, train=train)
        found = compare_runs(reference["dir"], runs / "run")
        report["trials"] += 1
        report["differed"] += bool(found)
        report["kills"] += sum("killed" in e for e in events)
        report["mid_write_kills"] += sum("mid-write" in e for e in events)
        report["fallbacks"] += stderr_of(runs).count("resuming from checkpoints/step-")
        report["events"].append((events, found))
        assert "Traceback" not in stderr_of(runs), stderr_of(runs)
    print(json.dumps({k: v for k, v in report.items() if k != "events"}))
    return report


def test_killed_and_resumed_runs_end_exactly_like_an_uninterrupted_one(tmp_path, digit_cache_env):
    report = kill_resume_trials(tmp_path, trials=2, seed=1, in_process=True)
    assert report["differed"] == 0, report["events"]
    assert report["kills"] >= 1, report["events"]


@pytest.mark.slow
def test_twenty_five_kill_resume_trials(tmp_path, digit_cache_env):
    report = kill_resume_trials(tmp_path, trials=25, seed=2026, in_process=False)
    print("kill/resume trials:", {key: value for key, value in report.items() if key != "events"})  # -s shows it
    assert report["differed"] == 0, report["events"]
    assert report["mid_write_kills"] >= 5, report["events"]


def rollbacks_of(run: Path) -> list[dict]:
    return [r for r in metrics_without_timing(run) if r.get("action") == "rollback"]


def test_killed_and_resumed_runs_that_roll_back_end_exactly_like_an_uninterrupted_one(tmp_path, digit_cache_env):
    report = kill_resume_trials(tmp_path, trials=2, seed=3, in_process=True, train=ROLLBACK_TRAIN)
    assert [r["rollback"] for r in rollbacks_of(tmp_path / "reference" / "run")] == [1, 2]
    assert report["differed"] == 0, report["events"]
    assert report["kills"] >= 1, report["events"]


@pytest.mark.slow
def test_twenty_kill_resume_trials_of_a_run_that_rolls_back(tmp_path, digit_cache_env):
    report = kill_resume_trials(tmp_path, trials=20, seed=2027, in_process=False, train=ROLLBACK_TRAIN)
    print("kill/resume trials with rollbacks:", {key: value for key, value in report.items() if key != "events"})
    assert [r["rollback"] for r in rollbacks_of(tmp_path / "reference" / "run")] == [1, 2]
    assert report["differed"] == 0, report["events"]
    assert report["mid_write_kills"] >= 5, report["events"]


def test_killed_and_resumed_runs_with_lazy_phases_end_exactly_like_an_uninterrupted_one(tmp_path, digit_cache_env):
    report = kill_resume_trials(tmp_path, trials=2, seed=5, in_process=True, train=LAZY_TRAIN)
    records = metrics_without_timing(tmp_path / "reference" / "run")
    assert sum("d_reg_r1" in r for r in records) == 4 and sum("g_reg_path_length" in r for r in records) == 6
    assert report["differed"] == 0, report["events"]
    assert report["kills"] >= 1, report["events"]


@pytest.mark.parametrize("train,seed", [(TWO_PAIRS_TRAIN, 6), (PAIRED_TRAIN, 8)],
                         ids=["two-generators-two-discriminators", "image-to-image"])
def test_killed_and_resumed_runs_of_the_image_to_image_steps_end_exactly(tmp_path, train, seed):
    report = kill_resume_trials(tmp_path, trials=2, seed=seed, in_process=True, train=train)
    assert report["differed"] == 0, report["events"]
    assert report["kills"] >= 1, report["events"]


@pytest.mark.slow
@pytest.mark.parametrize("train,seed", [(LAZY_TRAIN, 2028), (TWO_PAIRS_TRAIN, 2029), (PAIRED_TRAIN, 2030)],
                         ids=["lazy-phases", "two-generators-two-discriminators", "image-to-image"])
def test_twenty_kill_resume_trials_of_the_plugin_steps(tmp_path, digit_cache_env, train, seed):
    report = kill_resume_trials(tmp_path, trials=20, seed=seed, in_process=False, train=train)
    print(f"kill/resume trials of {train[3]}:", {k: v for k, v in report.items() if k != "events"})
    assert report["differed"] == 0, report["events"]
    assert report["mid_write_kills"] >= 5, report["events"]
