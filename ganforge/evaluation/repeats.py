"""One report over several seeds: the seeds' parsing and checks, and the combined report.

With one seed a report is the seed's report as is. With K >= 2 every top-level number (and each
``floor`` / ``ceiling`` number) is the mean over the seeds, so scripts reading ``fid_digits``
read the best estimate, and ``intervals`` maps each metric to its mean, standard deviation, 95%
Student t interval and per-seed values (``memorization`` fields as ``memorization_<field>``).
Spreads measured within one seed (``kid_digits_std``...) are averaged and get no interval.
"""

from __future__ import annotations

from typing import Callable, Optional, Sequence

from ..errors import GanforgeError
from .intervals import MEAN_METHOD, mean_interval

ROWS = ("floor", "ceiling")
ONE_SEED = "none (one seed)"


def parse_seeds(text: str) -> list[int]:
    """``"0,1,2"`` -> ``[0, 1, 2]``, checked by ``check_seeds``."""
    parts = [p.strip() for p in str(text).split(",")]
    if not text.strip() or not all(p.isdigit() for p in parts):
        raise GanforgeError(f"--seeds takes comma-separated non-negative integers such as 0,1,2, got '{text}'")
    return check_seeds([int(p) for p in parts])


def check_seeds(seeds: Sequence[int]) -> list[int]:
    seeds = list(seeds)
    if not seeds:
        raise GanforgeError("seeds: give at least one seed")
    for s in seeds:
        if isinstance(s, bool) or not isinstance(s, int) or s < 0:
            raise GanforgeError(f"seeds must be non-negative integers, got {s!r}")
    repeated = next((s for i, s in enumerate(seeds) if s in seeds[:i]), None)
    if repeated is not None:
        raise GanforgeError(f"seed {repeated} is given twice: each seed is one fresh draw")
    return seeds


def choose_seeds(seed: Optional[int], seeds: Optional[str], repeats: Optional[int]) -> list[int]:
    """The seeds of ``ganforge eval``'s --seed, --seeds and --repeats (at most one of the latter two;
    --repeats K counts from --seed, default 0)."""
    if repeats is not None:
        if seeds is not None:
            raise GanforgeError("--repeats and --seeds are two ways to give the seeds: use one")
        if repeats < 1:
            raise GanforgeError(f"--repeats must be at least 1, got {repeats}")
        start = 0 if seed is None else seed
        return check_seeds(list(range(start, start + repeats)))
    if seeds is not None:
        if seed is not None:
            raise GanforgeError("--seed and --seeds are two ways to give the seeds: use one")
        return parse_seeds(seeds)
    return check_seeds([0 if seed is None else seed])


def interval_method(seeds: Sequence[int]) -> str:
    return ONE_SEED if len(seeds) == 1 else MEAN_METHOD


def over_seeds(measure: Callable[[int], dict], seeds: Sequence[int], card: dict) -> dict:
    """``measure(seed)`` for each seed (a report with ``floor``, ``ceiling``, ``protocol``),
    combined; ``card`` is added to the protocol."""
    reports = [measure(s) for s in seeds]
    first = reports[0]
    if len(reports) == 1:
        return {**first, "protocol": {**first["protocol"], **card}}
    combined = _mean_row(reports)
    for row in ROWS:
        if row in first:
            combined[row] = _mean_row([r[row] for r in reports])
    combined["protocol"] = {**first["protocol"], **card}
    combined["seeds"] = list(seeds)
    return combined


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _mean_row(rows: list[dict]) -> dict:
    """Means of the numbers of one row (the generator's, the floor's...) over the seeds, and their
    intervals; nested dicts (memorization) field by field."""
    out: dict = {}
    intervals: dict = {}
    for key, value in rows[0].items():
        if key in ROWS or key == "protocol":
            continue
        if isinstance(value, dict):
            out[key] = {}
            for field in value:
                values = [r[key][field] for r in rows]
                summary = _summary(values)
                out[key][field] = None if summary is None else summary["mean"]
                if summary is not None:
                    intervals[f"{key}_{field}"] = summary
        elif _is_number(value):
            values = [r[key] for r in rows]
            summary = mean_interval(values)
            out[key] = summary["mean"]
            if not key.endswith("_std"):
                intervals[key] = summary
        else:
            out[key] = value
    out["intervals"] = intervals
    return out


def _summary(values: list) -> Optional[dict]:
    return mean_interval(values) if all(_is_number(v) for v in values) else None
