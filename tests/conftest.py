"""Shared fixtures: real temporary distributions for plugin discovery, and a clean registry."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from ganforge import registry


@pytest.fixture(autouse=True)
def _fresh_registry():
    registry.clear_cache()
    yield
    registry.clear_cache()


@pytest.fixture
def make_distribution(tmp_path, monkeypatch):
    """Create an installed distribution on sys.path: ``NAME-VERSION.dist-info`` with
    METADATA and entry_points.txt, plus the given modules. Returns the site directory."""
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))

    def make(name: str, entry_points: dict[str, dict[str, str]], modules: dict[str, str] | None = None,
             version: str = "1.0") -> Path:
        info = site / f"{name.replace('-', '_')}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
        lines = []
        for group, entries in entry_points.items():
            lines.append(f"[{group}]")
            lines += [f"{k} = {v}" for k, v in entries.items()]
        (info / "entry_points.txt").write_text("\n".join(lines) + "\n")
        for module, source in (modules or {}).items():
            (site / f"{module}.py").write_text(textwrap.dedent(source))
        registry.clear_cache()
        return site

    return make
