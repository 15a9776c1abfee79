"""Which implementation runs a block: ``impl`` is "auto", "cuda", "cpu" or "torch"."""

from __future__ import annotations

import warnings

import torch

from ..errors import GanforgeError
from .extension import ExtensionUnavailableError, extension_state, require_extension

IMPLS = ("auto", "cuda", "cpu", "torch")
KERNEL_DTYPES = {
    "cpu": (torch.float32, torch.float64, torch.bfloat16),
    "cuda": (torch.float32, torch.float16, torch.bfloat16, torch.float64),
}

_warned = False


def check_impl(impl: str) -> None:
    if impl not in IMPLS:
        raise GanforgeError(f"unknown impl '{impl}'; choose one of {', '.join(IMPLS)}")


def prepare(impl: str) -> None:
    """Load the extension (and warn about a missing one) when a block is built, not while it runs."""
    check_impl(impl)
    if impl != "torch":
        _warn_if_auto_falls_back(impl)


def _warn_if_auto_falls_back(impl: str) -> None:
    global _warned
    state = extension_state()
    if state.stale:  # already warned, with the versions, when it was found
        _warned = True
    if impl == "auto" and state.module is None and not state.disabled and not _warned:
        _warned = True
        warnings.warn(f"ganforge's fused kernels are not available ({state.error}); the blocks use "
                      f"the PyTorch reference. To get them, "
                      "build with `pip install --no-build-isolation -e .`", stacklevel=3)


def auto_choice(device_type: str, dtype: torch.dtype = torch.float32) -> str:
    """What ``auto`` runs for tensors of this device type and dtype: "cpu", "cuda" or "torch"."""
    state = extension_state()
    if state.module is None or device_type not in KERNEL_DTYPES:
        return "torch"
    if device_type == "cuda" and not state.with_cuda:
        return "torch"
    return device_type if dtype in KERNEL_DTYPES[device_type] else "torch"


def resolve(impl: str, input: torch.Tensor) -> str:
    """The implementation to run for this input: "torch", "cpu" or "cuda"."""
    check_impl(impl)
    if impl == "torch":
        return "torch"
    if impl == "auto":
        _warn_if_auto_falls_back(impl)
        return auto_choice(input.device.type, input.dtype)
    if extension_state().disabled:
        return "torch"
    if input.device.type != impl:
        raise GanforgeError(f"impl='{impl}' cannot run a tensor on {input.device}")
    require_extension(impl)
    if input.dtype not in KERNEL_DTYPES[impl]:
        supported = ", ".join(str(d).removeprefix("torch.") for d in KERNEL_DTYPES[impl])
        raise ExtensionUnavailableError(f"impl='{impl}' supports {supported}, got {input.dtype}")
    return impl
