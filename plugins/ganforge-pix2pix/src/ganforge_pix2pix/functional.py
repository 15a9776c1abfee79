"""pix2pix's reconstruction term as a pure tensor function (``ganforge eval`` measures PSNR and SSIM)."""

from __future__ import annotations

import torch


def l1_distance(fake: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference: the term that makes G's output match the target, not just look real."""
    return (fake - target).abs().mean()
