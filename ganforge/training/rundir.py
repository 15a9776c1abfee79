"""Run directories: one per run, never overwritten; files written atomically."""

from __future__ import annotations

import time
from pathlib import Path

from ..errors import GanforgeError

CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.jsonl"
LOSS_PLOT = "losses.png"
SAMPLES_DIR = "samples"
CHECKPOINTS_DIR = "checkpoints"
LATEST_CHECKPOINT = "latest.pt"


def create_run_dir(runs_dir: str, name: str) -> Path:
    """A new directory ``runs_dir/name`` (``name-2``, ``-3``... if taken)."""
    root = Path(runs_dir)
    root.mkdir(parents=True, exist_ok=True)
    for attempt in range(1, 1000):
        candidate = root / (name if attempt == 1 else f"{name}-{attempt}")
        try:
            candidate.mkdir()
            return candidate
        except FileExistsError:
            continue
    raise GanforgeError(f"could not find a free run directory name for {name} in {root}")


def default_run_name(arch: str) -> str:
    # A qualified plugin name (DIST:NAME) has a colon, which not every file system allows.
    return f"{arch.replace(':', '-')}-{time.strftime('%Y%m%d-%H%M%S')}"


def check_run_dir(path: Path) -> Path:
    """Raise unless ``path`` is a ganforge run directory with a checkpoint to resume from."""
    if not path.is_dir():
        raise GanforgeError(f"--resume {path}: no such directory")
    if not (path / CONFIG_FILE).is_file() or not (path / CHECKPOINTS_DIR / LATEST_CHECKPOINT).is_file():
        raise GanforgeError(
            f"--resume {path}: not a ganforge run directory (needs {CONFIG_FILE} and "
            f"{CHECKPOINTS_DIR}/{LATEST_CHECKPOINT})"
        )
    return path
