"""The tables of the evaluation results: an eval report (``ganforge eval``'s rows, with floor,
ceiling and intervals), its protocol card, a repeat summary across runs and its per-run rows.
The cells are the ones the text tables print (``evaluation.report``, ``repeat``)."""

from __future__ import annotations

from .. import repeat
from ..evaluation.report import format_number, metric_rows, seeds_note, table_header
from .html_parts import paragraph, table


def eval_report_table(report: dict) -> str:
    """One row per metric (generator, floor, ceiling) and, over several seeds, what the numbers are."""
    note = seeds_note(report)
    rows = table(table_header(report), metric_rows(report), css="results")
    return "\n".join([rows, paragraph(note, note=True)]) if note else rows


def protocol_table(protocol: dict) -> str:
    """The protocol card: how the numbers were measured, one field a row."""
    return table(("protocol", "value"), [(key, format_number(value)) for key, value in protocol.items()])


def summary_table(summary: dict) -> str:
    """Each metric's mean, std and 95% interval across the runs, and the per-run values."""
    if not summary["metrics"]:
        return paragraph(f"not evaluated: {repeat.why_not_evaluated(summary)}")
    return table(repeat.SUMMARY_HEADER, repeat.summary_rows(summary), css="results")


def run_rows_table(summary: dict) -> str:
    """A row per run: its seed and its evaluation's numbers (or why it was not evaluated)."""
    metrics = list(summary["metrics"])
    reasons = any("not_evaluated" in row for row in summary["rows"])
    header = ["run", "seed", *metrics, *(["not evaluated"] if reasons else [])]
    rows = [[row["run"], row["seed"], *(format_number(row.get(m)) for m in metrics),
             *([row.get("not_evaluated", "")] if reasons else [])] for row in summary["rows"]]
    return table(header, rows, css="results")
