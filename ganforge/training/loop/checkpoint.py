"""Checkpoints: every network and its optimizer (by name), the step, every RNG state and the config.

Each checkpoint ``X.pt`` is written atomically (temporary file, fsync, rename, fsync of the
directory) and followed by ``X.pt.sha256`` (``sha256sum`` format, also atomic). Loading checks
the checksum before ``torch.load`` sees a byte, then loads with ``weights_only=True``. When
``latest.pt`` is damaged, the newest intact periodic checkpoint ``step-NNNNNN.pt`` is used
instead, with a warning that says which.
"""

from __future__ import annotations

import shutil
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping, Optional

import torch

from ...errors import GanforgeError
from ...files import atomic_write, atomic_write_text, checksum_path, remove_temp_files, sha256_file, writing
from .rundir import (CHECKPOINTS_DIR, LATEST_CHECKPOINT, is_periodic_checkpoint, periodic_checkpoint_name,
                     periodic_checkpoint_step)

DEFAULT_KEEP = 3
REQUIRED_KEYS = ("step", "networks", "optimizers")
#: Keys of a checkpoint written before named networks (ganforge 0.1) -> (new key, network name).
LEGACY_KEYS = {"generator": ("networks", "G"), "discriminator": ("networks", "D"),
               "g_optimizer": ("optimizers", "G"), "d_optimizer": ("optimizers", "D")}
LEGACY_SCALERS = {"g_scaler": "G", "d_scaler": "D"}  # the alternating step's phases are named after the networks


class CorruptCheckpoint(Exception):
    """A checkpoint file that cannot be trusted; the message says why."""


def _write_checksum(path: Path, digest: str) -> None:
    atomic_write_text(checksum_path(path), f"{digest}  {path.name}\n")


def save_checkpoint(run_dir: Path, state: dict, step: int, keep_periodic: bool,
                    keep: Optional[int] = DEFAULT_KEEP) -> Path:
    """Write ``latest.pt`` (and, with ``keep_periodic``, ``step-NNNNNN.pt``), each with its checksum.

    ``keep``: how many periodic checkpoints to keep, newest first (None or 0: all of them).
    """
    latest = run_dir / CHECKPOINTS_DIR / LATEST_CHECKPOINT
    digest = write_checkpoint(latest, state)
    if keep_periodic:
        periodic = latest.with_name(periodic_checkpoint_name(step))
        atomic_write(periodic, lambda tmp: shutil.copyfile(latest, tmp))
        _write_checksum(periodic, digest)
        prune_periodic(latest.parent, keep)
    return latest


def write_checkpoint(path: Path, state: dict) -> str:
    """Write one checkpoint file atomically, then its checksum; returns the sha256."""
    digest = ""

    def write(tmp: Path) -> None:
        nonlocal digest
        torch.save(state, tmp)
        digest = sha256_file(tmp)

    atomic_write(path, write)
    _write_checksum(path, digest)
    return digest


def periodic_checkpoints(directory: Path) -> list[Path]:
    """``step-NNNNNN.pt`` files in ``directory``, newest (highest step) first."""
    if not directory.is_dir():
        return []
    found = [p for p in directory.iterdir() if is_periodic_checkpoint(p)]
    return sorted(found, key=periodic_checkpoint_step, reverse=True)


def prune_periodic(directory: Path, keep: Optional[int]) -> list[Path]:
    """Delete all but the newest ``keep`` periodic checkpoints (and their checksums)."""
    if not keep:
        return []
    old = periodic_checkpoints(directory)[keep:]
    for path in old:
        with writing(path):
            path.unlink(missing_ok=True)
            checksum_path(path).unlink(missing_ok=True)
    return old


def verify_checkpoint(path: Path) -> dict:
    """Load one checkpoint file, or raise CorruptCheckpoint saying what is wrong with it."""
    if not path.is_file():
        raise CorruptCheckpoint("missing")
    sidecar = checksum_path(path)
    if sidecar.is_file():
        try:
            expected = sidecar.read_text(encoding="utf-8").split()[0].lower()
        except (OSError, UnicodeDecodeError, IndexError):
            raise CorruptCheckpoint(f"its checksum file {sidecar.name} is unreadable") from None
        if sha256_file(path) != expected:
            raise CorruptCheckpoint(f"checksum mismatch (truncated or damaged; {path.stat().st_size} bytes)")
    # Without a checksum file (older runs, or a crash between the two renames) torch.load is the
    # only check left; weights_only keeps it from running any code the file might carry.
    try:
        with warnings.catch_warnings():  # e.g. torch's note on a foreign pickle protocol
            warnings.simplefilter("ignore")
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any failure means the file cannot be used
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CorruptCheckpoint(f"not a loadable checkpoint ({type(exc).__name__}: {reason[:200]})") from None
    if isinstance(state, dict):
        state = migrated(state)
    if not isinstance(state, dict) or any(k not in state for k in REQUIRED_KEYS):
        raise CorruptCheckpoint("not a ganforge checkpoint (missing networks, optimizers or step)")
    return state


