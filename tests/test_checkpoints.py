"""Checkpoint files: atomic writes, checksums, fallback to periodic checkpoints, keep-K, metrics."""

import errno
import hashlib
import json
import os

import pytest
import torch

from ganforge.errors import GanforgeError
from ganforge.files import atomic_write, atomic_write_text, remove_temp_files
from ganforge.training.loop.checkpoint import (
    CorruptCheckpoint,
    checksum_path,
    find_checkpoint,
    periodic_checkpoints,
    save_checkpoint,
    verify_checkpoint,
)
from ganforge.training.hooks.metrics import MetricsLog, read_metrics, truncate_metrics


def fake_state(step):
    g = torch.nn.Linear(3, 2)
    return {"step": step, "generator": g.state_dict(), "discriminator": g.state_dict(),
            "g_optimizer": {"state": {}, "param_groups": []}, "d_optimizer": {"state": {}, "param_groups": []},
            "rng": {"torch": torch.get_rng_state()}}


def save_steps(run_dir, steps, keep=None):
    for step in steps:
        save_checkpoint(run_dir, fake_state(step), step, keep_periodic=True, keep=keep)


def test_checkpoint_has_a_sha256sum_compatible_checksum(tmp_path):
    save_steps(tmp_path, [4])
    ckpt = tmp_path / "checkpoints"
    for name in ("latest.pt", "step-000004.pt"):
        digest = hashlib.sha256((ckpt / name).read_bytes()).hexdigest()
        assert (ckpt / f"{name}.sha256").read_text() == f"{digest}  {name}\n"
    assert verify_checkpoint(ckpt / "latest.pt")["step"] == 4
    assert not list(ckpt.glob(".*"))  # no temporary files left


@pytest.mark.parametrize("damage", ["truncate", "flip", "empty"])
def test_damaged_latest_falls_back_to_the_newest_intact_periodic(tmp_path, damage):
    save_steps(tmp_path, [2, 4, 6])
    ckpt = tmp_path / "checkpoints"
    data = (ckpt / "latest.pt").read_bytes()
    damaged = {"truncate": data[: len(data) // 2], "empty": b"",
               "flip": data[:100] + bytes([data[100] ^ 1]) + data[101:]}[damage]
    (ckpt / "latest.pt").write_bytes(damaged)
    (ckpt / "step-000006.pt").write_bytes(data[:10])  # the newest periodic one is damaged too
    with pytest.raises(CorruptCheckpoint, match="checksum mismatch"):
        verify_checkpoint(ckpt / "latest.pt")
    warnings = []
    found = find_checkpoint(tmp_path, warn=warnings.append)
    assert found.path.name == "step-000004.pt" and found.state["step"] == 4
    assert len(warnings) == 1
    assert "latest.pt is unusable: checksum mismatch" in warnings[0] and "step-000004.pt (step 4)" in warnings[0]


def test_no_intact_checkpoint_is_one_line_error(tmp_path):
    save_steps(tmp_path, [2, 4])
    for p in (tmp_path / "checkpoints").glob("*.pt"):
        p.write_bytes(p.read_bytes()[:-1])
    with pytest.raises(GanforgeError, match="no intact checkpoint") as info:
        find_checkpoint(tmp_path, warn=lambda m: None)
    assert "\n" not in str(info.value)
    assert "latest.pt: checksum mismatch" in str(info.value) and "step-000002.pt" in str(info.value)


def test_a_checkpoint_without_checksum_file_is_still_verified_by_loading(tmp_path):
    save_steps(tmp_path, [2])
    latest = tmp_path / "checkpoints" / "latest.pt"
    checksum_path(latest).unlink()
    assert verify_checkpoint(latest)["step"] == 2
    latest.write_bytes(latest.read_bytes()[:200])
    with pytest.raises(CorruptCheckpoint, match="not a loadable checkpoint"):
        verify_checkpoint(latest)
    torch.save({"step": 1}, latest)
    with pytest.raises(CorruptCheckpoint, match="not a ganforge checkpoint"):
        verify_checkpoint(latest)


def test_keep_the_last_k_periodic_checkpoints(tmp_path):
    save_steps(tmp_path, range(1, 8), keep=3)
    ckpt = tmp_path / "checkpoints"
    assert [p.name for p in periodic_checkpoints(ckpt)] == ["step-000007.pt", "step-000006.pt", "step-000005.pt"]
    assert sorted(p.name for p in ckpt.glob("*.sha256")) == [
        "latest.pt.sha256", "step-000005.pt.sha256", "step-000006.pt.sha256", "step-000007.pt.sha256"]
    (tmp_path / "all").mkdir()
    save_steps(tmp_path / "all", range(1, 6), keep=0)
    assert len(periodic_checkpoints(tmp_path / "all" / "checkpoints")) == 5


def test_atomic_write_fsyncs_file_and_directory_and_cleans_up(tmp_path, monkeypatch):
    synced = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: synced.append(os.readlink(f"/proc/self/fd/{fd}")) or real_fsync(fd))
    target = tmp_path / "out.txt"
    atomic_write_text(target, "one")
    assert target.read_text() == "one"
    assert any(".out.txt." in s for s in synced) and str(tmp_path) in synced

    def fail(tmp):
        tmp.write_text("half")
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        atomic_write(target, fail)
    assert target.read_text() == "one" and sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]


