"""Run directories: one per run, never overwritten; files written atomically."""

from __future__ import annotations

import time
from pathlib import Path

from ...errors import GanforgeError
from ...files import atomic_write_text, output_error, remove_temp_files, writing

CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.jsonl"
LOSS_PLOT = "losses.png"
SAMPLES_DIR = "samples"
CHECKPOINTS_DIR = "checkpoints"
LATEST_CHECKPOINT = "latest.pt"
BEST_CHECKPOINT = "best.pt"  # with --eval-every: the checkpoint of the best evaluation so far
BEST_GENERATOR_FILE = "generator-best.safetensors"
EVALUATION_PLOT = "evaluation.png"
TENSORBOARD_DIR = "tensorboard"


def best_generator(run_dir: Path) -> Path:
    """``run_dir``'s generator-best.safetensors, or a one-line error saying why there is none."""
    if not run_dir.is_dir():
        raise GanforgeError(f"--best needs a run directory, got '{run_dir}'")
    path = run_dir / BEST_GENERATOR_FILE
    if not path.is_file():
        raise GanforgeError(f"{run_dir} has no {BEST_GENERATOR_FILE} (it is kept by runs trained with --eval-every)")
    return path


def create_run_dir(runs_dir: str, name: str) -> Path:
    """A new directory ``runs_dir/name`` (``name-2``, ``-3``... if taken)."""
    root = Path(runs_dir)
    if not name or "/" in name or name in {".", ".."} or "\0" in name:
        raise GanforgeError(f"--name must be a plain directory name, got {name!r}")
    with writing(root):
        root.mkdir(parents=True, exist_ok=True)
    for attempt in range(1, 1000):
        candidate = root / (name if attempt == 1 else f"{name}-{attempt}")
        try:
            candidate.mkdir()
            return candidate
        except FileExistsError:
            continue
        except OSError as exc:
            raise output_error(candidate, exc) from exc
    raise GanforgeError(f"could not find a free run directory name for {name} in {root}")


def default_run_name(arch: str) -> str:
    # A qualified plugin name (DIST:NAME) has a colon, which not every file system allows.
    return f"{arch.replace(':', '-')}-{time.strftime('%Y%m%d-%H%M%S')}"


def check_run_dir(path: Path) -> Path:
    """Raise unless ``path`` is a ganforge run directory with a checkpoint to resume from."""
    if not path.is_dir():
        raise GanforgeError(f"--resume {path}: no such directory")
    checkpoints = path / CHECKPOINTS_DIR
    has_checkpoint = checkpoints.is_dir() and any(
        p.name == LATEST_CHECKPOINT or is_periodic_checkpoint(p) for p in checkpoints.iterdir())
    if not (path / CONFIG_FILE).is_file() or not has_checkpoint:
        raise GanforgeError(
            f"--resume {path}: not a ganforge run directory (needs {CONFIG_FILE} and "
            f"{CHECKPOINTS_DIR}/{LATEST_CHECKPOINT})"
        )
    return path


def periodic_checkpoint_name(step: int) -> str:
    return f"step-{step:06d}.pt"


def is_periodic_checkpoint(path: Path) -> bool:
    stem = path.name[len("step-"):-len(".pt")]
    return path.name.startswith("step-") and path.name.endswith(".pt") and stem.isdigit()


def periodic_checkpoint_step(path: Path) -> int:
    """The step in a periodic checkpoint's name (``step-NNNNNN.pt``)."""
    return int(path.name[len("step-"):-len(".pt")])


def write_config(run_dir: Path, config_json: str) -> None:
    """``config.json``, written atomically (a crash leaves the old one or the new one)."""
    atomic_write_text(run_dir / CONFIG_FILE, config_json + "\n")


def remove_interrupted_writes(run_dir: Path) -> int:
    """Delete the temporary files of writes a killed run left behind; returns how many."""
    return sum(remove_temp_files(d) for d in (run_dir, run_dir / CHECKPOINTS_DIR, run_dir / SAMPLES_DIR))
