"""Ctrl-C and SIGTERM: the first finishes the step, checkpoints and exits 130/143 with the resume
command; a second stops at once and leaves every checkpoint intact."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from typer.testing import CliRunner

from ganforge.cli.app import app
from ganforge.training.loop import checkpoint as checkpoint_module
from ganforge.training.loop.checkpoint import find_checkpoint
from ganforge.training.loop.interrupts import StopOnSignal
from ganforge.training.loop.driver import RunDriver

TINY = ["-O", "ngf=4", "-O", "ndf=4", "--batch-size", "8", "--log-every", "1", "--sample-every", "100",
        "--device", "cpu", "--name", "run"]


def test_first_signal_sets_the_flag_second_raises_and_handlers_come_back():
    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    with StopOnSignal() as stop:
        assert not stop() and stop.exit_code == 0
        os.kill(os.getpid(), signal.SIGTERM)
        assert stop() and stop.exit_code == 143 and stop.name == "SIGTERM"
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before
    with StopOnSignal() as stop:
        os.kill(os.getpid(), signal.SIGINT)
        assert stop.exit_code == 130


def signal_at_step(monkeypatch, step, signum):
    update = RunDriver._update

    def iterate(self):
        values = update(self)
        if self.step + 1 == step:  # the step just computed; the driver counts it next
            os.kill(os.getpid(), signum)
        return values

    monkeypatch.setattr(RunDriver, "_update", iterate)


def steps_logged(run):
    return [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("signum,code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_first_signal_checkpoints_the_step_and_prints_the_resume_command(tmp_path, monkeypatch, signum, code):
    signal_at_step(monkeypatch, 3, signum)
    result = CliRunner().invoke(app, ["train", "dcgan", *TINY, "--steps", "50", "--checkpoint-every", "2",
                                      "--runs-dir", str(tmp_path)])
    run = tmp_path / "run"
    assert result.exit_code == code, result.output
    assert result.stderr.strip().splitlines()[-1] == (
        f"interrupted at step 3; checkpoint saved. Continue with: ganforge train --resume {run}")
    assert find_checkpoint(run, warn=pytest.fail).state["step"] == 3
    assert steps_logged(run) == [1, 2, 3]
    monkeypatch.undo()
    resumed = CliRunner().invoke(app, ["train", "--resume", str(run), "--steps", "5"])
    assert resumed.exit_code == 0, resumed.output
    assert steps_logged(run) == [1, 2, 3, 4, 5]


def test_second_signal_in_the_middle_of_the_checkpoint_write_stops_at_once_intact(tmp_path, monkeypatch):
    signal_at_step(monkeypatch, 3, signal.SIGINT)
    real_save = torch.save

    def save_then_interrupt(state, path, *args, **kwargs):
        real_save(state, path, *args, **kwargs)
        if state["step"] == 3:  # the stop's checkpoint: its temporary file is written, not yet renamed
            os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(checkpoint_module.torch, "save", save_then_interrupt)
    result = CliRunner().invoke(app, ["train", "dcgan", *TINY, "--steps", "50", "--checkpoint-every", "2",
                                      "--runs-dir", str(tmp_path)])
    run = tmp_path / "run"
    assert result.exit_code == 130, result.output
    assert "stopped at once at step 3; the last checkpoint is intact. Continue with: ganforge train --resume" \
        in result.stderr and "Traceback" not in result.output
    assert not [p.name for p in (run / "checkpoints").iterdir() if p.name.endswith(".tmp")]
    assert find_checkpoint(run, warn=pytest.fail).state["step"] == 2  # latest.pt still the step-2 one
    monkeypatch.undo()
    resumed = CliRunner().invoke(app, ["train", "--resume", str(run), "--steps", "4"])
    assert resumed.exit_code == 0, resumed.output
    assert steps_logged(run) == [1, 2, 3, 4]


def test_sigterm_to_a_training_process(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "ganforge", "train", "dcgan", *TINY, "--steps", "100000",
                             "--checkpoint-every", "100000", "--runs-dir", str(tmp_path)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    metrics = tmp_path / "run" / "metrics.jsonl"
    deadline = time.monotonic() + 240
    while not (metrics.exists() and metrics.stat().st_size) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err
    step = find_checkpoint(tmp_path / "run", warn=pytest.fail).state["step"]
    assert err.strip().splitlines()[-1] == (f"interrupted at step {step}; checkpoint saved. Continue with: "
                                            f"ganforge train --resume {tmp_path / 'run'}")
    assert steps_logged(tmp_path / "run")[-1] == step and 0 < step < 100000
