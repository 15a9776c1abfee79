"""Finding the compiled extension ``ganforge._C``: loaded lazily, at most once, never compiled here.

Importing ganforge never touches the extension. The first block that may use it calls
``extension_state()``, which imports ``ganforge._C`` (registering ``torch.ops.ganforge.*``
and their C++ autograd) and the ops' Python fake kernels, or records why that failed.
``GANFORGE_DISABLE_EXTENSION=1`` skips the import, so every block uses the reference.

A build for another torch than the running one is *stale*: C++ ABIs differ between torch
builds, so it is not used even where it happens to load. The version it was built against is
the module's ``torch_version`` or, when it fails to load (typically ``undefined symbol``),
read from the stamp csrc/module.cpp leaves in the binary. A stale build is warned about once,
with both versions and the rebuild command, and every block uses the reference.
"""

from __future__ import annotations

import importlib.util
import os
import re
import warnings
from dataclasses import dataclass
from types import ModuleType

from ..errors import GanforgeError

DISABLE_ENV = "GANFORGE_DISABLE_EXTENSION"
REBUILD_COMMAND = "pip install --no-build-isolation --no-deps -e ."
BUILD_STAMP = re.compile(rb"ganforge-build-torch-version=([^;\x00]{1,64});")
BUILD_HINT = ("build it from the ganforge checkout with `pip install --no-build-isolation -e .` "
              "(needs a C++ compiler; nvcc too for the CUDA kernels)")


class ExtensionUnavailableError(GanforgeError):
    """The compiled kernels were asked for explicitly but cannot be used."""


@dataclass(frozen=True)
class ExtensionState:
    module: ModuleType | None
    error: str | None  # why module is None
    disabled: bool  # GANFORGE_DISABLE_EXTENSION is set
    stale: bool = False  # built against another torch than the running one
    built_with_torch: str | None = None  # as recorded by the build, where it could be read

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
    import torch  # libtorch must be loaded before the extension links against it

    try:
        _C = _import_compiled()
    except ImportError as exc:  # not built, or built against another torch
        failure = f"{type(exc).__name__}: {exc}"
        recorded = recorded_torch_version(extension_file())
        if recorded is not None and recorded != torch.__version__:
            return _stale(recorded, torch.__version__, f"; it fails to load: {failure}")
        return ExtensionState(None, failure, False, built_with_torch=recorded)
    if _C.torch_version != torch.__version__:
        return _stale(_C.torch_version, torch.__version__, "")
    from .registration import register_python_rules

    register_python_rules()
    return ExtensionState(_C, None, False, built_with_torch=_C.torch_version)


def _import_compiled() -> ModuleType:
    from .. import _C

    return _C


def stale_message(built_with: str, running: str) -> str:
    return (f"ganforge._C was built against torch {built_with} but torch {running} is running "
            f"(a stale build); rebuild it from the ganforge checkout with `{REBUILD_COMMAND}`")


def _stale(built_with: str, running: str, detail: str) -> ExtensionState:
    message = stale_message(built_with, running) + detail
    warnings.warn(f"{message}. Until then every block uses the PyTorch reference.", stacklevel=4)
    return ExtensionState(None, message, False, stale=True, built_with_torch=built_with)


def extension_file() -> str | None:
    """Where ganforge._C's binary is, found without loading it."""
    try:
        spec = importlib.util.find_spec("ganforge._C")
    except (ImportError, ValueError):
        return None
    return spec.origin if spec is not None and spec.has_location else None


def recorded_torch_version(path: str | None) -> str | None:
    """The torch version stamped into an extension binary at build time, or None."""
    if not path:
        return None
    try:
        with open(path, "rb") as f:
            match = BUILD_STAMP.search(f.read())
    except OSError:
        return None
    return match.group(1).decode("ascii", "replace") if match else None


def require_extension(impl: str) -> ModuleType:
    """The loaded extension for an explicit ``impl``, or an error that says how to get it."""
    state = extension_state()
    if state.stale:
        raise ExtensionUnavailableError(f"impl='{impl}' cannot use the compiled kernels: {state.error}")
    if state.module is None:
        raise ExtensionUnavailableError(
            f"impl='{impl}' needs the compiled extension ganforge._C, which is unavailable "
            f"({state.error}); {BUILD_HINT}")
    if impl == "cuda" and not state.with_cuda:
        raise ExtensionUnavailableError(
            "impl='cuda' needs ganforge._C built with its CUDA kernels, but it was built for CPU "
            f"only; rebuild on a machine with nvcc and a CUDA torch ({BUILD_HINT})")
    return state.module
