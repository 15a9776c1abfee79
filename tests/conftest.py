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


@pytest.fixture(scope="session")
def classifier_cache(tmp_path_factory):
    """One digit classifier per test session, trained into a temporary cache directory."""
    from ganforge.evaluation.classifier import load_or_train_classifier

    root = tmp_path_factory.mktemp("ganforge-cache")
    load_or_train_classifier(root=root)  # the one training of the session
    return root


@pytest.fixture
def digit_cache_env(classifier_cache, monkeypatch):
    """Point GANFORGE_CACHE_DIR (this process and its subprocesses) at the session's classifier."""
    from ganforge.evaluation.cache import CACHE_ENV

    monkeypatch.setenv(CACHE_ENV, str(classifier_cache))
    return classifier_cache


def pytest_addoption(parser):
    parser.addoption("--run-slow", action="store_true", help="also run the tests marked slow")


def pytest_collection_modifyitems(config, items):
    """Tests marked slow (fault injection with 25 kill/resume trials, 1,000+ fuzz inputs) run
    with --run-slow or -m slow; the default suite stays a few minutes."""
    expression = config.option.markexpr or ""
    if config.getoption("--run-slow") or ("slow" in expression and "not slow" not in expression):
        return
    skip = pytest.mark.skip(reason="slow: run with --run-slow or -m slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)
