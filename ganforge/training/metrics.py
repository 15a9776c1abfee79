"""The metrics log (one JSON object per logged step) and the loss plot drawn from it."""

from __future__ import annotations

import json
from pathlib import Path

from ..files import atomic_write, atomic_write_text, writing


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


def truncate_metrics(path: Path, step: int) -> int:
    """Drop records logged after ``step`` (and lines cut short by a crash), so a run resumed
    from a checkpoint at ``step`` does not log steps step+1... twice. Returns how many records
    were dropped. The file is rewritten atomically, and only when something must go."""
    if not path.is_file():
        return 0
    text = path.read_text(encoding="utf-8", errors="replace")
    lines = [line for line in text.splitlines() if line.strip()]
    kept = [line for line, record in zip(lines, map(_parse_line, lines))
            if record is not None and isinstance(record.get("step"), int) and record["step"] <= step]
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


def plot_losses(records: list[dict], out: Path) -> Path | None:
    """Loss curves (top) and D's accuracy on real and fake (bottom) against the step."""
    if not records:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [r["step"] for r in records]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 6), sharex=True,
                                      gridspec_kw={"height_ratios": [2, 1]})
    top.plot(steps, [r["d_loss"] for r in records], label="D loss", linewidth=1)
    top.plot(steps, [r["g_loss"] for r in records], label="G loss", linewidth=1)
    top.set_ylabel("loss")
    top.legend()
    top.grid(alpha=0.3)
    bottom.plot(steps, [r["d_acc_real"] for r in records], label="D accuracy on real", linewidth=1)
    bottom.plot(steps, [r["d_acc_fake"] for r in records], label="D accuracy on fake", linewidth=1)
    bottom.set_ylim(-0.05, 1.05)
    bottom.set_xlabel("step")
    bottom.set_ylabel("accuracy")
    bottom.legend()
    bottom.grid(alpha=0.3)
    fig.tight_layout()
    try:
        atomic_write(out, lambda tmp: fig.savefig(tmp, dpi=100, format="png"))
    finally:
        plt.close(fig)
    return out
