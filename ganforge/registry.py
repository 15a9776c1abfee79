"""Entry-point discovery of architecture, loss and step plugins.

Finding is cheap: it reads the ``entry_points.txt`` of installed distributions and
imports nothing. Loading imports one plugin and validates it against its interface.
The built-ins are declared in ganforge's own pyproject.toml and found the same way.

A plugin is named by its entry-point name (``hinge``) or, to pick one of several
distributions that register that name, by ``DIST:NAME`` (``ganforge-sngan:hinge``).
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from importlib import metadata
from typing import Any, Iterator, Optional

from .errors import FailedToLoadPlugin, PluginClashError, UnknownPluginError
from .interfaces import instantiate_plugin
from .words import env_switch

GROUPS = {"architecture": "ganforge.architectures", "loss": "ganforge.losses", "step": "ganforge.steps"}
BUILTIN_DISTRIBUTION = "ganforge"
DISABLE_AUTOLOAD_ENV = "GANFORGE_DISABLE_PLUGIN_AUTOLOAD"
#: The loss of a run that names none and whose architecture names none.
DEFAULT_LOSS = "nonsaturating"
#: The step of a run that names none and whose architecture names none: D updates, then G updates.
DEFAULT_STEP = "alternating"


@dataclass(frozen=True)
class FoundPlugin:
    """A plugin named by an entry point; nothing imported yet."""

    name: str
    kind: str  # "architecture", "loss" or "step"
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

    @property
    def qualified_name(self) -> str:
        """``DIST:NAME``: names this plugin whatever else registers ``NAME``."""
        return f"{self.distribution}:{self.name}"

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
    obj: Any  # an Architecture, Loss or Step instance


@dataclass(frozen=True)
class Clash:
    """Two or more third-party distributions claim one name: an error when requested."""

    name: str
    kind: str
    candidates: tuple[FoundPlugin, ...]

    def error(self) -> PluginClashError:
        who = " and ".join(f"{p.distribution} {p.version} ({p.value})" for p in self.candidates)
        choices = " or ".join(p.qualified_name for p in self.candidates)
        example = self.candidates[0].qualified_name
        usage = f"--{self.kind} {example}" if self.kind in ("loss", "step") else f"ganforge train {example}"
        return PluginClashError(
            f"{self.kind} name '{self.name}' is registered by {who}; name one as {choices} "
            f"(e.g. {usage}), or uninstall one of them"
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

    def get(self, name: str, prefer: Optional[str] = None) -> FoundPlugin:
        """The plugin ``name`` (or ``DIST:NAME``) names. With ``prefer`` (a distribution
        name), that distribution's plugin of this name comes first, before built-ins and
        clashes; otherwise built-ins win and a clash between third parties is an error."""
        dist, sep, plain = name.rpartition(":")
        if sep and name not in self.plugins and name not in self.clashes:
            return self._qualified(dist, plain, name)
        if prefer is not None:
            for found in self.candidates(name):
                if _normalize(found.distribution) == _normalize(prefer):
                    return found
        if name in self.clashes:
            raise self.clashes[name].error()
        try:
            return self.plugins[name]
        except KeyError:
            raise UnknownPluginError(self._unknown_message(name)) from None

    def candidates(self, name: str) -> tuple[FoundPlugin, ...]:
        """Every plugin registered as ``name``: the one in use, clashing ones, shadowed ones."""
        return tuple(p for p in self.all_found() if p.name == name)

    def all_found(self) -> Iterator[FoundPlugin]:
        """Every entry point found, each once, ordered by name."""
        everything = [*self.plugins.values(), *self.shadowed]
        for clash in self.clashes.values():
            everything.extend(clash.candidates)
        return iter(sorted(everything, key=lambda p: (p.name, not p.builtin, _normalize(p.distribution))))

    def name_for(self, found: FoundPlugin) -> str:
        """The shortest name that selects ``found``: NAME when that is unambiguous, else DIST:NAME."""
        if self.plugins.get(found.name) == found:
            return found.name
        return found.qualified_name

    def _qualified(self, dist: str, plain: str, name: str) -> FoundPlugin:
        for found in self.candidates(plain):
            if _normalize(found.distribution) == _normalize(dist):
                return found
        providers = [p.distribution for p in self.candidates(plain)]
        if providers:
            raise UnknownPluginError(f"unknown {self.kind} '{name}': {dist} does not register '{plain}' "
                                     f"(registered by {', '.join(providers)})")
        in_dist = sorted(p.name for p in self.all_found() if _normalize(p.distribution) == _normalize(dist))
        if in_dist:
            raise UnknownPluginError(f"unknown {self.kind} '{name}': {dist} registers {', '.join(in_dist)}")
        raise UnknownPluginError(self._unknown_message(name))

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


def resolve_loss(requested: Optional[str], architecture: Any = None,
                 distribution: Optional[str] = None) -> FoundPlugin:
    """The loss plugin of a run: the one rule, used by training and the conformance kit.

    ``requested`` (``--loss``, a TOML ``loss`` or the kit's ``loss=``; NAME or DIST:NAME)
    wins and is looked up as any name is. Else the architecture's ``defaults["loss"]`` is
    looked up in the architecture's own ``distribution`` first, so a package's default
    loss is its own even when another package registers the same name. Else DEFAULT_LOSS.
    """
    return _resolve("loss", requested, architecture, distribution, DEFAULT_LOSS)


def resolve_step(requested: Optional[str], architecture: Any = None,
                 distribution: Optional[str] = None) -> FoundPlugin:
    """The step plugin of a run, by the same rule as the loss (``--step``, else the architecture's
    ``defaults["step"]`` from its own distribution first, else DEFAULT_STEP)."""
    return _resolve("step", requested, architecture, distribution, DEFAULT_STEP)


def _resolve(kind: str, requested: Optional[str], architecture: Any, distribution: Optional[str],
             fallback: str) -> FoundPlugin:
    index = find(kind)
    if requested:
        return index.get(requested)
    default = dict(getattr(architecture, "defaults", None) or {}).get(kind)
    if default:
        return index.get(default, prefer=distribution)
    return index.get(fallback)


def distribution_of(kind: str, obj: Any) -> Optional[str]:
    """The distribution whose entry point names ``obj``'s class (or ``obj``), if any; imports nothing."""
    cls = obj if isinstance(obj, type) else type(obj)
    for found in find(kind).all_found():
        ep = found.entry_point
        if ep.module == cls.__module__ and ep.attr == cls.__qualname__:
            return found.distribution
    return None


def autoload_disabled() -> bool:
    return env_switch(DISABLE_AUTOLOAD_ENV)


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
            clashes[name] = Clash(name, kind, tuple(sorted(candidates, key=lambda c: _normalize(c.distribution))))
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
    "resolve_loss",
    "resolve_step",
    "distribution_of",
    "DEFAULT_LOSS",
    "DEFAULT_STEP",
    "clear_cache",
    "GROUPS",
]
