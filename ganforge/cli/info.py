"""``ganforge info``: versions, devices and the compiled extension, for bug reports."""

from __future__ import annotations

import json
import platform
import sys

import typer


def info(as_json: bool = typer.Option(False, "--json", help="Print machine-readable JSON.")) -> None:
    """Report versions, devices and what the fused-op extension was built with."""
    report = collect()
    if as_json:
        typer.echo(json.dumps(report, indent=2))
        return
    for section, values in report.items():
        typer.echo(f"{section}:")
        for key, value in values.items():
            typer.echo(f"  {key}: {value}")


def collect() -> dict:
    import torch

    from .. import __version__
    from ..ops import extension_info

    devices = {"cuda available": torch.cuda.is_available()}
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            p = torch.cuda.get_device_properties(i)
            devices[f"cuda:{i}"] = f"{p.name}, {p.total_memory / 2**30:.0f} GiB, sm_{p.major}{p.minor}"
    mps = getattr(torch.backends, "mps", None)
    devices["mps available"] = bool(mps and mps.is_available())
    devices["cpu threads"] = torch.get_num_threads()
    return {
        "ganforge": {"version": __version__, "python": sys.version.split()[0], "platform": platform.platform()},
        "torch": {"version": torch.__version__, "cuda": torch.version.cuda, "cudnn": torch.backends.cudnn.version()},
        "devices": devices,
        "extension": extension_info(),
    }
