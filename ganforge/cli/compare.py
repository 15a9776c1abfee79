"""``ganforge compare A B``: per metric, B - A with its 95% interval and a verdict. Writes nothing."""

from __future__ import annotations

import json
from pathlib import Path

import typer


def compare_command(
    a: Path = typer.Argument(..., help="A: a run directory (its eval.json), a repeat directory (its summary.json), an eval report or summary file."),
    b: Path = typer.Argument(..., help="B: the same kinds as A."),
    as_json: bool = typer.Option(False, "--json", help="Print the comparison as JSON instead of a table."),
) -> None:
    """Compare two results measured under the same protocol (refused with the first difference
    otherwise). A verdict says whether B is better or worse than A, or that the difference is not
    detectable at this number of draws. Example: ganforge compare runs/dcgan-a runs/dcgan-b"""
    from ..eval_api import compare
    from ..evaluation.report import format_number
    from .tables import Column, print_table

    result = compare(a, b)
    if as_json:
        typer.echo(json.dumps(result, indent=2))
        return

    def spread(summary: dict) -> str:
        text = format_number(summary["mean"])
        return text if summary["std"] is None else f"{text} ± {format_number(summary['std'])} (n={len(summary['values'])})"

    rows = []
    for metric, m in result["metrics"].items():
        interval = m["method"] if m["low"] is None else f"[{format_number(m['low'])}, {format_number(m['high'])}]"
        rows.append((metric, spread(m["a"]), spread(m["b"]), format_number(m["difference"]), interval,
                     m["better"], m["verdict"]))
    columns = [Column("metric"), Column("A", "right"), Column("B", "right"), Column("B - A", "right"),
               Column("95% interval", "right"), Column("direction"), Column("B vs A")]
    print_table(f"A = {result['a']['source']} ({result['a']['kind']}), B = {result['b']['source']} "
                f"({result['b']['kind']})", columns, rows)
    typer.echo("interval: Welch t over the draws of A and B (seeds, or runs of a summary)")
    for note in result["notes"]:
        typer.echo(f"note: {note}")
