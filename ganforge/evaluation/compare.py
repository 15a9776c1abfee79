"""Two results side by side: per metric the difference B - A, its 95% Welch t interval and a
verdict, after the protocol check (``protocol.check_comparable``).

A result is a protocol plus, per metric, a list of values (one per draw): an eval report over K
seeds gives its K per-seed values, a single-seed report one value, a repeat summary (a JSON file
with a ``runs`` list of run directories, one training seed each) one value per run, its run's
eval.json mean. Nothing here writes a file.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Union

from ..errors import GanforgeError
from ..result_files import EVAL_FILE, REPEAT_FILE, SUMMARY_FILE
from .intervals import difference_interval, mean_interval
from .protocol import check_comparable

#: Metric -> which direction is better. Class coverage is an entropy over the 10 digits, at most
#: ln 10 (every digit equally often), so higher is closer to uniform and better.
HIGHER, LOWER = "higher", "lower"
DIRECTIONS = {
    "fid_digits": LOWER, "kid_digits": LOWER, "precision": HIGHER, "recall": HIGHER, "class_coverage": HIGHER,
    "label_accuracy": HIGHER, "fid_inception": LOWER, "kid_inception": LOWER, "inception_score": HIGHER,
}
BETTER, WORSE, UNDETECTED, UNKNOWN = "better", "worse", "no detectable difference at this n", "unknown (1 draw)"


@dataclass
class Result:
    source: str  # where it was read from
    kind: str  # "eval report", "repeat summary of N runs"
    protocol: dict
    values: dict  # metric -> [value per draw]


def load_result(source: Union[str, Path, dict], side: str) -> Result:
    """A run directory (its eval.json), a repeat directory (its summary.json), an eval report file,
    a repeat summary file, or a report dict."""
    if isinstance(source, dict):
        return result_of_report(source, "report", side)
    data, path = _read_report(Path(source), side)
    return _result_of_json(data, path, side)


def _read_report(path: Path, side: str) -> tuple[dict, Path]:
    """The JSON object in ``path`` (a run directory: its eval.json), and the file read."""
    if path.is_dir() and (path / REPEAT_FILE).is_file():
        file = path / SUMMARY_FILE
        if not file.is_file():
            raise GanforgeError(f"{side}: the repeat {path} has no {SUMMARY_FILE} yet; finish it with "
                                f"`ganforge train --resume {path}`")
        path = file
    elif path.is_dir():
        file = path / EVAL_FILE
        if not file.is_file():
            raise GanforgeError(f"{side}: {path} has no {EVAL_FILE}; run `ganforge eval {path} --seeds 0,1,2` first")
        path = file
    elif not path.is_file():
        raise GanforgeError(f"{side}: {path} is neither a run directory nor a report file (not found)")
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise GanforgeError(f"{side}: cannot read {path} as JSON: {exc}") from None
    if not isinstance(data, dict):
        raise GanforgeError(f"{side}: {path} is not an eval report (a JSON object)")
    return data, path


def _result_of_json(data: dict, path: Path, side: str) -> Result:
    if "runs" in data:
        return _result_of_summary(data, path, side)
    if not isinstance(data.get("protocol"), dict):
        raise GanforgeError(f"{side}: {path} is neither an eval report (no protocol) nor a repeat summary (no runs)")
    return result_of_report(data, str(path), side)


def result_of_report(report: dict, source: str, side: str) -> Result:
    """The result of one eval report: per metric its per-seed values (``intervals``), else its one value.
    A report written before ``protocol.conditional`` existed is conditional when it has label accuracy."""
    protocol = dict(report.get("protocol") or {})
    if not protocol:
        raise GanforgeError(f"{side}: {source} is not an eval report (no protocol)")
    protocol.setdefault("conditional", "label_accuracy" in report)
    intervals = report.get("intervals") or {}
    values = {}
    for metric in DIRECTIONS:
        if metric in intervals:
            values[metric] = [float(v) for v in intervals[metric]["values"]]
        elif isinstance(report.get(metric), (int, float)):
            values[metric] = [float(report[metric])]
    return Result(source, "eval report", protocol, values)


def _result_of_summary(data: dict, path: Path, side: str) -> Result:
    """A repeat summary: one value per run (its eval.json's mean), the runs' common protocol.
    Run directories are taken as written, else relative to the summary's folder."""
    runs = data["runs"]
    if not isinstance(runs, list) or not runs:
        raise GanforgeError(f"{side}: {path}: 'runs' must be a non-empty list of run directories")
    results = []
    for run in runs:
        run_dir = Path(str(run))
        if not run_dir.is_dir() and not run_dir.is_absolute() and (path.parent / run_dir).is_dir():
            run_dir = path.parent / run_dir
        if not run_dir.is_dir():
            raise GanforgeError(f"{side}: the summary {path} lists the run directory {run}, which does not exist "
                                f"(deleted or moved?)")
        report, file = _read_report(run_dir, side)
        results.append(result_of_report(report, str(file), side))
    for other in results[1:]:
        try:
            check_comparable(results[0].protocol, other.protocol)
        except GanforgeError as exc:
            raise GanforgeError(f"{side}: the runs of {path} were not measured alike ({results[0].source} = A, "
                                f"{other.source} = B): {exc}") from None
    common = [m for m in DIRECTIONS if all(m in r.values for r in results)]
    values = {m: [_mean(r.values[m]) for r in results] for m in common}
    return Result(str(path), f"repeat summary of {len(results)} runs", results[0].protocol, values)


def _mean(values: list) -> float:
    return math.fsum(values) / len(values)


def verdict(metric: str, low, high, difference: float) -> str:
    """B relative to A: better / worse when the interval excludes 0, else no detectable difference."""
    if low is None:
        return UNKNOWN
    if low <= 0 <= high:
        return UNDETECTED
    return BETTER if (difference > 0) == (DIRECTIONS[metric] == HIGHER) else WORSE


def compare(a: Result, b: Result) -> dict:
    """``{"a", "b", "notes", "metrics": {metric: {"a", "b", "difference", "low", "high", "method",
    "better", "verdict"}}}``; ``a`` / ``b`` per metric are ``intervals.mean_interval`` dicts. Raises
    GanforgeError when the protocols differ or there is no metric in common."""
    notes = check_comparable(a.protocol, b.protocol)
    metrics = {}
    for metric in DIRECTIONS:
        if metric in a.values and metric in b.values:
            diff = difference_interval(a.values[metric], b.values[metric])
            metrics[metric] = {"a": mean_interval(a.values[metric]), "b": mean_interval(b.values[metric]), **diff,
                               "better": f"{DIRECTIONS[metric]} is better",
                               "verdict": verdict(metric, diff["low"], diff["high"], diff["difference"])}
    if not metrics:
        raise GanforgeError("cannot compare: A and B have no metric in common")
    return {"a": {"source": a.source, "kind": a.kind}, "b": {"source": b.source, "kind": b.kind},
            "notes": notes, "metrics": metrics}
