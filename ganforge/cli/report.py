"""``ganforge report RUN_OR_SUMMARY``: one self-contained HTML page of a run or a repeat."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def report_command(
    source: Path = typer.Argument(..., help="A run directory, a repeat directory (--repeats) or its summary.json."),
    out: Optional[Path] = typer.Option(None, "--out", help="The HTML file to write (default: report.html in the "
                                                          "run or repeat directory)."),
) -> None:
    """Write one HTML file that shows a run: the command that trains it again, loss and metric
    curves, sample grids through training, health events and actions, the evaluation with its
    intervals and protocol card. For a repeat: the summary across the runs and each run's final
    samples. Self-contained (images embedded, no script): open it in any browser, or send it.
    Example: ganforge report runs/dcgan-20261123-140512"""
    from ..report import write_report

    typer.echo(str(write_report(source, out)))
