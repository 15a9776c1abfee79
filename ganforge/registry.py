"""Entry-point discovery of architecture and loss plugins.

Finding is cheap: it reads the ``entry_points.txt`` of installed distributions and
imports nothing. Loading imports one plugin and validates it against its interface.
The built-ins are declared in ganforge's own pyproject.toml and found the same way.
"""

from __future__ import annotations

import difflib
import os
import re
from dataclasses import dataclass
from importlib import metadata
from typing import Any

from .errors import FailedToLoadPlugin, PluginClashError, UnknownPluginError
from .interfaces import instantiate_plugin

GROUPS = {"architecture": "ganforge.architectures", "loss": "ganforge.losses"}
BUILTIN_DISTRIBUTION = "ganforge"
DISABLE_AUTOLOAD_ENV = "GANFORGE_DISABLE_PLUGIN_AUTOLOAD"


@dataclass(frozen=True)
class FoundPlugin:
    """A plugin named by an entry point; nothing imported yet."""

    name: str
    kind: str  # "architecture" or "loss"
    value: str  # "module:attr"
    distribution: str
    version: str
    entry_point: metadata.EntryPoint

    @property
    def builtin(self) -> bool:
        return _normalize(self.distribution) == BUILTIN_DISTRIBUTION

    @property
    def where(self) -> str:
        return f"{self.kind} plugin '{self.name}' from {self.distribution} {self.version}"

    def load(self) -> "LoadedPlugin":
        """Import the plugin and validate it; errors name the distribution."""
        try:
            obj = self.entry_point.load()
        except Exception as exc:  # noqa: BLE001 - any import-time failure is the plugin's
            raise FailedToLoadPlugin(self.name, self.kind, self.distribution, self.version, exc) from exc
        return LoadedPlugin(found=self, obj=instantiate_plugin(self.kind, obj, self.where))


@dataclass(frozen=True)
class LoadedPlugin:
    found: FoundPlugin
    obj: Any  # an Architecture or Loss instance


@dataclass(frozen=True)
class Clash:
    """Two or more third-party distributions claim one name: an error when requested."""

    name: str
    kind: str
    candidates: tuple[FoundPlugin, ...]

    def error(self) -> PluginClashError:
        who = " and ".join(f"{p.distribution} {p.version} ({p.value})" for p in self.candidates)
        return PluginClashError(
            f"{self.kind} name '{self.name}' is registered by {who}; uninstall one of them"
        )


@dataclass(frozen=True)
class PluginIndex:
    """Everything found for one kind: usable plugins, clashes, and third parties shadowed by built-ins."""

    kind: str
    plugins: dict[str, FoundPlugin]
    clashes: dict[str, Clash]
    shadowed: tuple[FoundPlugin, ...]

    def names(self) -> list[str]:
        return sorted({*self.plugins, *self.clashes})

    def get(self, name: str) -> FoundPlugin:
        if name in self.clashes:
            raise self.clashes[name].error()
        try:
            return self.plugins[name]
        except KeyError:
            raise UnknownPluginError(self._unknown_message(name)) from None

    def _unknown_message(self, name: str) -> str:
        message = f"unknown {self.kind} '{name}'"
        close = difflib.get_close_matches(name, self.names(), n=1)
        if close:
            message += f"; did you mean '{close[0]}'?"
        return message + f" (available: {', '.join(self.names())})"


_cache: dict[str, PluginIndex] = {}


def clear_cache() -> None:
    """Forget what was found (after installing or removing distributions at run time)."""
    _cache.clear()


def find(kind: str) -> PluginIndex:
    """Index the plugins of one kind by name, importing nothing."""
    if kind not in GROUPS:
        raise ValueError(f"kind must be one of {sorted(GROUPS)}, got {kind!r}")
    if kind not in _cache:
        _cache[kind] = _build_index(kind)
    return _cache[kind]


def load(kind: str, name: str) -> LoadedPlugin:
    return find(kind).get(name).load()


def load_architecture(name: str):
    """Return the validated Architecture instance registered as ``name``."""
    return load("architecture", name).obj


def load_loss(name: str):
    """Return the validated Loss instance registered as ``name``."""
    return load("loss", name).obj


def autoload_disabled() -> bool:
    return os.environ.get(DISABLE_AUTOLOAD_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


def _build_index(kind: str) -> PluginIndex:
    group = GROUPS[kind]
    only_builtins = autoload_disabled()
    by_name: dict[str, list[FoundPlugin]] = {}
    for dist in _unique_distributions():
        dist_name = dist.metadata["Name"] or "unknown"
        if only_builtins and _normalize(dist_name) != BUILTIN_DISTRIBUTION:
            continue
        for ep in dist.entry_points:
            if ep.group != group:
                continue
            found = FoundPlugin(ep.name, kind, ep.value, dist_name, dist.version or "?", ep)
            by_name.setdefault(ep.name, []).append(found)

    plugins: dict[str, FoundPlugin] = {}
    clashes: dict[str, Clash] = {}
    shadowed: list[FoundPlugin] = []
    for name, candidates in by_name.items():
        builtins = [c for c in candidates if c.builtin]
        if builtins:
            plugins[name] = builtins[0]
            shadowed.extend(c for c in candidates if not c.builtin)
        elif len(candidates) == 1:
            plugins[name] = candidates[0]
        else:
            clashes[name] = Clash(name, kind, tuple(candidates))
    return PluginIndex(kind, plugins, clashes, tuple(shadowed))


def _unique_distributions():
    """Installed distributions, each once: the first on sys.path wins, as for imports."""
    seen: set[str] = set()
    for dist in metadata.distributions():
        name = dist.metadata["Name"]
        if not name:
            continue
        key = _normalize(name)
        if key in seen:
            continue
        seen.add(key)
        yield dist


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


__all__ = [
    "FoundPlugin",
    "LoadedPlugin",
    "PluginIndex",
    "Clash",
    "find",
    "load",
    "load_architecture",
    "load_loss",
    "clear_cache",
    "GROUPS",
]
