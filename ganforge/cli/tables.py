"""Tables for the CLI: a rich table on a terminal; plain aligned text, never wrapped, when
stdout is a pipe or a file (CI logs), so every row stays one line that grep and diff can use."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Optional, Sequence, TextIO

@dataclass(frozen=True)
class Column:
    header: str
    align: str = "left"  # "left" or "right"


def is_terminal(stream: Optional[TextIO] = None) -> bool:
    stream = stream or sys.stdout
    return bool(getattr(stream, "isatty", lambda: False)())


def print_table(title: str, columns: Sequence[Column], rows: Sequence[Sequence[str]],
                styles: Optional[Sequence[str]] = None, stream: Optional[TextIO] = None) -> None:
    """Print ``rows`` under ``title``: rich on a terminal, else ``plain_lines``. ``styles``
    (one per row: "", "red", "yellow") colour the rich table and are dropped in plain text."""
    stream = stream or sys.stdout
    if is_terminal(stream):
        _print_rich(title, columns, rows, styles, stream)
    else:
        stream.write("\n".join(plain_lines(title, columns, rows)) + "\n")
        stream.flush()


def plain_lines(title: str, columns: Sequence[Column], rows: Sequence[Sequence[str]]) -> list[str]:
    """The title, a header, a rule and one line per row; columns separated by two spaces and
    padded to their widest cell; the last column unpadded; line breaks in cells become spaces."""
    cells = [[_one_line(c.header) for c in columns]] + [[_one_line(cell) for cell in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]

    def line(row: Sequence[str]) -> str:
        parts = []
        for i, (cell, column) in enumerate(zip(row, columns)):
            last = i == len(columns) - 1
            if column.align == "right":
                parts.append(cell.rjust(widths[i]))
            else:
                parts.append(cell if last else cell.ljust(widths[i]))
        return "  ".join(parts).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return [title, line(cells[0]), rule] + [line(row) for row in cells[1:]]


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


def _print_rich(title, columns, rows, styles, stream) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table(title=title)
    for column in columns:
        table.add_column(column.header, justify="right" if column.align == "right" else "left")
    for index, row in enumerate(rows):
        style = (styles[index] if styles else "") or ""
        # Text, not markup: plugin messages may contain brackets such as "[-1, 1]".
        table.add_row(*(Text(str(cell)) for cell in row), style=style or None)
    Console(file=stream).print(table)
