"""``ganforge plugins``: what is installed, who provides it, and whether it loads."""

from __future__ import annotations

import typer

from ..errors import PluginError


def plugins(
    check: bool = typer.Option(False, "--check", help="Load each plugin and run the conformance kit's quick checks."),
) -> None:
    """List architecture and loss plugins with their distribution and load status."""
    from rich.console import Console
    from rich.table import Table

    from .. import registry

    table = Table(title="ganforge plugins")
    for column in ("name", "kind", "distribution", "version", "status"):
        table.add_column(column)
    problems = 0
    for kind in registry.GROUPS:
        index = registry.find(kind)
        for name in index.names():
            if name in index.clashes:
                clash = index.clashes[name]
                dists = " / ".join(p.distribution for p in clash.candidates)
                table.add_row(name, kind, dists, "", f"[red]clash: {clash.error()}[/red]")
                problems += 1
                continue
            found = index.plugins[name]
            status = _status(found, check)
            problems += not status.startswith("ok")
            table.add_row(name, kind, found.distribution, found.version, status)
        for shadowed in index.shadowed:
            table.add_row(shadowed.name, kind, shadowed.distribution, shadowed.version,
                          "[yellow]shadowed by the built-in of the same name[/yellow]")
    Console().print(table)
    if registry.autoload_disabled():
        typer.echo(f"third-party plugins are off ({registry.DISABLE_AUTOLOAD_ENV}=1)")
    if check and problems:
        raise typer.Exit(1)


def _status(found, check: bool) -> str:
    try:
        loaded = found.load()
    except PluginError as exc:
        return f"[red]error: {exc}[/red]"
    if not check:
        return "ok"
    from ..testing import quick_check

    failure = quick_check(found.kind, loaded.obj)
    return "ok, checks passed" if failure is None else f"[red]check failed: {failure}[/red]"
