"""Finding the compiled extension ``ganforge._C``: loaded lazily, at most once, never compiled here.

Importing ganforge never touches the extension. The first block that may use it calls
``extension_state()``, which imports ``ganforge._C`` (registering ``torch.ops.ganforge.*``
and their C++ autograd) and the ops' Python fake kernels, or records why that failed.
``GANFORGE_DISABLE_EXTENSION=1`` skips the import, so every block uses the reference.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from types import ModuleType

from ..errors import GanforgeError

DISABLE_ENV = "GANFORGE_DISABLE_EXTENSION"
BUILD_HINT = ("build it from the ganforge checkout with `pip install --no-build-isolation -e .` "
              "(needs a C++ compiler; nvcc too for the CUDA kernels)")


class ExtensionUnavailableError(GanforgeError):
    """The compiled kernels were asked for explicitly but cannot be used."""


@dataclass(frozen=True)
class ExtensionState:
    module: ModuleType | None
    error: str | None  # why module is None
    disabled: bool  # GANFORGE_DISABLE_EXTENSION is set

    @property
    def with_cuda(self) -> bool:
        return bool(self.module is not None and self.module.with_cuda)


_state: ExtensionState | None = None


def disabled_by_env() -> bool:
    return os.environ.get(DISABLE_ENV, "").strip().lower() not in {"", "0", "false", "no", "off"}


def extension_state() -> ExtensionState:
    """Load the extension on first use and remember the outcome."""
    global _state
    if _state is None:
        _state = _load()
    return _state


def _load() -> ExtensionState:
    if disabled_by_env():
        return ExtensionState(None, f"disabled by {DISABLE_ENV}", True)
    import torch  # noqa: F401  (libtorch must be loaded before the extension links against it)

    try:
        from .. import _C
    except ImportError as exc:  # not built, or built against another torch
        return ExtensionState(None, f"{type(exc).__name__}: {exc}", False)
    from .registration import register_python_rules

    register_python_rules()
    return ExtensionState(_C, None, False)


def require_extension(impl: str) -> ModuleType:
    """The loaded extension for an explicit ``impl``, or an error that says how to get it."""
    state = extension_state()
    if state.module is None:
        raise ExtensionUnavailableError(
            f"impl='{impl}' needs the compiled extension ganforge._C, which is unavailable "
            f"({state.error}); {BUILD_HINT}")
    if impl == "cuda" and not state.with_cuda:
        raise ExtensionUnavailableError(
            "impl='cuda' needs ganforge._C built with its CUDA kernels, but it was built for CPU "
            f"only; rebuild on a machine with nvcc and a CUDA torch ({BUILD_HINT})")
    return state.module
