"""``ganforge bench``: with no sub-command, the fused upsampling block against the eager
reference and torch.compile; ``ganforge bench train`` times whole training iterations."""

from __future__ import annotations

import json
from typing import List, Optional

import typer

from ..errors import GanforgeError

DTYPES = ("float32", "bfloat16")


bench_app = typer.Typer(
    name="bench",
    invoke_without_command=True,
    help="Benchmarks. Without a sub-command: time the fused upsampling block (options below).",
)


@bench_app.callback()
def bench(
    ctx: typer.Context = None,
    device: str = typer.Option("cpu", help="cpu or cuda."),
    batch: Optional[List[int]] = typer.Option(None, help="Batch sizes (repeatable); default 64 on "
                                              "CPU, 64 128 256 on CUDA."),
    dtype: str = typer.Option("float32", help="float32 or bfloat16."),
    repeats: int = typer.Option(10, min=1, help="Timed repetitions per case; the median is shown."),
    json_path: Optional[str] = typer.Option(None, "--json", help="Also write {case: {impl: median_seconds}}."),
    include_compile: bool = typer.Option(True, help="Also time torch.compile of the reference."),
) -> None:
    """Time each DCGAN-64 generator block and its BN+activation part, forward and forward+backward.

    ``ganforge bench train`` instead times training iterations against the plain-PyTorch baseline."""
    if ctx is not None and ctx.invoked_subcommand is not None:
        return  # a sub-command runs instead
    import torch

    from ..ops.benchmark import (DCGAN64_BLOCKS, PASSES, TRAFFIC_FLOOR, bn_act_elements,
                                 bn_act_runners, block_runners, median_seconds)

    if device not in ("cpu", "cuda"):
        raise GanforgeError(f"unknown device '{device}'; choose cpu or cuda")
    if device == "cuda" and not torch.cuda.is_available():
        raise GanforgeError("--device cuda requested, but torch sees no CUDA device")
    if dtype not in DTYPES:
        raise GanforgeError(f"unknown dtype '{dtype}'; choose one of {', '.join(DTYPES)}")
    batches = list(batch) if batch else ([64] if device == "cpu" else [64, 128, 256])
    if any(b < 2 for b in batches):
        raise GanforgeError("batch sizes must be at least 2 (batch norm needs two values per channel)")
    torch_dtype = getattr(torch, dtype)

    results: dict[str, dict[str, float]] = {}
    bandwidth: dict[str, str] = {}
    for size in batches:
        for shape in DCGAN64_BLOCKS:
            for pass_ in PASSES:
                for part, make in (("block", block_runners), ("bn+act", bn_act_runners)):
                    case = f"{part} {shape.name} b{size} {dtype} {pass_}"
                    runners = make(shape, size, device, torch_dtype, pass_, include_compile)
                    results[case] = median_seconds(runners, device, repeats)
                    if part == "bn+act":
                        bytes_per_element = torch.finfo(torch_dtype).bits // 8
                        elements = bn_act_elements(shape, size) * bytes_per_element
                        bandwidth[case] = ", ".join(
                            f"{impl} {TRAFFIC_FLOOR[impl][pass_] * elements / results[case][impl] / 1e9:.1f}"
                            for impl in ("fused", "eager") if impl in results[case])
    _print_table(results, bandwidth, device, dtype)
    if json_path:
        with open(json_path, "w") as f:
            json.dump(results, f, indent=2)


def _print_table(results: dict, bandwidth: dict, device: str, dtype: str) -> None:
    from .tables import Column, print_table

    headers = ("case", "fused", "eager", "compile", "eager/fused", "compile/fused", "GB/s at floor")
    columns = [Column(h, "left" if h == "case" else "right") for h in headers]
    rows = []
    for case, times in results.items():
        def cell(impl):
            return f"{times[impl] * 1e3:.2f} ms" if impl in times else "-"

        def ratio(impl):
            return f"{times[impl] / times['fused']:.2f}x" if impl in times and "fused" in times else "-"

        rows.append([case, cell("fused"), cell("eager"), cell("compile"), ratio("eager"), ratio("compile"),
                     bandwidth.get(case, "")])
    print_table(f"fused upsampling block, {device}, {dtype}: median seconds", columns, rows)