def migrated(state: dict) -> dict:
    """A checkpoint of ganforge 0.1 (``generator``, ``discriminator``, ``g_optimizer``, ``d_optimizer``,
    the update's ``g_scaler``/``d_scaler``) in today's layout: networks and optimizers by name (G, D),
    gradient scalers by phase; a current checkpoint unchanged."""
    if "networks" in state or not all(key in state for key in LEGACY_KEYS):
        return state
    state = dict(state)
    for old, (new, name) in LEGACY_KEYS.items():
        state.setdefault(new, {})[name] = state.pop(old)
    update = dict(state.get("update") or {})
    state["update"] = {**{k: v for k, v in update.items() if k not in LEGACY_SCALERS},
                       "scalers": {name: update[old] for old, name in LEGACY_SCALERS.items() if update.get(old)}}
    return state


def check_networks(state: dict, networks: Mapping[str, object], where: object) -> None:
    """One line when a checkpoint does not hold the run's networks (e.g. another step's run)."""
    for key in ("networks", "optimizers"):
        held = set(state.get(key, {}))
        if held != set(networks):
            raise GanforgeError(f"{where}: the checkpoint holds the {key} {', '.join(sorted(held)) or 'none'}, but this "
                                f"run trains {', '.join(networks)}")


def _stderr_warning(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr, flush=True)


@dataclass
class LoadedCheckpoint:
    state: dict
    path: Path


def load_checkpoint(run_dir: Path, warn: Callable[[str], None] = _stderr_warning) -> dict:
    """The state of the newest intact checkpoint of ``run_dir`` (see ``find_checkpoint``)."""
    return find_checkpoint(run_dir, warn).state


def find_checkpoint(run_dir: Path, warn: Callable[[str], None] = _stderr_warning) -> LoadedCheckpoint:
    """``latest.pt`` if intact, else the newest intact ``step-NNNNNN.pt`` (with a warning naming
    it); a GanforgeError when no checkpoint can be used. Leftover temporary files of an
    interrupted write are removed."""
    directory = run_dir / CHECKPOINTS_DIR
    remove_temp_files(directory)
    latest = directory / LATEST_CHECKPOINT
    problems: list[tuple[str, str]] = []
    for path in [latest, *periodic_checkpoints(directory)]:
        try:
            state = verify_checkpoint(path)
        except CorruptCheckpoint as exc:
            problems.append((path.name, str(exc)))
            continue
        if path != latest:
            warn(f"{CHECKPOINTS_DIR}/{LATEST_CHECKPOINT} is {_reason(problems[0][1])}; resuming from "
                 f"{CHECKPOINTS_DIR}/{path.name} (step {int(state['step'])}) instead")
        return LoadedCheckpoint(state, path)
    detail = "; ".join(f"{name}: {reason}" for name, reason in problems if reason != "missing")
    raise GanforgeError(f"{directory}: no intact checkpoint to resume from ({detail or 'none found'})")


def checkpoint_at_or_before(run_dir: Path, step: int) -> Optional[LoadedCheckpoint]:
    """The newest intact checkpoint of ``run_dir`` taken at or before ``step`` (a rollback's
    target; ``latest.pt`` first, as it may be newer than any periodic one), or None."""
    directory = run_dir / CHECKPOINTS_DIR
    latest = directory / LATEST_CHECKPOINT
    periodic = [p for p in periodic_checkpoints(directory) if periodic_checkpoint_step(p) <= step]
    for path in [latest, *periodic]:
        try:
            state = verify_checkpoint(path)
        except CorruptCheckpoint:
            continue
        if int(state["step"]) <= step:
            return LoadedCheckpoint(state, path)
    return None


def _reason(problem: str) -> str:
    return "missing" if problem == "missing" else f"unusable: {problem}"


def rng_state(device: torch.device) -> dict:
    state = {"torch": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def set_rng_state(state: dict, device: torch.device) -> None:
    torch.set_rng_state(state["torch"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)


def untouched_rng(device: torch.device):
    """A context in which random draws leave the training RNG streams (CPU, and the device's on
    CUDA) as they were: evaluations and health checks inside it keep resume exact."""
    devices = [device] if device.type == "cuda" else []
    return torch.random.fork_rng(devices=devices)
