"""Per-image quality of a translation against its target, as pure tensor functions of images in [-1, 1]
(measured on the [0, 1] scale, as image libraries report them)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

SSIM_WINDOW = 7  # scikit-image's default window


def psnr(images: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Peak signal-to-noise ratio in dB, per image (inf for an exact copy)."""
    mse = ((images.float() - targets.float()) / 2).square().flatten(1).mean(1)
    return -10 * torch.log10(mse)


def ssim(images: torch.Tensor, targets: torch.Tensor, window: int = SSIM_WINDOW) -> torch.Tensor:
    """Structural similarity per image (Wang et al. 2004) with a uniform ``window`` x ``window``
    window and unbiased local variances, as scikit-image computes it, averaged over the valid
    pixels and the channels."""
    x, y = (images.float() + 1) / 2, (targets.float() + 1) / 2
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    n = window * window
    mean = lambda t: F.avg_pool2d(t, window, stride=1)
    mx, my = mean(x), mean(y)
    vx = (mean(x * x) - mx * mx) * n / (n - 1)
    vy = (mean(y * y) - my * my) * n / (n - 1)
    cov = (mean(x * y) - mx * my) * n / (n - 1)
    s = ((2 * mx * my + c1) * (2 * cov + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    return s.flatten(1).mean(1)


def l1(images: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference per image, on the [0, 1] scale."""
    return ((images.float() - targets.float()) / 2).abs().flatten(1).mean(1)
