"""Turning --device into a torch.device, with errors a user can act on."""

from __future__ import annotations

import re

from .errors import GanforgeError


def resolve_device(name: str):
    import torch

    name = name.strip().lower()
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cpu":
        return torch.device("cpu")
    match = re.fullmatch(r"cuda(?::(\d+))?", name)
    if match:
        if not torch.cuda.is_available():
            build = "a CPU-only build" if torch.version.cuda is None else f"a CUDA {torch.version.cuda} build"
            raise GanforgeError(
                f"--device {name}: CUDA is not available (torch {torch.__version__} is {build}"
                f"{'' if torch.version.cuda is None else ' but no GPU is visible'}); use --device cpu"
            )
        index = int(match.group(1) or 0)
        if index >= torch.cuda.device_count():
            raise GanforgeError(f"--device {name}: only {torch.cuda.device_count()} CUDA device(s) visible")
        return torch.device("cuda", index)
    if name == "mps":
        if not _mps_available():
            raise GanforgeError("--device mps: Apple's MPS backend is not available here; use --device cpu")
        return torch.device("mps")
    raise GanforgeError(f"--device must be auto, cpu, cuda, cuda:N or mps, got '{name}'")


#: CPU features that compute bfloat16 in hardware: x86's AVX512-BF16 and AMX-BF16, Arm's BF16.
NATIVE_BF16_FLAGS = ("avx512_bf16", "amx_bf16", "bf16")


def cpu_flags(cpuinfo: str = "/proc/cpuinfo") -> frozenset[str]:
    """The CPU's feature flags ("flags" on x86, "Features" on Arm); empty where unknown."""
    try:
        with open(cpuinfo, encoding="utf-8", errors="replace") as f:
            for line in f:
                key, sep, value = line.partition(":")
                if sep and key.strip().lower() in ("flags", "features"):
                    return frozenset(value.split())
    except OSError:
        pass
    return frozenset()


def cpu_has_native_bf16(flags: frozenset[str]) -> bool:
    """Whether the CPU computes bfloat16 in hardware; without it autocast to bf16 is emulated,
    slower than fp32 (an AVX2-only CPU, for example)."""
    return any(flag in flags for flag in NATIVE_BF16_FLAGS)


def _mps_available() -> bool:
    import torch

    backend = getattr(torch.backends, "mps", None)
    return bool(backend and backend.is_available())
