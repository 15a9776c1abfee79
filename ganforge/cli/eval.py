"""``ganforge eval``: sample quality of an exported generator, offline, next to its floor and ceiling."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from ..eval_api import DEFAULT_METRICS


def eval_command(
    source: Path = typer.Argument(..., help="A run directory or a generator .safetensors file."),
    metrics: str = typer.Option(
        DEFAULT_METRICS, "--metrics",
        help="Comma-separated: fid,kid,pr,coverage,label_accuracy,memorization (digit generators), "
             "or inception (RGB generators; needs the 'metrics' extra and its weights file)."),
    n: int = typer.Option(5000, "--n", help="Number of generated samples."),
    seed: Optional[int] = typer.Option(None, help="Seed for the latents and the KID subsets (default 0)."),
    seeds: Optional[str] = typer.Option(
        None, "--seeds", help="Comma-separated seeds, e.g. 0,1,2: each metric is measured once per seed on fresh "
                              "latents and reported as mean ± std with a 95% interval."),
    repeats: Optional[int] = typer.Option(None, "--repeats", help="K seeds: --seed, --seed + 1, ... (instead of --seeds)."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON instead of a table."),
    device: str = typer.Option("cpu", help="auto, cpu, cuda, cuda:N or mps."),
    best: bool = typer.Option(False, "--best", help="Measure the run's best generator (generator-best.safetensors, "
                              "kept by --eval-every); writes eval-best.json."),
) -> None:
    """Measure a generator: FID-digits, KID, precision/recall, class coverage, label accuracy and a
    memorization check, with real-vs-real (floor) and untrained-generator (ceiling) rows. Writes
    eval.json into the run directory (or NAME.eval.json next to a .safetensors file).
    Example: ganforge eval runs/cgan-20261123-140512 --seeds 0,1,2"""
    from ..eval_api import evaluate, write_report
    from ..evaluation.repeats import choose_seeds
    from ..evaluation.report import format_table, report_path

    chosen = choose_seeds(seed, seeds, repeats)
    report = evaluate(source, metrics=None if metrics == DEFAULT_METRICS else metrics, n=n, seeds=chosen,
                      device=device, best=best, verbose=True)
    out = report_path(source, best)
    write_report(out, report)
    typer.echo(json.dumps(report, indent=2) if as_json else format_table(report))
    typer.echo(f"wrote {out}", err=True)
