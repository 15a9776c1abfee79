"""The Python run API: what the README shows, and what a failing run leaves behind."""

import json

import pytest

import ganforge
from ganforge.errors import GanforgeError

TINY = dict(steps=2, batch_size=8, device="cpu", arch_options={"ngf": 4, "ndf": 4}, progress=False)


def test_train_then_resume_returns_the_run_directory(tmp_path):
    run_dir = ganforge.train("dcgan", runs_dir=str(tmp_path), seed=3, **TINY)
    assert run_dir.parent == tmp_path and (run_dir / "generator.safetensors").is_file()
    assert json.loads((run_dir / "config.json").read_text())["seed"] == 3
    assert ganforge.resume(run_dir, steps=3, progress=False) == run_dir
    steps = [json.loads(line)["step"] for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert steps[-1] == 3


def test_flat_optimizer_keys_and_nested_values_work_from_python(tmp_path):
    run_dir = ganforge.train("dcgan", runs_dir=str(tmp_path), g_lr=1e-3, d_optim={"name": "adamw"}, **TINY)
    config = json.loads((run_dir / "config.json").read_text())
    assert config["g_optim"]["lr"] == 1e-3 and config["d_optim"]["name"] == "adamw"


def test_a_mistake_raises_before_anything_is_written(tmp_path):
    with pytest.raises(GanforgeError, match="must be a whole number"):
        ganforge.train("dcgan", runs_dir=str(tmp_path), **{**TINY, "batch_size": "many"})
    assert not any(tmp_path.iterdir())


def test_resume_refuses_options_that_define_the_run(tmp_path):
    run_dir = ganforge.train("dcgan", runs_dir=str(tmp_path), **TINY)
    with pytest.raises(GanforgeError, match="--batch-size cannot change"):
        ganforge.resume(run_dir, batch_size=4)


def test_a_failure_before_the_first_checkpoint_removes_the_run_directory(tmp_path, monkeypatch):
    from ganforge.losses.builtin import NonSaturating

    def broken(self, batch):
        raise RuntimeError("boom")

    monkeypatch.setattr(NonSaturating, "generator_loss", broken)
    with pytest.raises(RuntimeError, match="boom"):
        ganforge.train("dcgan", runs_dir=str(tmp_path), **TINY)
    assert not any(tmp_path.iterdir())


def test_ctrl_c_saves_a_checkpoint_and_says_how_to_resume(tmp_path, monkeypatch):
    from ganforge.api import RunInterrupted
    from ganforge.training.step import UpdateStep

    original = UpdateStep.__call__

    def interrupt_at_third(self, batches, step):
        if step == 2:
            raise KeyboardInterrupt
        return original(self, batches, step)

    monkeypatch.setattr(UpdateStep, "__call__", interrupt_at_third)
    with pytest.raises(RunInterrupted) as caught:
        ganforge.train("dcgan", runs_dir=str(tmp_path), log_every=1, **{**TINY, "steps": 5})
    assert caught.value.step == 2 and "ganforge train --resume" in str(caught.value)
    monkeypatch.setattr(UpdateStep, "__call__", original)
    ganforge.resume(caught.value.run_dir, progress=False)
    steps = [json.loads(line)["step"] for line in (caught.value.run_dir / "metrics.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3, 4, 5]
