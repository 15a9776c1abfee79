"""What the compiled extension was built with and what ``auto`` runs, for ``ganforge info``."""

from __future__ import annotations

from .archs import compatibility
from .dispatch import auto_choice
from .extension import extension_state


def extension_info() -> dict:
    """A JSON-serialisable report of the extension's build and of the implementation choices."""
    import torch

    state = extension_state()
    module = state.module
    archs = module.cuda_archs if state.with_cuda else ""
    return {
        "built": module is not None,
        "disabled": state.disabled,
        "stale": state.stale,
        "error": state.error,
        "cpu_kernels": module is not None,
        "cuda_kernels": state.with_cuda,
        "cuda_archs": archs.split(";") if archs else [],
        "built_with_torch": state.built_with_torch,
        "built_with_cuda": (module.cuda_version or None) if module is not None else None,
        "torch_now": torch.__version__,
        "auto_impl": {"cpu": auto_choice("cpu"), "cuda": auto_choice("cuda")},
        "cuda_kernels_for_devices": device_support(state.with_cuda, archs),
    }


def device_support(with_cuda: bool, archs: str) -> dict[str, str]:
    """For each visible CUDA device: whether the built CUDA kernels run on its architecture."""
    import torch

    if not torch.cuda.is_available():
        return {}
    report = {}
    for index in range(torch.cuda.device_count()):
        capability = torch.cuda.get_device_capability(index)
        if not with_cuda:
            report[f"cuda:{index}"] = "no: the extension has no CUDA kernels"
            continue
        verdict = compatibility(archs, capability)
        word = {True: "yes", False: "no", None: "unknown"}[verdict.runs]
        report[f"cuda:{index}"] = f"{word}: {verdict.reason}"
    return report
