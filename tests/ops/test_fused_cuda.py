"""The CUDA extension against the float64 reference (fp32 tight; fp16/bf16 loose): outputs, all
gradients and running statistics, NCHW and channels_last, odd shapes, a large mean offset,
momentum=None against nn.BatchNorm2d, and opcheck of every op (backward ops included) on CUDA.
Mirrors test_fused_cpu.py; skips without a CUDA device (benchmarks/gpu/check.sh runs it)."""

from __future__ import annotations

import pytest
import torch

from conftest import (assert_close_to, cumulative_average_against_sequential, random_state,
                      run_block, run_bn_act)
from ganforge.ops import UpsampleBlock, upsample_bn_act

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")

LAYOUTS = {"nchw": torch.contiguous_format, "channels_last": torch.channels_last}
GEOMETRIES = {
    "k4s2p1": (dict(in_channels=16, out_channels=12, kernel_size=4, stride=2, padding=1), (8, 8)),
    "k4s1p0": (dict(in_channels=20, out_channels=40, kernel_size=4, stride=1, padding=0), (1, 1)),
    # Odd channel counts and non-square inputs: no vector width or tile divides them.
    "odd-k4s2p1-3x5": (dict(in_channels=7, out_channels=13, kernel_size=4, stride=2, padding=1), (3, 5)),
    "odd-k3s1p1-5x3": (dict(in_channels=13, out_channels=7, kernel_size=3, stride=1, padding=1), (5, 3)),
}
DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
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


def check_against_reference(name, slope, train, layout, dtype, batch=8):
    geometry, state, x, grad_out = make_case(name, slope, batch=batch)
    reference = run_block(state, geometry, "torch", x, grad_out, train=train, dtype=torch.float64)
    fused = run_block(state, geometry, "cuda", x, grad_out, train=train, dtype=dtype,
                      device="cuda", memory_format=LAYOUTS[layout])
    eager = run_block(state, geometry, "torch", x, grad_out, train=train, dtype=dtype,
                      device="cuda", memory_format=LAYOUTS[layout])
    rtol, atol = TOLERANCES[dtype]
    # Running statistics are held in the module's dtype, so they are compared at its precision.
    assert_close_to(fused, reference, rtol=rtol, atol_fraction=atol)
    assert fused["out"].dtype == fused["grad_input"].dtype == dtype
    for key in ("out", "grad_input"):  # the same memory layout as eager PyTorch
        assert fused[key].stride() == eager[key].stride(), key


