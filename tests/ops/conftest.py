"""Shared helpers for the fused-op tests: the extension requirement and block runners."""

from __future__ import annotations

import os

import pytest
import torch

from ganforge.ops import UpsampleBlock, bn_act
from ganforge.ops.extension import extension_state


def require_built_extension() -> None:
    """Skip without the compiled extension, except in CI (env CI set), where that is a failure."""
    state = extension_state()
    if state.module is None:
        message = f"compiled extension ganforge._C unavailable: {state.error}"
        if os.environ.get("CI"):
            pytest.fail(f"{message} (CI must build it: pip install --no-build-isolation -e .)")
        pytest.skip(message)


@pytest.fixture
def extension():
    require_built_extension()
    return extension_state().module


def random_state(block: UpsampleBlock) -> dict:
    """Fresh random parameters and non-trivial running statistics for a block's shape."""
    conv, bn = block[0], block[1]
    channels = bn.num_features
    return {
        "0.weight": torch.randn_like(conv.weight) * 0.2,
        "1.weight": 1 + 0.3 * torch.randn(channels),
        "1.bias": 0.3 * torch.randn(channels),
        "1.running_mean": 0.2 * torch.randn(channels),
        "1.running_var": 0.5 + torch.rand(channels),
        "1.num_batches_tracked": torch.tensor(3),
    }


def run_block(state: dict, geometry: dict, impl: str, x: torch.Tensor, grad_out: torch.Tensor, *,
              train: bool, dtype=torch.float32, device="cpu",
              memory_format=torch.contiguous_format, weight_format=None) -> dict:
    """Forward and backward once; returns the output, every gradient and the running stats.
    ``memory_format``: the input's; ``weight_format``: the weight's (default: the input's)."""
    block = UpsampleBlock(**geometry, impl=impl)
    block.load_state_dict(state)
    block.to(device=device, dtype=dtype, memory_format=weight_format or memory_format).train(train)
    x = x.detach().to(device=device, dtype=dtype).clone(memory_format=memory_format).requires_grad_()
    out = block(x)
    out.backward(grad_out.to(device=device, dtype=dtype))
    conv, bn = block[0], block[1]
    return {
        "out": out.detach(),
        "grad_input": x.grad,
        "grad_weight": conv.weight.grad,
        "grad_gamma": bn.weight.grad,
        "grad_beta": bn.bias.grad,
        "running_mean": bn.running_mean,
        "running_var": bn.running_var,
        "num_batches_tracked": bn.num_batches_tracked,
    }


def run_bn_act(y: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor, grad_out: torch.Tensor,
               *, impl: str, dtype: torch.dtype, negative_slope: float = 0.2) -> list:
    """The BN+activation part alone, forward and backward once, in dtype: returns
    [out, grad_input, grad_gamma, grad_beta]."""
    leaves = [t.detach().to(dtype).requires_grad_() for t in (y, gamma, beta)]
    out = bn_act(*leaves, negative_slope=negative_slope, impl=impl)
    out.backward(grad_out.to(dtype))
    return [out, *(t.grad for t in leaves)]


def assert_close_to(actual: dict, reference: dict, rtol: float, atol_fraction: float) -> None:
    """Every entry within rtol, and within atol_fraction of the reference's largest magnitude."""
    for name, ref in reference.items():
        got = actual[name].detach().cpu().to(ref.dtype)
        ref = ref.detach().cpu()
        atol = atol_fraction * max(float(ref.abs().max()), 1e-12) if ref.is_floating_point() else 0
        torch.testing.assert_close(got, ref, rtol=rtol, atol=atol, msg=lambda m: f"{name}: {m}")


def cumulative_average_against_sequential(impl: str, device: str = "cpu", steps: int = 4,
                                          dtype=torch.float64) -> tuple[dict, dict]:
    """momentum=None (cumulative moving average) over several training steps on odd shapes:
    returns (block's, nn.Sequential(ConvTranspose2d, BatchNorm2d, LeakyReLU)'s) running
    statistics and eval outputs, both in dtype on device, from the same state and batches."""
    from torch import nn

    geometry = dict(in_channels=7, out_channels=13, kernel_size=4, stride=2, padding=1)
    sequential = nn.Sequential(
        nn.ConvTranspose2d(7, 13, 4, 2, 1, bias=False), nn.BatchNorm2d(13, momentum=None),
        nn.LeakyReLU(0.2))
    block = UpsampleBlock(**geometry, negative_slope=0.2, momentum=None, impl=impl)
    state = random_state(block)
    for net in (block, sequential):
        net.load_state_dict(state)
        net.to(device=device, dtype=dtype).train()
    for _ in range(steps):
        x = torch.randn(3, 7, 3, 5, dtype=dtype, device=device)
        with torch.no_grad():
            block(x)
            sequential(x)
    probe = torch.randn(2, 7, 3, 5, dtype=dtype, device=device)
    results = []
    for net in (block, sequential):
        net.eval()
        with torch.no_grad():
            out = net(probe)
        bn = net[1]
        results.append({"running_mean": bn.running_mean, "running_var": bn.running_var,
                        "num_batches_tracked": bn.num_batches_tracked, "eval_out": out})
    return results[0], results[1]
