"""Does a CUDA build run on a device? The rules, as a pure function of the build's
``TORCH_CUDA_ARCH_LIST`` (recorded in the extension as ``cuda_archs``) and the device's compute
capability.

What is checked, following NVIDIA's compatibility rules for the code nvcc embeds:

- ``X.Y`` puts a cubin for ``sm_XY`` in the binary. A cubin runs on devices of the same major
  version with an equal or higher minor one (``sm_80`` runs on 8.0, 8.6, 8.9), never on
  another major version (``sm_80`` does not run on 9.0).
- ``X.Ya`` is an architecture-specific cubin (``sm_90a``): it runs on exactly X.Y.
- ``+PTX`` also embeds PTX for ``compute_XY``, which the driver compiles at load time for any
  device of capability X.Y or higher (not for ``X.Ya``'s PTX, which is tied to X.Y). Whether
  the installed driver is new enough to compile that PTX is not checked.
- Named lists ("Ampere", "Hopper", ...) are expanded as torch's extension builder does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# torch.utils.cpp_extension's expansion of architecture names (combined names first).
NAMED_ARCHS = (
    ("Kepler+Tesla", "3.7"), ("Kepler", "3.5+PTX"), ("Maxwell+Tegra", "5.3"),
    ("Maxwell", "5.0;5.2+PTX"), ("Pascal", "6.0;6.1+PTX"), ("Volta+Tegra", "7.2"),
    ("Volta", "7.0+PTX"), ("Turing", "7.5+PTX"), ("Ampere+Tegra", "8.7"),
    ("Ampere", "8.0;8.6+PTX"), ("Ada", "8.9+PTX"), ("Hopper", "9.0+PTX"),
    ("Blackwell+Tegra", "11.0"), ("Blackwell", "10.0;10.3;12.0;12.1+PTX"), ("Rubin", "10.7+PTX"),
)
_ARCH = re.compile(r"^(\d+)\.(\d+)(a?)(\+PTX)?$")


@dataclass(frozen=True)
class BuiltArch:
    major: int
    minor: int
    specific: bool  # "X.Ya": runs on exactly X.Y
    ptx: bool  # "+PTX": PTX for compute_XY embedded too

    @property
    def name(self) -> str:
        return f"sm_{self.major}{self.minor}{'a' if self.specific else ''}"


@dataclass(frozen=True)
class Compatibility:
    runs: bool | None  # None: the recorded list could not be understood
    reason: str


def parse_arch_list(archs: str) -> list[BuiltArch]:
    """``"8.0;9.0a;Hopper 10.0+PTX"`` -> built architectures; ValueError for an unknown entry."""
    text = archs.replace(" ", ";")
    for name, expansion in NAMED_ARCHS:
        text = text.replace(name, expansion)
    parsed = []
    for entry in filter(None, (e.strip() for e in text.split(";"))):
        match = _ARCH.match(entry)
        if match is None:
            raise ValueError(f"unknown CUDA architecture {entry!r}")
        parsed.append(BuiltArch(int(match[1]), int(match[2]), bool(match[3]), bool(match[4])))
    return parsed


def compatibility(archs: str, capability: tuple[int, int]) -> Compatibility:
    """Whether kernels built for ``archs`` run on a device of compute ``capability``, and why."""
    device = f"sm_{capability[0]}{capability[1]}"
    try:
        built = parse_arch_list(archs)
    except ValueError as exc:
        return Compatibility(None, f"cannot tell: {exc} in the recorded list {archs!r}")
    if not built:
        return Compatibility(False, "no CUDA architectures recorded in the build")
    for arch in built:
        if (arch.major, arch.minor) == capability:
            return Compatibility(True, f"cubin {arch.name} built for this {device} device")
    same_major = [a for a in built
                  if not a.specific and a.major == capability[0] and a.minor < capability[1]]
    if same_major:
        arch = max(same_major, key=lambda a: a.minor)
        return Compatibility(True, f"cubin {arch.name} runs on {device} (same major version)")
    portable = [a for a in built if a.ptx and not a.specific and (a.major, a.minor) <= capability]
    if portable:
        arch = max(portable, key=lambda a: (a.major, a.minor))
        return Compatibility(True, f"PTX compute_{arch.major}{arch.minor} is compiled for "
                           f"{device} by the driver at load time")
    names = ", ".join(a.name + ("+PTX" if a.ptx else "") for a in built)
    return Compatibility(False, f"built for {names} only: no cubin for {device} and no PTX it can "
                                f"use; rebuild on this machine (TORCH_CUDA_ARCH_LIST="
                                f"\"{capability[0]}.{capability[1]}\")")
