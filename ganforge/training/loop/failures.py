"""Turning an exception raised inside a training step into one line that says whose it was.

A plugin's network or loss that raises during training is named (plugin, distribution, step);
running out of memory names the options to lower. Anything else is left as it is. The original
exception stays the ``__cause__`` (``GANFORGE_DEBUG=1`` shows the traceback).
"""

from __future__ import annotations

import traceback
from typing import Optional

from ...errors import GanforgeError
from ...registry import LoadedPlugin


class PluginRuntimeError(GanforgeError):
    """A plugin raised during training."""


class OutOfMemory(GanforgeError):
    """A training step did not fit in memory."""


def explain(exc: BaseException, step: int, plugins: tuple[LoadedPlugin, ...]) -> Optional[GanforgeError]:
    """A one-line error for ``exc`` raised at (0-based) ``step``, or None to let it through."""
    if isinstance(exc, GanforgeError):
        return None
    text = " ".join(str(exc).split())
    if _is_out_of_memory(exc, text):
        return OutOfMemory(f"out of memory at step {step + 1} ({text[:160]}); lower --batch-size or "
                           f"--image-size, or the architecture's width options (-O)")
    culprit = _culprit(exc, plugins)
    if culprit is None:
        return None
    return PluginRuntimeError(f"{culprit.found.where} raised {type(exc).__name__} at step {step + 1}: {text}; "
                              f"the run keeps its last checkpoint (GANFORGE_DEBUG=1 shows the traceback)")


def _is_out_of_memory(exc: BaseException, text: str) -> bool:
    import torch

    if isinstance(exc, (MemoryError, torch.OutOfMemoryError)):
        return True
    return isinstance(exc, RuntimeError) and ("can't allocate memory" in text or "out of memory" in text)


def _culprit(exc: BaseException, plugins: tuple[LoadedPlugin, ...]) -> Optional[LoadedPlugin]:
    """The plugin whose code is innermost in the traceback."""
    packages = {p: _package(p) for p in plugins}
    for frame, _ in reversed(list(traceback.walk_tb(exc.__traceback__))):
        module = frame.f_globals.get("__name__", "")
        for plugin, package in packages.items():
            if module == package or module.startswith(package + "."):
                return plugin
    return None


def _package(plugin: LoadedPlugin) -> str:
    """A third party's top-level package; for a built-in, the sub-package holding it
    (ganforge.models, ganforge.losses), since all of ganforge shares the top level."""
    module = plugin.found.entry_point.module
    parts = module.split(".")
    return ".".join(parts[:2]) if plugin.found.builtin and len(parts) > 2 else parts[0]