def test_write_errors_become_one_line_errors_naming_the_file(tmp_path):
    def full(tmp):
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(GanforgeError, match=r"cannot write .*x\.bin: the disk is full.*\(ENOSPC\)"):
        atomic_write(tmp_path / "x.bin", full)
    with pytest.raises(GanforgeError, match=r"does not exist.*ENOENT"):
        atomic_write_text(tmp_path / "gone" / "deeper" / "x.txt", "x")  # parents are not recreated
    (tmp_path / "file").write_text("")
    with pytest.raises(GanforgeError, match="a file is in the way"):
        atomic_write_text(tmp_path / "file" / "x.txt", "x")
    with pytest.raises(RuntimeError):  # not an output problem: not disguised as one
        atomic_write(tmp_path / "y.bin", lambda tmp: (_ for _ in ()).throw(RuntimeError("bug")))


def test_remove_temp_files(tmp_path):
    (tmp_path / ".latest.pt.abc.tmp").write_bytes(b"x")
    (tmp_path / "latest.pt").write_bytes(b"x")
    assert remove_temp_files(tmp_path) == 1 and [p.name for p in tmp_path.iterdir()] == ["latest.pt"]


def test_truncate_metrics_drops_steps_after_the_checkpoint_and_torn_lines(tmp_path):
    path = tmp_path / "metrics.jsonl"
    log = MetricsLog(path)
    for step in range(1, 8):
        log.write({"step": step, "d_loss": 0.5})
    with path.open("a") as f:
        f.write('{"step": 8, "d_lo')  # killed in the middle of a line
    assert truncate_metrics(path, 5) == 3
    assert [r["step"] for r in read_metrics(path)] == [1, 2, 3, 4, 5]
    assert path.read_text().endswith("}\n")
    before = path.stat().st_mtime_ns
    assert truncate_metrics(path, 5) == 0 and path.stat().st_mtime_ns == before
    log.write({"step": 6})
    assert [json.loads(line)["step"] for line in path.read_text().splitlines()] == [1, 2, 3, 4, 5, 6]


def test_metrics_log_reports_a_vanished_directory(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    log = MetricsLog(run / "metrics.jsonl")
    log.write({"step": 1})
    (run / "metrics.jsonl").unlink()
    run.rmdir()
    with pytest.raises(GanforgeError, match=r"metrics\.jsonl: the directory does not exist"):
        log.write({"step": 2})
