"""The CUDA extension against the float64 reference (fp32 tight; fp16/bf16 loose)."""

from __future__ import annotations

import pytest
import torch

from conftest import assert_close_to, random_state, run_block
from ganforge.ops import UpsampleBlock

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")

LAYOUTS = {"nchw": torch.contiguous_format, "channels_last": torch.channels_last}
GEOMETRIES = {
    "k4s2p1": (dict(in_channels=16, out_channels=12, kernel_size=4, stride=2, padding=1), (8, 8)),
    "k4s1p0": (dict(in_channels=20, out_channels=40, kernel_size=4, stride=1, padding=0), (1, 1)),
}
TOLERANCES = {torch.float32: (1e-5, 1e-5), torch.float16: (2e-2, 2e-2), torch.bfloat16: (8e-2, 8e-2)}


@pytest.fixture
def cuda_extension(extension):
    if not extension.with_cuda:
        pytest.fail("a GPU is visible but ganforge._C was built without CUDA kernels")
    return extension


def make_case(name: str, slope: float, batch: int = 8, offset: float = 0.0):
    spec, (height, width) = GEOMETRIES[name]
    geometry = dict(spec, negative_slope=slope)
    state = random_state(UpsampleBlock(**geometry, impl="torch"))
    x = torch.randn(batch, spec["in_channels"], height, width) + offset
    with torch.no_grad():
        shape = UpsampleBlock(**geometry, impl="torch").eval()(x).shape
    return geometry, state, x, torch.randn(shape)


@pytest.mark.parametrize("dtype", list(TOLERANCES), ids=lambda d: str(d).removeprefix("torch."))
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("train", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("slope", [0.0, 0.2])
@pytest.mark.parametrize("name", GEOMETRIES)
def test_cuda_matches_float64_reference(cuda_extension, name, slope, train, layout, dtype):
    geometry, state, x, grad_out = make_case(name, slope)
    reference = run_block(state, geometry, "torch", x, grad_out, train=train, dtype=torch.float64)
    fused = run_block(state, geometry, "cuda", x, grad_out, train=train, dtype=dtype,
                      device="cuda", memory_format=LAYOUTS[layout])
    if dtype != torch.float32:
        # Running statistics stay in the module's dtype; compare them at that precision.
        reference = {k: v for k, v in reference.items() if not k.startswith("running")}
    rtol, atol = TOLERANCES[dtype]
    assert_close_to(fused, reference, rtol=rtol, atol_fraction=atol)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_cuda_large_mean_offset(cuda_extension, layout):
    geometry, state, x, grad_out = make_case("k4s1p0", 0.2, batch=32, offset=1000.0)
    state["0.weight"] = state["0.weight"].abs() * 0.05 + 0.01
    reference = run_block(state, geometry, "torch", x, grad_out, train=True, dtype=torch.float64)
    fused = run_block(state, geometry, "cuda", x, grad_out, train=True, device="cuda",
                      memory_format=LAYOUTS[layout])
    assert_close_to(fused, reference, rtol=1e-3, atol_fraction=1e-3)


def test_cuda_runs_on_the_current_stream(cuda_extension):
    geometry, state, x, grad_out = make_case("k4s2p1", 0.2)
    stream = torch.cuda.Stream()
    with torch.cuda.stream(stream):
        fused = run_block(state, geometry, "cuda", x, grad_out, train=True, device="cuda")
    stream.synchronize()
    reference = run_block(state, geometry, "torch", x, grad_out, train=True, dtype=torch.float64)
    assert_close_to(fused, reference, rtol=1e-5, atol_fraction=1e-5)


def test_cuda_opcheck(cuda_extension):
    x = torch.randn(2, 3, 4, 4, device="cuda", requires_grad=True)
    weight = torch.randn(3, 5, 4, 4, device="cuda", requires_grad=True)
    gamma = torch.rand(5, device="cuda", requires_grad=True)
    beta = torch.randn(5, device="cuda", requires_grad=True)
    torch.library.opcheck(torch.ops.ganforge.upsample_bn_act.default,
                          (x, weight, gamma, beta, None, None, [2, 2], [1, 1], 1e-5, 0.0))
