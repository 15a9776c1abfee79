"""The CPU extension against the float64 reference: outputs, gradients, running statistics."""

from __future__ import annotations

import pytest
import torch

from conftest import assert_close_to, random_state, run_block, run_bn_act
from ganforge.ops import UpsampleBlock

GEOMETRIES = {
    "k4s2p1": dict(in_channels=6, out_channels=5, kernel_size=4, stride=2, padding=1, input_hw=(5, 4)),
    "k4s1p0": dict(in_channels=7, out_channels=6, kernel_size=4, stride=1, padding=0, input_hw=(1, 1)),
    "k7s1p0": dict(in_channels=5, out_channels=4, kernel_size=7, stride=1, padding=0, input_hw=(1, 1)),
}
LAYOUTS = {"nchw": torch.contiguous_format, "channels_last": torch.channels_last}
#: (input, weight) layouts: both alike, and mixed as in a channels_last generator whose first
#: block gets the plain (N, nz, 1, 1) noise.
MIXED = {"nchw": (torch.contiguous_format, torch.contiguous_format),
         "channels_last": (torch.channels_last, torch.channels_last),
         "nchw-input-cl-weight": (torch.contiguous_format, torch.channels_last),
         "cl-input-nchw-weight": (torch.channels_last, torch.contiguous_format)}


def make_case(name: str, slope: float, batch: int = 4):
    spec = dict(GEOMETRIES[name])
    height, width = spec.pop("input_hw")
    geometry = dict(spec, negative_slope=slope)
    state = random_state(UpsampleBlock(**geometry, impl="torch"))
    x = torch.randn(batch, spec["in_channels"], height, width)
    with torch.no_grad():
        out_shape = UpsampleBlock(**geometry, impl="torch").eval()(x).shape
    return geometry, state, x, torch.randn(out_shape)


