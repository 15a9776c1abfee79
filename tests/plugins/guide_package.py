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



def put_on_path(installed: tuple[Path, Path], monkeypatch) -> Path:
    """Make an installed guide package importable and discoverable for one test; returns its project."""
    from ganforge import registry

    project, target = installed
    monkeypatch.syspath_prepend(str(target))
    registry.clear_cache()
    return project


def run_package_tests(test_file: Path) -> int:
    """Run every ``test_*`` function of a guide package's test file; returns how many ran."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(f"guide_tests_{test_file.stem}", test_file)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    tests = [getattr(module, name) for name in dir(module) if name.startswith("test_")]
    for test in tests:
        test()
    return len(tests)
