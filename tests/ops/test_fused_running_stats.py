"""Running statistics of the block against nn.BatchNorm2d itself, in float64, where the
implementations must agree to rounding: momentum=None's cumulative-average factor 1/batches
is computed in the running statistics' dtype (it once was float32 everywhere, which moved
float64 running variances by ~1e-9 relative)."""

from __future__ import annotations

import pytest
import torch

from conftest import cumulative_average_against_sequential, require_built_extension


def test_reference_momentum_none_float64_equals_batchnorm2d_exactly():
    block, sequential = cumulative_average_against_sequential("torch", steps=5)
    assert int(block["num_batches_tracked"]) == int(sequential["num_batches_tracked"]) == 3 + 5
    for name, want in sequential.items():
        assert torch.equal(block[name], want), name


def test_cpu_kernel_momentum_none_float64_matches_batchnorm2d():
    require_built_extension()
    block, sequential = cumulative_average_against_sequential("cpu", steps=5)
    assert int(block["num_batches_tracked"]) == 3 + 5  # random_state starts at 3
    for name, want in sequential.items():
        # The kernel's own float64 sums differ from ATen's by rounding only.
        torch.testing.assert_close(block[name], want, rtol=1e-12, atol=1e-14, msg=name)


def test_momentum_none_without_a_batch_count_is_refused():
    from ganforge.ops import upsample_bn_act

    x, weight = torch.randn(2, 3, 2, 2), torch.randn(3, 4, 4, 4)
    gamma, beta = torch.ones(4), torch.zeros(4)
    with pytest.raises(ValueError, match="needs num_batches_tracked"):
        upsample_bn_act(x, weight, gamma, beta, torch.zeros(4), torch.ones(4), None,
                        momentum=None, impl="torch")
