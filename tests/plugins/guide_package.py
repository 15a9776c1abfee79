"""Helpers for tests built from docs/PLUGINS.md: the guide's file blocks as a pip-installed package."""

import re
import subprocess
import sys
from pathlib import Path

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "PLUGINS.md"


def guide_files(marker: str) -> dict[str, str]:
    """The guide's ``<!-- MARKER: PATH -->`` code blocks, by path."""
    block = re.compile(rf"<!-- {marker}: (?P<path>[^ ]+) -->\n```[a-z]*\n(?P<body>.*?)\n```\n", re.S)
    return {m["path"]: m["body"] + "\n" for m in block.finditer(GUIDE.read_text(encoding="utf-8"))}


def install_guide_package(root: Path, marker: str, name: str) -> tuple[Path, Path]:
    """Write the guide's ``marker`` files as project ``name`` under ``root`` and pip-install it into a
    private target dir; returns (project, target)."""
    project, target = root / name, root / "site"
    for rel, body in guide_files(marker).items():
        (project / rel).parent.mkdir(parents=True, exist_ok=True)
        (project / rel).write_text(body, encoding="utf-8")
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-build-isolation", "--no-deps",
                    "--no-index", "--target", str(target), str(project)], check=True)
    return project, target

