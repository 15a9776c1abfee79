"""What the compiled extension was built with and what ``auto`` runs, for ``ganforge info``."""

from __future__ import annotations

from .dispatch import auto_choice
from .extension import extension_state


def extension_info() -> dict:
    """A JSON-serialisable report of the extension's build and of the implementation choices."""
    import torch

    state = extension_state()
    module = state.module
    return {
        "built": module is not None,
        "disabled": state.disabled,
        "error": state.error,
        "cpu_kernels": module is not None,
        "cuda_kernels": state.with_cuda,
        "cuda_archs": module.cuda_archs.split(";") if state.with_cuda else [],
        "built_with_torch": module.torch_version if module is not None else None,
        "built_with_cuda": (module.cuda_version or None) if module is not None else None,
        "torch_now": torch.__version__,
        "auto_impl": {"cpu": auto_choice("cpu"), "cuda": auto_choice("cuda")},
    }
