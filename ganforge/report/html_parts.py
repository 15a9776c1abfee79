"""The pieces of a self-contained HTML page: text, tables, embedded PNG images, sections and
the page with its inline style. Every function takes plain strings and escapes them; what it
returns is markup, to be joined as is."""

from __future__ import annotations

import base64
from html import escape
from pathlib import Path
from typing import Any, Optional, Sequence

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 76em; padding: 0 1em; color: #222; }
h1 { margin-bottom: 0.2em; }
h2 { border-bottom: 1px solid #ccc; padding-bottom: 0.2em; margin-top: 2em; }
.subtitle { color: #555; margin-top: 0; }
pre { background: #f5f5f5; padding: 0.7em; white-space: pre-wrap; overflow-wrap: break-word; }
table { border-collapse: collapse; margin: 0.5em 0 1em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
th { background: #f0f0f0; }
td.number { text-align: right; font-variant-numeric: tabular-nums; }
table.results { font-size: 0.9em; }
table.results td { white-space: nowrap; }
table.results td:last-child { white-space: normal; }
tr.warning td { background: #fdecea; }
tr.cleared td { background: #eef6ee; }
tr.action td { background: #f1ebf8; }
tr.action td:nth-child(3) { font-weight: bold; }
.gallery { display: flex; flex-wrap: wrap; gap: 1em; }
figure { margin: 0; }
figure img { width: 16em; image-rendering: pixelated; border: 1px solid #ddd; }
figcaption { color: #555; font-size: 0.9em; }
.charts { display: flex; flex-wrap: wrap; gap: 0.5em 1.5em; }
.chart { max-width: 100%; height: auto; }
.note { color: #555; }
"""


def page(title: str, subtitle: str, sections: Sequence[str]) -> str:
    """The whole HTML document: no script, no stylesheet or image from elsewhere."""
    return "\n".join(["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
                      f"<title>{escape(title)}</title>", f"<style>{STYLE}</style>", "</head>", "<body>",
                      f"<h1>{escape(title)}</h1>", f'<p class="subtitle">{escape(subtitle)}</p>',
                      *sections, "</body>", "</html>", ""])


def section(heading: str, *parts: str) -> str:
    return "\n".join([f"<section><h2>{escape(heading)}</h2>", *parts, "</section>"])


def subheading(text: str) -> str:
    return f"<h3>{escape(text)}</h3>"


def paragraph(text: str, note: bool = False) -> str:
    return f'<p class="note">{escape(text)}</p>' if note else f"<p>{escape(text)}</p>"


def command(text: str) -> str:
    return f"<pre><code>{escape(text)}</code></pre>"


def table(header: Sequence[str], rows: Sequence[Sequence[Any]], row_classes: Optional[Sequence[str]] = None,
          css: str = "") -> str:
    """A table of text cells; numbers are right-aligned. ``row_classes``: a CSS class per row;
    ``css``: the table's ("results": cells kept on one line)."""
    classes = row_classes or [""] * len(rows)
    lines = [f'<table class="{escape(css)}">' if css else "<table>",
             "<tr>" + "".join(f"<th>{escape(str(h))}</th>" for h in header) + "</tr>"]
    for row, row_class in zip(rows, classes):
        attribute = f' class="{escape(row_class)}"' if row_class else ""
        lines.append(f"<tr{attribute}>" + "".join(_cell(value) for value in row) + "</tr>")
    lines.append("</table>")
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f'<td class="number">{escape(str(value))}</td>'
    return f"<td>{escape(str(value))}</td>"


def png_image(path: Path, alt: str) -> str:
    """The PNG file embedded as a data: URI."""
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<img src="data:image/png;base64,{data}" alt="{escape(alt)}">'


def figure(caption: str, *parts: str) -> str:
    return "\n".join(["<figure>", *parts, f"<figcaption>{escape(caption)}</figcaption>", "</figure>"])


def gallery(figures: Sequence[str]) -> str:
    return "\n".join(['<div class="gallery">', *figures, "</div>"])


def chart_grid(charts: Sequence[str]) -> str:
    return "\n".join(['<div class="charts">', *charts, "</div>"])


def details(summary: str, *parts: str) -> str:
    """Content folded away under a one-line summary (no script: the browser's own disclosure)."""
    return "\n".join([f"<details><summary>{escape(summary)}</summary>", *parts, "</details>"])
