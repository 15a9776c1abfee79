"""The Python run API: what the README shows, and what a failing run leaves behind."""

import json

import pytest
import torch

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


def test_a_conditional_run_saved_before_projection_existed_resumes_with_the_input_plane(tmp_path):
    from ganforge.training.loop.checkpoint import verify_checkpoint

    run_dir = ganforge.train("cgan", runs_dir=str(tmp_path), **{**TINY, "arch_options": {**TINY["arch_options"],
                                                                                          "conditioning": "plane"}})
    config = json.loads((run_dir / "config.json").read_text())
    del config["arch_options"]["conditioning"]  # as written before the option existed
    (run_dir / "config.json").write_text(json.dumps(config))
    ganforge.resume(run_dir, steps=3, progress=False)
    assert json.loads((run_dir / "config.json").read_text())["arch_options"]["conditioning"] == "plane"
    assert any("label_plane" in key for key in verify_checkpoint(run_dir / "checkpoints" / "latest.pt")["networks"]["D"])


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


def test_the_first_ctrl_c_finishes_the_step_and_saves_a_checkpoint(tmp_path, monkeypatch):
    import os
    import signal

    from ganforge.api import RunInterrupted
    from ganforge.training.step.engine import UpdateStep

    original = UpdateStep.__call__

    def signal_during_third(self, batches, step):
        if step == 2:
            os.kill(os.getpid(), signal.SIGINT)  # the handler only sets a flag; this step completes
        return original(self, batches, step)

    monkeypatch.setattr(UpdateStep, "__call__", signal_during_third)
    with pytest.raises(RunInterrupted) as caught:
        ganforge.train("dcgan", runs_dir=str(tmp_path), log_every=1, **{**TINY, "steps": 5})
    assert caught.value.saved and caught.value.step == 3 and caught.value.exit_code == 130
    assert "ganforge train --resume" in str(caught.value)
    monkeypatch.setattr(UpdateStep, "__call__", original)
    ganforge.resume(caught.value.run_dir, progress=False)
    steps = [json.loads(line)["step"] for line in (caught.value.run_dir / "metrics.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3, 4, 5]


def test_a_second_interrupt_stops_at_once_and_keeps_the_last_checkpoint(tmp_path, monkeypatch):
    from ganforge.api import RunInterrupted
    from ganforge.training.step.engine import UpdateStep

    original = UpdateStep.__call__

    def stop_at_once_at_fifth(self, batches, step):
        if step == 4:
            raise KeyboardInterrupt  # what the handler raises on a second signal
        return original(self, batches, step)

    monkeypatch.setattr(UpdateStep, "__call__", stop_at_once_at_fifth)
    with pytest.raises(RunInterrupted) as caught:
        ganforge.train("dcgan", runs_dir=str(tmp_path), checkpoint_every=2, **{**TINY, "steps": 6})
    assert not caught.value.saved and "the last checkpoint is intact" in str(caught.value)
    state = torch.load(caught.value.run_dir / "checkpoints" / "latest.pt", weights_only=True)
    assert state["step"] == 4


FAILING_LOSS = """
import torch.nn.functional as F
from ganforge.interfaces import Loss


class FailsAtFourth(Loss):
    def discriminator_loss(self, batch):
        return F.softplus(-batch.real_logits).mean() + F.softplus(batch.fake_logits).mean()

    def generator_loss(self, batch):
        if batch.step == 3:
            raise ValueError("shapes disagree")
        return F.softplus(-batch.fake_logits).mean()
"""


def test_a_plugin_failing_during_training_is_named_with_the_step(tmp_path, make_distribution):
    from ganforge.training.loop.failures import PluginRuntimeError

    make_distribution("flaky-losses", {"ganforge.losses": {"flaky": "flaky_losses:FailsAtFourth"}},
                      {"flaky_losses": FAILING_LOSS}, version="0.3")
    runs = tmp_path / "runs"
    with pytest.raises(PluginRuntimeError) as caught:
        ganforge.train("dcgan", loss="flaky", runs_dir=str(runs), checkpoint_every=2, **{**TINY, "steps": 6})
    assert str(caught.value).startswith("loss plugin 'flaky' from flaky-losses 0.3 raised ValueError at step 4: "
                                        "shapes disagree")
    run_dir, = runs.iterdir()  # a checkpoint exists, so the run is kept
    assert (run_dir / "checkpoints" / "latest.pt").is_file()


def test_running_out_of_memory_names_the_options_to_lower(tmp_path, monkeypatch):
    from ganforge.training.loop.failures import OutOfMemory
    from ganforge.training.step.engine import UpdateStep

    def too_big(self, batches, step):
        raise RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 40960000000000 bytes")

    monkeypatch.setattr(UpdateStep, "__call__", too_big)
    with pytest.raises(OutOfMemory, match="lower --batch-size or --image-size"):
        ganforge.train("dcgan", runs_dir=str(tmp_path), **TINY)
