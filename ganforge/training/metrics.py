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


#: Record keys that are not curves of the loss plot.
NOT_PLOTTED = {"step", "epoch", "img_per_s", "d_loss", "g_loss"}


def plot_losses(records: list[dict], out: Path) -> Path | None:
    """D and G losses (top) and, below, whatever else the loss reports (D's accuracy for the
    logit losses, D's mean scores, penalty terms...), against the step."""
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
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out
