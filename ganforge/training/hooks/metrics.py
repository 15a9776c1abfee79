"""The metrics log (one JSON object per logged step) and the loss plot drawn from it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable, Optional

from ...files import atomic_write, atomic_write_text, writing


class MetricsLog:
    """Appends one JSON line per record. The file is opened for each record, so a run directory
    that vanished or a full disk is reported at the next record (as a GanforgeError naming the
    file) instead of writing into a deleted file."""

    def __init__(self, path: Path):
        self.path = path
        with writing(path):
            path.open("a", encoding="utf-8").close()

    def write(self, record: dict) -> None:
        with writing(self.path):
            with self.path.open("a", encoding="utf-8") as f:
                f.write(json.dumps(record) + "\n")

    def close(self) -> None:
        pass


def read_metrics(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    return [r for r in map(_parse_line, lines) if r is not None]


def truncate_metrics(path: Path, step: int, also_drop: Optional[Callable[[dict], bool]] = None) -> int:
    """Drop records logged after ``step`` (and lines cut short by a crash, and those
    ``also_drop`` picks), so a run resumed or rolled back to a checkpoint at ``step`` does not
    log steps step+1... twice. Returns how many records were dropped. The file is rewritten
    atomically, and only when something must go."""
    if not path.is_file():
        return 0
    text = path.read_text(encoding="utf-8", errors="replace")
    lines = [line for line in text.splitlines() if line.strip()]
    kept = [line for line, record in zip(lines, map(_parse_line, lines))
            if record is not None and isinstance(record.get("step"), int) and record["step"] <= step
            and not (also_drop and also_drop(record))]
    if len(kept) == len(lines) and (not text or text.endswith("\n")):
        return 0
    atomic_write_text(path, "".join(line + "\n" for line in kept))
    return len(lines) - len(kept)


def _parse_line(line: str):
    try:
        record = json.loads(line)
    except ValueError:
        return None
    return record if isinstance(record, dict) else None


#: Record keys that are not curves of the loss plot.
NOT_PLOTTED = {"step", "epoch", "img_per_s", "d_loss", "g_loss"}


def plot_losses(records: list[dict], out: Path) -> Path | None:
    """D and G losses (top) and, below, whatever else the loss reports (D's accuracy for the
    logit losses, D's mean scores, penalty terms...), against the step. Records other hooks
    published (evaluations, health warnings) are left out."""
    records = [r for r in records if "d_loss" in r and "health" not in r]
    if not records:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [r["step"] for r in records]
    others = sorted({k for r in records for k, v in r.items() if k not in NOT_PLOTTED and isinstance(v, (int, float))})
    rows = 2 if others else 1
    fig, axes = plt.subplots(rows, 1, figsize=(8, 6 if others else 4), sharex=True, squeeze=False,
                             gridspec_kw={"height_ratios": [2, 1][:rows]})
    top = axes[0][0]
    top.plot(steps, [r.get("d_loss") for r in records], label="D loss", linewidth=1)
    top.plot(steps, [r.get("g_loss") for r in records], label="G loss", linewidth=1)
    top.set_ylabel("loss")
    top.legend()
    top.grid(alpha=0.3)
    if others:
        bottom = axes[1][0]
        for key in others:
            bottom.plot(steps, [r.get(key, float("nan")) for r in records], label=key, linewidth=1)
        bottom.set_ylabel("reported by the loss")
        bottom.legend(fontsize="small", ncol=2)
        bottom.grid(alpha=0.3)
    axes[-1][0].set_xlabel("step")
    return save_figure(fig, out)


def save_figure(fig, out: Path) -> Path:
    """Lay out ``fig``, write it as a PNG atomically and close it."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    try:
        atomic_write(out, lambda tmp: fig.savefig(tmp, dpi=100, format="png"))
    finally:
        plt.close(fig)
    return out
