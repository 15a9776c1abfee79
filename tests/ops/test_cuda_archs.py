"""Whether a CUDA build's recorded architectures run on a device: the rules as a pure function."""

from __future__ import annotations

import pytest

from ganforge.ops.archs import compatibility, parse_arch_list


@pytest.mark.parametrize("archs, capability, runs, how", [
    ("8.0;9.0", (9, 0), True, "cubin sm_90 built for this sm_90"),
    ("8.0;9.0", (8, 6), True, "cubin sm_80 runs on sm_86 (same major"),
    ("8.0", (9, 0), False, "no cubin for sm_90 and no PTX"),
    ("8.0+PTX", (9, 0), True, "PTX compute_80"),
    ("8.0+PTX", (12, 0), True, "PTX compute_80"),
    ("9.0+PTX", (8, 9), False, "built for sm_90+PTX only"),
    ("8.6", (8, 0), False, "no cubin for sm_80"),  # a newer minor does not run on an older one
    ("9.0a", (9, 0), True, "cubin sm_90a built for this"),
    ("9.0a", (10, 0), False, "no cubin for sm_100"),
    ("9.0a+PTX", (10, 0), False, "no cubin for sm_100"),  # arch-specific PTX does not move up
    ("10.0;12.0", (10, 3), True, "cubin sm_100 runs on sm_103"),
    ("Ampere", (8, 9), True, "cubin sm_86 runs on sm_89"),
    ("Ampere", (9, 0), True, "PTX compute_86"),
    ("Hopper", (9, 0), True, "cubin sm_90 built"),
    ("7.5 8.0", (8, 0), True, "cubin sm_80 built"),
    ("", (9, 0), False, "no CUDA architectures recorded"),
])
def test_compatibility_rules(archs, capability, runs, how):
    verdict = compatibility(archs, capability)
    assert verdict.runs is runs
    assert how in verdict.reason


def test_a_list_it_cannot_read_is_unknown_not_yes_or_no():
    verdict = compatibility("8.0;sm_90", (9, 0))
    assert verdict.runs is None and "cannot tell" in verdict.reason


def test_parse_expands_names_and_flags():
    archs = parse_arch_list("Volta;9.0a+PTX")
    assert [(a.name, a.ptx) for a in archs] == [("sm_70", True), ("sm_90a", True)]
    with pytest.raises(ValueError, match="unknown CUDA architecture"):
        parse_arch_list("9")


def test_no_gpu_reports_no_devices():
    import torch

    from ganforge.ops.info import device_support

    if torch.cuda.is_available():
        pytest.skip("checks the no-GPU report")
    assert device_support(True, "8.0;9.0") == {}
