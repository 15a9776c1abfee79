"""The pure-PyTorch reference of the fused block: always available, the fallback of ``auto``."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def reference_upsample_bn_act(input: torch.Tensor, weight: torch.Tensor, gamma: torch.Tensor,
                              beta: torch.Tensor, running_mean: torch.Tensor | None,
                              running_var: torch.Tensor | None, *, stride, padding,
                              use_batch_stats: bool, momentum: float, eps: float,
                              negative_slope: float) -> torch.Tensor:
    """``conv_transpose2d -> batch_norm -> leaky_relu``; batch_norm updates the running stats."""
    y = F.conv_transpose2d(input, weight, None, stride, padding)
    y = F.batch_norm(y, running_mean, running_var, gamma, beta, use_batch_stats, momentum, eps)
    return F.leaky_relu(y, negative_slope)
