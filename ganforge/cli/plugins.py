"""``ganforge plugins``: what is installed, who provides it, and whether it loads.

Three depths: the index alone (reads entry-point metadata, imports no plugin), ``--load``
(imports and validates each plugin, shows its description) and ``--check`` (also runs the
conformance kit's quick checks). Every entry point is one row, including those shadowed
by a built-in or clashing with another distribution (they load by ``DIST:NAME``).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Optional

import typer

from ..errors import PluginError

NOT_LOADED = "not loaded"


@dataclass
class Row:
    name: str
    kind: str
    distribution: str
    version: str
    qualified_name: str
    entry_point: str
    builtin: bool
    note: Optional[str]  # shadowed or clashing: how to select this one
    status: str  # "not loaded", "ok", "error", "check failed", "ok, checks passed"
    problem: Optional[str] = None
    description: Optional[str] = None

    @property
    def failed(self) -> bool:
        return self.status in ("error", "check failed")

    def status_text(self) -> str:
        text = self.status + (f": {self.problem}" if self.problem else "")
        return text + (f" ({self.note})" if self.note else "")


def plugins(
    load: bool = typer.Option(False, "--load", help="Import and validate each plugin; show its description."),
    check: bool = typer.Option(False, "--check", help="Like --load, and run the conformance kit's quick checks."),
    as_json: bool = typer.Option(False, "--json", help="Print the rows as a JSON list instead of a table."),
) -> None:
    """List architecture, loss and step plugins: name, distribution, version and status.

    Without options nothing is imported (status "not loaded", exit code 0). With --load or
    --check the exit code is 1 when any plugin fails to load or to pass the checks.
    """
    from .. import registry

    rows = [_row(found, index, load or check, check)
            for kind in registry.GROUPS
            for index in (registry.find(kind),)
            for found in index.all_found()]
    if as_json:
        typer.echo(json.dumps([asdict(row) for row in rows], indent=2))
    else:
        _print(rows, described=load or check)
        if registry.autoload_disabled():
            typer.echo(f"third-party plugins are off ({registry.DISABLE_AUTOLOAD_ENV}=1)")
        if not (load or check):
            typer.echo("nothing was imported: --load shows descriptions and load status, "
                       "--check also runs the quick checks")
    if any(row.failed for row in rows):
        raise typer.Exit(1)


def _row(found, index, load: bool, check: bool) -> Row:
    if found.name in index.clashes:
        note = f"name clash: select it as {found.qualified_name}"
    elif index.plugins.get(found.name) != found:
        note = f"shadowed by the built-in: select it as {found.qualified_name}"
    else:
        note = None
    row = Row(found.name, found.kind, found.distribution, found.version, found.qualified_name, found.value,
              found.builtin, note, NOT_LOADED)
    if not load:
        return row
    try:
        obj = found.load().obj
    except PluginError as exc:
        row.status, row.problem = "error", str(exc)
        return row
    row.status, row.description = "ok", " ".join(str(getattr(obj, "description", "")).split())
    if check:
        from ..testing import quick_check

        failure = quick_check(found.kind, obj)
        row.status, row.problem = ("ok, checks passed", None) if failure is None else ("check failed", failure)
    return row


def _print(rows: list[Row], described: bool) -> None:
    from .tables import Column, print_table

    headers = ["name", "kind", "distribution", "version"] + (["description"] if described else []) + ["status"]
    cells, styles = [], []
    for row in rows:
        cells.append([row.name, row.kind, row.distribution, row.version]
                     + ([row.description or ""] if described else []) + [row.status_text()])
        styles.append("red" if row.failed else "yellow" if row.note else "")
    print_table("ganforge plugins", [Column(h) for h in headers], cells, styles)
