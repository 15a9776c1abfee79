"""Under autocast the fused block runs its kernels in the autocast dtype, like eager's convolution,
with float32 gradients for float32 weights; a dtype without kernels runs the reference."""

import pytest
import torch

from ganforge.ops import UpsampleBlock


def run(impl, dtype, x, grad, state):
    block = UpsampleBlock(12, 6, impl=impl, negative_slope=0.2)
    block.load_state_dict(state)
    x = x.clone().requires_grad_(True)
    with torch.autocast("cpu", dtype=dtype):
        out = block(x)
    out.backward(grad.to(out.dtype))
    return out, x.grad, block


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16], ids=["bf16", "fp16"])
def test_fused_block_under_cpu_autocast_matches_the_reference(extension, dtype):
    state = UpsampleBlock(12, 6, impl="torch").state_dict()
    x, grad = torch.randn(4, 12, 5, 7), torch.randn(4, 6, 10, 14)
    fused, fused_grad, fused_block = run("auto", dtype, x, grad, state)
    ref, ref_grad, ref_block = run("torch", dtype, x, grad, state)
    assert fused.dtype == ref.dtype == dtype
    torch.testing.assert_close(fused.float(), ref.float(), rtol=2e-2, atol=2e-2)
    torch.testing.assert_close(fused_grad, ref_grad, rtol=5e-2, atol=5e-2)
    for (name, p), q in zip(fused_block.named_parameters(), ref_block.parameters()):
        assert p.grad.dtype == torch.float32, name
        torch.testing.assert_close(p.grad, q.grad, rtol=5e-2, atol=5e-2 * q.grad.abs().max().item())
    torch.testing.assert_close(fused_block[1].running_mean, ref_block[1].running_mean, rtol=1e-2, atol=1e-2)
