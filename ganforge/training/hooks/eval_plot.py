"""What a run shows of its evaluation and health records: ``evaluation.png`` (one panel per
metric against the step, the best evaluation marked, health warnings as vertical lines) and
the one-line progress messages."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Optional

from .metrics import save_figure

#: (record key, panel title, what is better), in panel order; the first four are drawn when present.
PANELS = (
    ("eval_fid_digits", "FID-digits", "lower is better"),
    ("eval_kid_digits", "KID-digits", "lower is better"),
    ("eval_class_coverage", "class coverage", f"ln 10 = {math.log(10):.2f}: all digits"),
    ("eval_precision", "precision / recall", "higher is better"),
    ("eval_label_accuracy", "label accuracy", "higher is better"),
    ("eval_memorization_difference", "memorization: FID held-out minus train", "> 0: closer to train"),
)
PAIRED = {"eval_precision": "eval_recall"}
SHORT = (("eval_fid_digits", "FID-digits {:.2f}"), ("eval_kid_digits", "KID {:.4g}"),
         ("eval_class_coverage", "coverage {:.3f}"), ("eval_precision", "precision {:.2f}"),
         ("eval_recall", "recall {:.2f}"), ("eval_label_accuracy", "label acc {:.3f}"))


def is_evaluation(record: dict) -> bool:
    return any(k.startswith("eval_") for k in record) and "health" not in record


def record_line(record: dict) -> Optional[str]:
    """The progress output's line for a published record (None: nothing to say)."""
    if "health" in record:
        if record.get("stopped"):
            return None  # the run stops with this message as its error
        prefix = "action" if record.get("action") else "note" if record.get("cleared") else "warning"
        return f"{prefix}: step {record['step']}: {record['message']}"
    if is_evaluation(record):
        parts = [fmt.format(record[key]) for key, fmt in SHORT if isinstance(record.get(key), (int, float))]
        return f"eval step {record['step']}: {', '.join(parts)}" + (" (best so far)" if record.get("eval_best") else "")
    return None


def plot_evaluations(records: list[dict], out: Path) -> Optional[Path]:
    evaluations = [r for r in records if is_evaluation(r)]
    if not evaluations:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [p for p in PANELS if any(p[0] in r for r in evaluations)]
    columns = 2 if len(panels) > 1 else 1
    rows = math.ceil(len(panels) / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(5.5 * columns, 3 * rows), sharex=True, squeeze=False)
    warnings = [r for r in records if "health" in r and not r.get("cleared")]
    best = [r for r in evaluations if r.get("eval_best")]
    for ax, (key, title, note) in zip(axes.flat, panels):
        for k in (key, PAIRED.get(key)):
            if k is None:
                continue
            points = [(r["step"], r[k]) for r in evaluations if isinstance(r.get(k), (int, float))]
            if points:
                ax.plot(*zip(*points), marker="o", markersize=3, linewidth=1, label=k[len("eval_"):])
        if key == "eval_class_coverage":
            ax.axhline(math.log(10), color="grey", linestyle=":", linewidth=1)
        if best and key in best[-1]:
            ax.plot([best[-1]["step"]], [best[-1][key]], marker="*", markersize=12, color="gold",
                    markeredgecolor="black", linestyle="none", label=f"best checkpoint (step {best[-1]['step']})")
        for w in warnings:
            ax.axvline(w["step"], color="red", alpha=0.3, linewidth=1)
        ax.set_title(f"{title} ({note})", fontsize="medium")
        ax.grid(alpha=0.3)
        if key in PAIRED or best:
            ax.legend(fontsize="small")
    for ax in list(axes.flat)[len(panels):]:
        ax.set_visible(False)
    for ax in list(axes.flat)[:len(panels)][-columns:]:  # the lowest visible panel of each column
        ax.tick_params(labelbottom=True)
        ax.set_xlabel("step")
    if warnings:
        fig.suptitle("red lines: health warnings (see metrics.jsonl)", fontsize="small")
    return save_figure(fig, out)
