"""``ganforge report``: one self-contained HTML page of a run directory or of a repeat directory,
built from their files alone (images embedded as data: URIs, charts as inline SVG, inline CSS,
no script), written atomically.

    ganforge.report.write_report(Path("runs/dcgan-20261123-140512"))   # -> runs/.../report.html

Reads run files only: sits above ``training/``, ``evaluation/`` and ``repeat.py``, below ``cli/``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from ..errors import GanforgeError
from ..files import atomic_write_text
from ..repeat import is_repeat_dir
from ..result_files import SUMMARY_FILE

REPORT_FILE = "report.html"


def write_report(source: Path, out: Optional[Path] = None) -> Path:
    """Write the page of ``source`` (a run directory, a repeat directory or its summary.json) to
    ``out`` (default: report.html in the directory); returns the path written. A mistake raises
    GanforgeError before anything is written."""
    directory, html = build_report(Path(source))
    target = Path(out) if out is not None else directory / REPORT_FILE
    atomic_write_text(target, html)
    return target


def build_report(source: Path) -> tuple[Path, str]:
    """(the run or repeat directory, its page)."""
    from .repeat_page import read_summary, repeat_page
    from .run_page import is_run_dir, run_page

    if source.is_file() and is_repeat_dir(source.parent):
        return source.parent, repeat_page(source.parent, read_summary(source))
    if is_repeat_dir(source):
        if not (source / SUMMARY_FILE).is_file():
            raise GanforgeError(f"the repeat {source} has no {SUMMARY_FILE} yet; finish it with "
                                f"`ganforge train --resume {source}`")
        return source, repeat_page(source, read_summary(source / SUMMARY_FILE))
    if source.is_dir() and is_run_dir(source):
        return source, run_page(source)
    raise GanforgeError(f"{source}: neither a run directory (with config.json) nor a repeat directory "
                        f"(with repeat.json) or its {SUMMARY_FILE}")
