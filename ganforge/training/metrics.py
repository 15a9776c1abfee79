"""The metrics log (one JSON object per logged step) and the loss plot drawn from it."""

from __future__ import annotations

import json
from pathlib import Path


class MetricsLog:
    def __init__(self, path: Path):
        self.path = path
        self._file = path.open("a", encoding="utf-8")

    def write(self, record: dict) -> None:
        self._file.write(json.dumps(record) + "\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()


def read_metrics(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


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
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out