@pytest.mark.parametrize("layout", MIXED)
@pytest.mark.parametrize("train", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("slope", [0.0, 0.2])
@pytest.mark.parametrize("name", GEOMETRIES)
def test_cpu_matches_float64_reference(extension, name, slope, train, layout):
    geometry, state, x, grad_out = make_case(name, slope)
    input_format, weight_format = MIXED[layout]
    formats = dict(memory_format=input_format, weight_format=weight_format)
    reference = run_block(state, geometry, "torch", x, grad_out, train=train, dtype=torch.float64)
    fused = run_block(state, geometry, "cpu", x, grad_out, train=train, **formats)
    eager = run_block(state, geometry, "torch", x, grad_out, train=train, **formats)
    assert_close_to(fused, reference, rtol=1e-5, atol_fraction=1e-5)
    assert_close_to(eager, reference, rtol=1e-5, atol_fraction=1e-5)
    # The same memory layout as eager (channels_last when the input or the weight is), also
    # where a 1x1 input is both NCHW and channels_last.
    for name in ("out", "grad_input"):
        assert fused[name].stride() == eager[name].stride(), name


def test_float64_kernel_matches_reference_exactly_enough(extension):
    geometry, state, x, grad_out = make_case("k4s2p1", 0.2)
    reference = run_block(state, geometry, "torch", x, grad_out, train=True, dtype=torch.float64)
    fused = run_block(state, geometry, "cpu", x, grad_out, train=True, dtype=torch.float64)
    assert_close_to(fused, reference, rtol=1e-11, atol_fraction=1e-11)


def test_non_contiguous_input(extension):
    geometry, state, x, grad_out = make_case("k4s2p1", 0.2)
    wide = torch.randn(x.shape[0], x.shape[1], x.shape[2], 2 * x.shape[3])
    strided = wide[..., ::2]
    assert not strided.is_contiguous()
    reference = run_block(state, geometry, "torch", strided.clone(), grad_out, train=True, dtype=torch.float64)
    block = UpsampleBlock(**geometry, impl="cpu")
    block.load_state_dict(state)
    leaf = wide.clone().requires_grad_()
    out = block(leaf[..., ::2])
    out.backward(grad_out)
    torch.testing.assert_close(out.double(), reference["out"], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(leaf.grad[..., ::2].double(), reference["grad_input"], rtol=1e-5,
                               atol=1e-5 * float(reference["grad_input"].abs().max()))
    assert float(leaf.grad[..., 1::2].abs().max()) == 0.0


@pytest.mark.parametrize("layout", LAYOUTS)
def test_batch_one_with_spatial_extent(extension, layout):
    geometry, state, x, grad_out = make_case("k4s2p1", 0.0, batch=1)
    reference = run_block(state, geometry, "torch", x, grad_out, train=True, dtype=torch.float64)
    fused = run_block(state, geometry, "cpu", x, grad_out, train=True, memory_format=LAYOUTS[layout])
    assert_close_to(fused, reference, rtol=1e-5, atol_fraction=1e-5)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_large_mean_offset_keeps_variance(extension, layout):
    """Inputs around 1000 and positive weights put the conv output's mean far above its spread;
    statistics from raw sums of squares in float32 would cancel to garbage."""
    geometry, state, x, grad_out = make_case("k4s1p0", 0.2, batch=16)
    state["0.weight"] = state["0.weight"].abs() * 0.05 + 0.01
    x = x + 1000.0
    reference = run_block(state, geometry, "torch", x, grad_out, train=True, dtype=torch.float64)
    fused = run_block(state, geometry, "cpu", x, grad_out, train=True, memory_format=LAYOUTS[layout])
    # float32 cannot hold the conv output to better than ~1e-7 * 1000 / spread: tolerances follow.
    spread = float(reference["running_var"].sqrt().min())
    assert spread < 20, "the offset should dominate the spread for this test to mean anything"
    assert_close_to(fused, reference, rtol=1e-3, atol_fraction=1e-3)


def test_momentum_none_is_cumulative_average(extension):
    geometry, state, x, grad_out = make_case("k4s2p1", 0.2)
    blocks = {}
    for impl in ("cpu", "torch"):
        block = UpsampleBlock(**geometry, momentum=None, impl=impl)
        block.load_state_dict(state)
        blocks[impl] = block
    for _ in range(3):
        batch = torch.randn_like(x)
        for block in blocks.values():
            block(batch)
    fused, eager = blocks["cpu"][1], blocks["torch"][1]
    assert int(fused.num_batches_tracked) == int(eager.num_batches_tracked) == 6
    torch.testing.assert_close(fused.running_mean, eager.running_mean, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(fused.running_var, eager.running_var, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("impl", ["cpu", "torch"])
def test_single_value_per_channel_is_refused_in_training(extension, impl):
    block = UpsampleBlock(3, 2, kernel_size=1, stride=1, padding=0, impl=impl)
    with pytest.raises(ValueError, match="Expected more than 1 value per channel when training"):
        block(torch.randn(1, 3, 1, 1))
    block.eval()
    assert block(torch.randn(1, 3, 1, 1)).shape == (1, 2, 1, 1)


def test_gradcheck_float64(extension):
    from ganforge.ops import upsample_bn_act

    x = torch.randn(2, 3, 3, 3, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(3, 2, 4, 4, dtype=torch.float64, requires_grad=True)
    gamma = (1 + 0.2 * torch.randn(2, dtype=torch.float64)).requires_grad_()
    beta = (0.2 * torch.randn(2, dtype=torch.float64)).requires_grad_()
    running_mean = 0.1 * torch.randn(2, dtype=torch.float64)
    running_var = 0.5 + torch.rand(2, dtype=torch.float64)

    def block(train):
        return lambda *args: upsample_bn_act(
            *args, running_mean, running_var, None, stride=2, padding=1, training=train,
            momentum=0.0, negative_slope=0.2, impl="cpu")

    for train in (True, False):
        assert torch.autograd.gradcheck(block(train), (x, weight, gamma, beta))


def test_double_backward_is_refused_clearly(extension):
    block = UpsampleBlock(3, 2, impl="cpu").double()
    x = torch.randn(2, 3, 3, 3, dtype=torch.float64, requires_grad=True)
    (grad,) = torch.autograd.grad(block(x).square().sum(), x, create_graph=True)
    with pytest.raises(RuntimeError, match="do not support double backward"):
        grad.sum().backward()


@pytest.mark.parametrize("frozen", ["input", "weight", "batchnorm", "all-but-beta"])
def test_gradients_only_where_asked(extension, frozen):
    """Frozen parameters (or an input without grad) get no gradient, the others the
    reference's: the C++ autograd passes autograd's needs_input_grad on as the output mask."""
    geometry, state, x, grad_out = make_case("k4s2p1", 0.2)
    grads = {}
    for impl in ("torch", "cpu"):
        block = UpsampleBlock(**geometry, impl=impl)
        block.load_state_dict(state)
        leaf = x.clone().requires_grad_(frozen != "input")
        conv, bn = block[0], block[1]
        if frozen == "weight":
            conv.weight.requires_grad_(False)
        elif frozen == "batchnorm":
            bn.weight.requires_grad_(False)
            bn.bias.requires_grad_(False)
        elif frozen == "all-but-beta":
            conv.weight.requires_grad_(False)
            bn.weight.requires_grad_(False)
        block(leaf).backward(grad_out)
        grads[impl] = [leaf.grad, conv.weight.grad, bn.weight.grad, bn.bias.grad]
    for want, got in zip(grads["torch"], grads["cpu"]):
        assert (want is None) == (got is None)
        if want is not None:
            torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)


# Wider than GEOMETRIES: every compared tensor has a thousand values or more, so its mean
# error is a stable statistic.
BFLOAT16_GEOMETRIES = {
    "k4s2p1": (dict(in_channels=16, out_channels=32, kernel_size=4, stride=2, padding=1), (4, 4), 8),
    "k4s1p0": (dict(in_channels=64, out_channels=32, kernel_size=4, stride=1, padding=0), (1, 1), 16),
}


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("train", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("name", BFLOAT16_GEOMETRIES)
def test_bfloat16_as_accurate_as_eager_bfloat16(extension, name, train, layout):
    """bfloat16 in and out, float32 inside. The bfloat16 convolution (ATen's, on both sides)
    sets the error, up to several percent of the largest gradient, so each result is held to
    eager bfloat16's mean distance from the float64 reference. Over 40 draws the fused error
    was at most eager's in the median, with single draws up to 2.5x either way: the bound
    leaves that spread room, not the 10x and more of bfloat16 arithmetic or bad rounding.
    gamma's and beta's few gradients are left to test_bfloat16_bn_act_rounds_once: a
    bfloat16 conv output that rounds across zero flips LeakyReLU's slope for a value, which
    moved one channel's beta gradient by 12% here on both sides, in different draws."""
    spec, input_hw, batch = BFLOAT16_GEOMETRIES[name]
    geometry = dict(spec, negative_slope=0.2)
    state = random_state(UpsampleBlock(**geometry, impl="torch"))
    x = torch.randn(batch, spec["in_channels"], *input_hw)
    with torch.no_grad():
        grad_out = torch.randn_like(UpsampleBlock(**geometry, impl="torch")(x))
    reference = run_block(state, geometry, "torch", x, grad_out, train=train, dtype=torch.float64)
    runs = {impl: run_block(state, geometry, impl, x, grad_out, train=train, dtype=torch.bfloat16,
                            memory_format=LAYOUTS[layout]) for impl in ("cpu", "torch")}
    assert runs["cpu"]["out"].dtype == runs["cpu"]["grad_input"].dtype == torch.bfloat16
    for key in ("out", "grad_input", "grad_weight"):
        want = reference[key]
        fused_error, eager_error = ((runs[impl][key].double() - want).abs().mean()
                                    for impl in ("cpu", "torch"))
        assert fused_error <= 3 * eager_error + 2.0 ** -8 * want.abs().mean(), key


@pytest.mark.parametrize("layout", LAYOUTS)
def test_bfloat16_bn_act_rounds_once(extension, layout):
    """The BN+activation part on bfloat16 is the float64 result rounded: within two bfloat16
    rounding steps (2 x 2^-8) of the largest magnitude, also for a large mean."""
    y = (torch.randn(5, 24, 6, 7) * 3 + 50).to(torch.bfloat16).contiguous(memory_format=LAYOUTS[layout])
    gamma = (1 + 0.3 * torch.randn(24)).to(torch.bfloat16)
    beta = torch.randn(24).to(torch.bfloat16)
    grad = torch.randn(5, 24, 6, 7).to(torch.bfloat16)
    fused = run_bn_act(y, gamma, beta, grad, impl="cpu", dtype=torch.bfloat16)
    reference = run_bn_act(y, gamma, beta, grad, impl="torch", dtype=torch.float64)
    for got, want in zip(fused, reference):
        assert got.dtype == torch.bfloat16
        error = (got.double() - want).abs().max()
        assert error <= 2.0 ** -8 * want.abs().max() * 2, float(error / want.abs().max())


def test_a_channels_last_generator_stays_channels_last_from_its_noise_on(extension):
    """Its first block gets the (N, nz, 1, 1) noise, whose strides suggest NCHW: the block lays it
    out as its weight is, so no block computes in NCHW and converts ATen's output back."""
    from ganforge.models.dcgan import DCGANGenerator

    generator = DCGANGenerator(16, 1, 32, 4, impl="cpu").to(memory_format=torch.channels_last)
    reference = DCGANGenerator(16, 1, 32, 4, impl="torch")
    reference.load_state_dict(generator.state_dict())
    layouts = []
    for block in generator.blocks:
        block.register_forward_hook(lambda module, args, out: layouts.append(
            out.is_contiguous(memory_format=torch.channels_last) and not out.is_contiguous()))
    z = torch.randn(6, 16)
    torch.testing.assert_close(generator(z), reference(z), rtol=1e-4, atol=1e-5)
    assert layouts == [True] * len(generator.blocks)



def _malloc_shifter():
    """Small C heap blocks held between calls, so the kernels' own buffers land at different
    addresses each call (as they do in a training run), and a release for them."""
    import ctypes

    libc = ctypes.CDLL(None)
    libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
    libc.free.argtypes = [ctypes.c_void_p]
    held = []
    return (lambda i: held.append(libc.malloc(16 * (i % 4 + 1)))), (lambda: [libc.free(b) for b in held])


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float64], ids=str)
@pytest.mark.parametrize("channels", [3, 8, 9, 12, 17, 40])
def test_the_same_input_gives_the_same_bits_every_call(extension, channels, dtype, layout):
    """Exact resume needs a deterministic kernel: the same input gives bitwise the same outputs
    and gradients on every call, wherever its buffers are. (With GCC's default FMA contraction,
    the vectorized and scalar copies of a loop, picked at run time by address, rounded
    differently: 8 or 9 channels-last float32 channels differed on some calls.)"""
    shape = (13, channels, 14, 14)
    y = torch.randn(shape, dtype=dtype).contiguous(memory_format=LAYOUTS[layout])
    gamma, beta = (1 + 0.3 * torch.randn(channels)).to(dtype), torch.randn(channels).to(dtype)
    grad = torch.randn(shape, dtype=dtype).contiguous(memory_format=LAYOUTS[layout])
    ops = torch.ops.ganforge

    def forward_and_backward():
        out, mean, var = ops.bn_act(y, gamma, beta, 1e-5, 0.2)
        return [out, mean, var, *ops.bn_act_backward(grad, y, gamma, beta, mean, var, 1e-5, 0.2)]

    first = forward_and_backward()
    shift, release = _malloc_shifter()
    try:
        for i in range(64):
            shift(i)
            for got, want in zip(forward_and_backward(), first):
                assert torch.equal(got, want), i
    finally:
        release()
