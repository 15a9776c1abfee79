"""The report of a repeat directory (``ganforge train --repeats N``), from its summary.json and
its runs' own files: the summary across the runs, the per-run rows, the protocol card, and per
run its final sample grid and loss curve."""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import GanforgeError
from ..files import read_json_object
from ..result_files import EVAL_FILE, SUMMARY_FILE
from ..training.hooks.metrics import read_metrics
from ..training.loop.rundir import METRICS_FILE
from .evaluation_tables import protocol_table, run_rows_table, summary_table
from .html_parts import figure, gallery, page, paragraph, png_image, section
from .run_page import curve_series, health_markers, read_config, reproduce, sample_grids
from .svg_chart import line_chart

SUMMARY_KIND = "ganforge-repeat-summary"


def read_summary(path: Path) -> dict:
    """A repeat's summary.json, checked to be one."""
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise GanforgeError(f"{path}: cannot read it ({exc})") from None
    if not isinstance(summary, dict) or summary.get("kind") != SUMMARY_KIND or not summary.get("runs"):
        raise GanforgeError(f"{path}: not the summary of a ganforge repeat")
    return summary


def run_dirs(repeat_dir: Path, summary: dict) -> list[Path]:
    """The summary's run directories, every one still there."""
    dirs = [repeat_dir / str(name) for name in summary["runs"]]
    gone = [d.name for d in dirs if not d.is_dir()]
    if gone:
        raise GanforgeError(f"{repeat_dir / SUMMARY_FILE} lists the run directories {', '.join(gone)}, which are gone "
                            f"from {repeat_dir} (deleted or moved?)")
    return dirs


def repeat_page(repeat_dir: Path, summary: dict) -> str:
    runs = run_dirs(repeat_dir, summary)
    first = runs[0]
    n = len(runs)
    seeds = ", ".join(str(row.get("seed")) for row in summary["rows"])
    protocol = (read_json_object(first / EVAL_FILE) or {}).get("protocol")
    return page(repeat_dir.name, f"repeat of {n} runs of {summary.get('arch')}, training seeds {seeds}", [
        section("Reproduce", *reproduce(read_config(first), ["--repeats", str(n)], "repeat")),
        section(f"Summary across the {n} runs", summary_table(summary), paragraph(interval_note(summary), note=True)),
        section("Per run", run_rows_table(summary)),
        section("Protocol card", *([paragraph(f"of {first.name}'s {EVAL_FILE}; every run of a repeat is measured "
                                              "alike", note=True), protocol_table(protocol)] if protocol else
                                   [paragraph("no eval.json in the runs")])),
        section("Runs", gallery([run_card(run_dir) for run_dir in runs])),
    ])


def interval_note(summary: dict) -> str:
    methods = {m["method"] for m in summary["metrics"].values()}
    return f"n = {len(summary['rows'])} runs, one value each; interval: {', '.join(sorted(methods)) or 'none'}"


def run_card(run_dir: Path) -> str:
    """A run's final sample grid and its losses against the step, health records marked."""
    records = read_metrics(run_dir / METRICS_FILE)
    losses = [r for r in records if "d_loss" in r and "health" not in r]
    series = curve_series(losses, ["d_loss", "g_loss"])
    grids = sample_grids(run_dir)
    parts = [png_image(grids[-1][1], f"{run_dir.name}: samples at step {grids[-1][0]}")] if grids else []
    if series:
        parts.append(line_chart(series, "losses", health_markers(records), width=320, height=180))
    health = sum(1 for r in records if "health" in r)
    final = f"final samples, step {grids[-1][0]}" if grids else "no sample grids"
    return figure(f"{run_dir.name}: {final}; {health} health records", *parts)
