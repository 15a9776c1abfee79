"""``ganforge bench train``: training images/second of ganforge against the plain-PyTorch
DCGAN baseline, measured interleaved in one process."""

from __future__ import annotations

import json
import sys
from typing import List, Optional

import typer

from ..errors import GanforgeError

IMAGE_SIZES = (32, 64, 128)


def bench_train(
    device: str = typer.Option("cpu", help="cpu, cuda or cuda:N."),
    batch_size: int = typer.Option(128, min=2, help="Images per iteration."),
    image_size: int = typer.Option(64, help="Image size: 32, 64 or 128."),
    channels: int = typer.Option(3, help="1 (grayscale) or 3 (RGB)."),
    width: int = typer.Option(64, min=1, help="ngf = ndf of both DCGANs (64 is DCGAN-64)."),
    steps: Optional[int] = typer.Option(None, min=1, help="Iterations per timed block (default: planned, at least "
                                        "5, more for fast iterations, fewer if the budget is short)."),
    repeats: Optional[int] = typer.Option(None, min=1, help="Timed blocks per contender, in interleaved rounds "
                                          "(default: planned, 3 to 5 as the budget allows)."),
    warmup: int = typer.Option(2, min=1, help="Untimed iterations per contender first; the first one also "
                               "measures the start-up (torch.compile's)."),
    budget: Optional[float] = typer.Option(None, min=0, help="Seconds the whole benchmark may take; the rounds and "
                                           "iterations not given are planned to fit (default: 240 on cpu, 90 on cuda; "
                                           "0: no budget)."),
    variant: Optional[List[str]] = typer.Option(
        None, "--variant", help="Speed options to time together as KEY=VALUE[,KEY=VALUE], e.g. "
                                "channels_last=true,arch.impl=torch (arch.KEY: an architecture option; repeatable; "
                                "default: channels_last both ways, precision=bf16 where the device computes it "
                                "natively, compile=networks, reuse_fake=false). '--variant none' times the defaults only."),
    json_path: Optional[str] = typer.Option(None, "--json", help="Also write every measurement as JSON."),
) -> None:
    """Images/second of the baseline, of ganforge with its defaults and with each speed option alone,
    within a time budget, one progress line per timed block on stderr."""
    from ..bench.train_throughput import DEFAULT, DEFAULT_BUDGET_S, run_benchmark
    from ..devices import resolve_device

    if image_size not in IMAGE_SIZES:
        raise GanforgeError(f"--image-size must be one of {', '.join(map(str, IMAGE_SIZES))}, got {image_size}")
    if channels not in (1, 3):
        raise GanforgeError(f"--channels must be 1 or 3, got {channels}")
    resolved = resolve_device(device)
    if resolved.type not in ("cpu", "cuda"):
        raise GanforgeError(f"--device must be cpu or cuda, got '{device}'")

    def log(message: str, end: str = "\n") -> None:
        typer.echo(message, err=True, nl=bool(end))

    budget_s = DEFAULT_BUDGET_S[resolved.type] if budget is None else (budget or None)
    report = run_benchmark(resolved, batch_size=batch_size, image_size=image_size, channels=channels,
                           width=width, steps=steps, repeats=repeats, warmup=warmup,
                           variants=_variants(variant) if variant else None, budget_s=budget_s, log=log)
    if json_path:
        with open(json_path, "w") as f:
            json.dump(report.to_dict(), f, indent=2)
    m = report.machine
    where = m.get("gpu") or f"{m['cpu']} ({m['cpu_capability']}, {m['threads']} threads)"
    title = (f"DCGAN-{image_size} training, {resolved}, batch {batch_size}, width {width}, fp32 baseline; "
             f"{where}; torch {m['torch']}")
    _print_table(report, title, sys.stdout.isatty())
    gflop = report.flop_per_image / 1e9
    typer.echo(f"compute: {gflop:.2f} GFLOP per image per iteration (counted on the baseline; "
               f"DESIGN.md estimates about 2.5 for DCGAN-64)")
    for name, why in report.skipped.items():
        typer.echo(f"skipped {name}: {why}")
    typer.echo(f"plan: {report.repeats} round(s) of {report.steps} iteration(s) per contender, {report.plan}; "
               f"the whole benchmark took {report.seconds:.0f} s")
    typer.echo(f"ganforge vs baseline: {report.ratio(DEFAULT):.2f}x")


def _print_table(report, title: str, rich: bool) -> None:
    header = ("contender", "img/s best", "img/s median", "vs baseline", "TFLOP/s", "start-up s")
    rows = [(r.name, f"{r.best:.1f}", f"{r.median:.1f}", f"{report.ratio(r.name):.2f}x",
             f"{report.tflops(r.name):.3f}", f"{r.startup_s:.1f}") for r in report.results]
    if rich:
        from rich.console import Console
        from rich.table import Table

        table = Table(title=title)
        for i, column in enumerate(header):
            table.add_column(column, justify="left" if i == 0 else "right")
        for row in rows:
            table.add_row(*row)
        Console().print(table)
        return
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]

    def line(row):
        return "  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths)))

    typer.echo(title)
    typer.echo(line(header))
    for row in rows:
        typer.echo(line(row))
    typer.echo("img/s: per block of steps; vs baseline and TFLOP/s: from the medians; start-up: the first "
               "warm-up iteration beyond a steady one")


ARCH_PREFIX = "arch."


def _variants(items: List[str]) -> list[dict]:
    """--variant KEY=VALUE items as one-option overrides, each value checked as the option's kind."""
    from ..training.setup.config import OPTIONS_BY_NAME, coerce

    if items == ["none"]:
        return []
    out = []
    for item in items:
        overrides: dict = {}
        for pair in item.split(","):
            key, sep, value = pair.partition("=")
            key = key.strip().replace("-", "_")
            if sep and key.startswith(ARCH_PREFIX) and len(key) > len(ARCH_PREFIX):
                overrides.setdefault("arch_options", {})[key[len(ARCH_PREFIX):]] = value.strip()
            elif sep and key in OPTIONS_BY_NAME:
                overrides[key] = coerce(OPTIONS_BY_NAME[key], value.strip(), "--variant")
            else:
                raise GanforgeError("--variant takes training options as KEY=VALUE[,KEY=VALUE...], an "
                                    f"architecture option as arch.KEY=VALUE (e.g. channels_last=true,arch.impl=torch), got '{item}'")
        out.append(overrides)
    return out
