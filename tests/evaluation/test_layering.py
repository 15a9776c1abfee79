"""ganforge.evaluation sits below the engine and the CLI: it never imports them."""

from __future__ import annotations

import ast
from pathlib import Path

import ganforge.evaluation

FORBIDDEN = ("ganforge.training", "ganforge.cli")


def imported_modules(path: Path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            package = ["ganforge", "evaluation"][: 3 - node.level] if node.level else []
            module = ".".join(package + ([node.module] if node.module else []))
            yield module
            yield from (f"{module}.{alias.name}" for alias in node.names)  # from .. import training

def test_evaluation_never_imports_training_or_cli():
    files = sorted(Path(ganforge.evaluation.__file__).parent.glob("*.py"))
    assert len(files) >= 6
    for file in files:
        for name in imported_modules(file):
            assert not name.startswith(FORBIDDEN), f"{file.name} imports {name}"