@pytest.mark.parametrize("dtype", DTYPES.values(), ids=DTYPES)
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("train", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("slope", [0.0, 0.2])
@pytest.mark.parametrize("name", GEOMETRIES)
def test_cuda_matches_float64_reference(cuda_extension, name, slope, train, layout, dtype):
    check_against_reference(name, slope, train, layout, dtype)


@pytest.mark.parametrize("dtype", DTYPES.values(), ids=DTYPES)
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("name", ["k4s2p1", "odd-k4s2p1-3x5", "k4s1p0"])
def test_cuda_batch_one_in_training(cuda_extension, name, layout, dtype):
    """Batch 1 is legal in training whenever the output has more than one pixel."""
    check_against_reference(name, 0.2, True, layout, dtype, batch=1)


def test_cuda_float64_kernel_is_exact_enough(cuda_extension):
    geometry, state, x, grad_out = make_case("odd-k4s2p1-3x5", 0.2)
    reference = run_block(state, geometry, "torch", x, grad_out, train=True, dtype=torch.float64)
    fused = run_block(state, geometry, "cuda", x, grad_out, train=True, dtype=torch.float64,
                      device="cuda")
    assert_close_to(fused, reference, rtol=1e-11, atol_fraction=1e-11)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_cuda_large_mean_offset(cuda_extension, layout):
    """The conv output's mean far above its spread: statistics from raw sums of squares in
    float32 would cancel to garbage."""
    geometry, state, x, grad_out = make_case("k4s1p0", 0.2, batch=32, offset=1000.0)
    state["0.weight"] = state["0.weight"].abs() * 0.05 + 0.01
    reference = run_block(state, geometry, "torch", x, grad_out, train=True, dtype=torch.float64)
    spread = float(reference["running_var"].sqrt().min())
    assert spread < 20, "the offset should dominate the spread for this test to mean anything"
    fused = run_block(state, geometry, "cuda", x, grad_out, train=True, device="cuda",
                      memory_format=LAYOUTS[layout])
    assert_close_to(fused, reference, rtol=1e-3, atol_fraction=1e-3)


def test_cuda_momentum_none_float64_matches_batchnorm2d(cuda_extension):
    block, sequential = cumulative_average_against_sequential("cuda", device="cuda", steps=5)
    assert int(block["num_batches_tracked"]) == int(sequential["num_batches_tracked"]) == 3 + 5
    for name, want in sequential.items():
        torch.testing.assert_close(block[name], want, rtol=1e-12, atol=1e-14, msg=name)


def test_cuda_non_contiguous_input(cuda_extension):
    geometry, state, x, grad_out = make_case("odd-k4s2p1-3x5", 0.2)
    reference = run_block(state, geometry, "torch", x, grad_out, train=True, dtype=torch.float64)
    block = UpsampleBlock(**geometry, impl="cuda")
    block.load_state_dict(state)
    block.cuda()
    wide = torch.zeros(*x.shape[:3], 2 * x.shape[3], device="cuda")
    wide[..., ::2] = x.cuda()
    leaf = wide.requires_grad_()
    out = block(leaf[..., ::2])
    out.backward(grad_out.cuda())
    torch.testing.assert_close(out.double().cpu(), reference["out"], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(leaf.grad[..., ::2].double().cpu(), reference["grad_input"],
                               rtol=1e-5, atol=1e-5 * float(reference["grad_input"].abs().max()))
    assert float(leaf.grad[..., 1::2].abs().max()) == 0.0


def test_cuda_runs_on_the_current_stream(cuda_extension):
    geometry, state, x, grad_out = make_case("k4s2p1", 0.2)
    stream = torch.cuda.Stream()
    with torch.cuda.stream(stream):
        fused = run_block(state, geometry, "cuda", x, grad_out, train=True, device="cuda")
    stream.synchronize()
    reference = run_block(state, geometry, "torch", x, grad_out, train=True, dtype=torch.float64)
    assert_close_to(fused, reference, rtol=1e-5, atol_fraction=1e-5)


def test_cuda_gradcheck_float64(cuda_extension):
    options = dict(dtype=torch.float64, device="cuda")
    x = torch.randn(2, 3, 3, 5, **options, requires_grad=True)
    weight = torch.randn(3, 2, 4, 4, **options, requires_grad=True)
    gamma = (1 + 0.2 * torch.randn(2, **options)).requires_grad_()
    beta = (0.2 * torch.randn(2, **options)).requires_grad_()
    running_mean = 0.1 * torch.randn(2, **options)
    running_var = 0.5 + torch.rand(2, **options)
    for train in (True, False):
        def block(*args, train=train):
            return upsample_bn_act(*args, running_mean, running_var, None, stride=2, padding=1,
                                   training=train, momentum=0.0, negative_slope=0.2, impl="cuda")

        assert torch.autograd.gradcheck(block, (x, weight, gamma, beta))


@pytest.mark.parametrize("dtype", DTYPES.values(), ids=DTYPES)
@pytest.mark.parametrize("layout", LAYOUTS)
def test_cuda_bn_act_part_alone(cuda_extension, layout, dtype):
    y = (torch.randn(5, 13, 6, 7) * 3 + 50).contiguous(memory_format=LAYOUTS[layout])
    gamma, beta, grad = 1 + 0.3 * torch.randn(13), torch.randn(13), torch.randn(5, 13, 6, 7)
    fused = run_bn_act(y.cuda(), gamma.cuda(), beta.cuda(), grad.cuda(), impl="cuda", dtype=dtype)
    reference = run_bn_act(y, gamma, beta, grad, impl="torch", dtype=torch.float64)
    rtol, atol = TOLERANCES[dtype]
    for got, want in zip(fused, reference):
        got, want = got.detach(), want.detach()
        assert got.dtype == dtype
        torch.testing.assert_close(got.double().cpu(), want, rtol=rtol,
                                   atol=atol * float(want.abs().max()))


def _op_inputs(layout, dtype=torch.float32):
    options = dict(device="cuda", dtype=dtype)
    x = torch.randn(2, 7, 3, 5, **options).contiguous(memory_format=LAYOUTS[layout])
    weight = torch.randn(7, 13, 4, 4, **options)
    gamma, beta = 1 + 0.1 * torch.randn(13, **options), torch.randn(13, **options)
    return x, weight, gamma, beta


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("with_running_stats", [False, True], ids=["train", "eval"])
def test_cuda_opcheck_forward(cuda_extension, layout, with_running_stats):
    x, weight, gamma, beta = (t.requires_grad_() for t in _op_inputs(layout))
    stats = ((torch.zeros(13, device="cuda"), torch.ones(13, device="cuda"))
             if with_running_stats else (None, None))
    torch.library.opcheck(torch.ops.ganforge.upsample_bn_act.default,
                          (x, weight, gamma, beta, *stats, [2, 2], [1, 1], 1e-5, 0.2))


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("mask", [[True, True, True, True], [False, True, False, True]],
                         ids=["all", "some"])
def test_cuda_opcheck_upsample_bn_act_backward(cuda_extension, layout, mask):
    x, weight, gamma, beta = _op_inputs(layout)
    out, conv_out, mean, var = torch.ops.ganforge.upsample_bn_act(
        x, weight, gamma, beta, None, None, [2, 2], [1, 1], 1e-5, 0.2)
    args = (torch.randn_like(out), x, weight, gamma, beta, conv_out, mean, var, True, [2, 2],
            [1, 1], 1e-5, 0.2, mask)
    torch.library.opcheck(torch.ops.ganforge.upsample_bn_act_backward.default, args)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_cuda_opcheck_bn_act_and_its_backward(cuda_extension, layout):
    y = (torch.randn(3, 13, 5, 7, device="cuda") * 2 + 7).contiguous(memory_format=LAYOUTS[layout])
    gamma = 1 + 0.2 * torch.randn(13, device="cuda")
    beta = torch.randn(13, device="cuda")
    torch.library.opcheck(torch.ops.ganforge.bn_act.default,
                          (y.requires_grad_(), gamma.requires_grad_(), beta.requires_grad_(),
                           1e-5, 0.2))
    y, gamma, beta = y.detach(), gamma.detach(), beta.detach()
    out, mean, var = torch.ops.ganforge.bn_act(y, gamma, beta, 1e-5, 0.2)
    torch.library.opcheck(torch.ops.ganforge.bn_act_backward.default,
                          (torch.randn_like(out), y, gamma, beta, mean, var, 1e-5, 0.2))
