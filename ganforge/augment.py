"""Differentiable augmentation of the images a discriminator sees (DiffAugment, Zhao et al. 2020,
"Differentiable Augmentation for Data-Efficient GAN Training").

Pure tensor functions of a batch ``x`` of shape (N, C, H, W) in the model range [-1, 1]; each
image gets its own random parameters, drawn from the global torch RNG of ``x``'s device (the
RNG a checkpoint saves, so a resumed run draws the same augmentations). Every operation is a
composition of differentiable tensor operations, so gradients reach the generator through it.

The ``diffaugment`` policy is the paper's "color,translation,cutout":

* colour: brightness (add a uniform shift in [-0.5, 0.5]), saturation (scale each pixel's
  deviation from its channel mean by a factor in [0, 2]; a one-channel image has no saturation,
  so it is returned unchanged and no random number is drawn) and contrast (scale the deviation
  from the image mean by a factor in [0.5, 1.5]);
* translation: shift by a whole number of pixels in [-H/8, H/8] and [-W/8, W/8] (rounded), the
  uncovered border filled with zeros;
* cutout: zero a square of half the image size (rounded) centred on a uniformly drawn pixel,
  clipped at the borders.

Values may leave [-1, 1] (brightness and contrast): the discriminator sees what the paper's does.
"""

from __future__ import annotations

from typing import Callable, Optional

import torch

TRANSLATION_RATIO = 0.125
CUTOUT_RATIO = 0.5

Augmentation = Callable[[torch.Tensor], torch.Tensor]


def _per_image(x: torch.Tensor) -> torch.Tensor:
    """One uniform [0, 1) number per image, shaped to broadcast over (C, H, W)."""
    return torch.rand(x.shape[0], 1, 1, 1, dtype=x.dtype, device=x.device)


def brightness(x: torch.Tensor) -> torch.Tensor:
    return x + (_per_image(x) - 0.5)


def saturation(x: torch.Tensor) -> torch.Tensor:
    if x.shape[1] == 1:
        return x  # grey images have no saturation to change
    mean = x.mean(dim=1, keepdim=True)
    return (x - mean) * (_per_image(x) * 2) + mean


def contrast(x: torch.Tensor) -> torch.Tensor:
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * (_per_image(x) + 0.5) + mean


def color(x: torch.Tensor) -> torch.Tensor:
    return contrast(saturation(brightness(x)))


def translation(x: torch.Tensor, ratio: float = TRANSLATION_RATIO) -> torch.Tensor:
    """Shift each image by its own (dy, dx); pixels shifted in from outside are zero."""
    n, c, h, w = x.shape
    max_dy, max_dx = int(h * ratio + 0.5), int(w * ratio + 0.5)
    dy = torch.randint(-max_dy, max_dy + 1, (n, 1, 1), device=x.device)
    dx = torch.randint(-max_dx, max_dx + 1, (n, 1, 1), device=x.device)
    # output pixel (i, j) takes input pixel (i - dy, j - dx)
    rows = torch.arange(h, device=x.device).view(1, h, 1) - dy
    cols = torch.arange(w, device=x.device).view(1, 1, w) - dx
    inside = (rows >= 0) & (rows < h) & (cols >= 0) & (cols < w)  # (n, h, w)
    source = (rows.clamp(0, h - 1) * w + cols.clamp(0, w - 1)).view(n, 1, h * w).expand(n, c, h * w)
    shifted = x.reshape(n, c, h * w).gather(2, source).view(n, c, h, w)
    return shifted * inside.unsqueeze(1).to(x.dtype)


def cutout(x: torch.Tensor, ratio: float = CUTOUT_RATIO) -> torch.Tensor:
    """Zero one square of ``ratio`` times the image size per image, centred on a random pixel."""
    n, _, h, w = x.shape
    size_h, size_w = int(h * ratio + 0.5), int(w * ratio + 0.5)
    top = torch.randint(0, h, (n, 1, 1), device=x.device) - size_h // 2
    left = torch.randint(0, w, (n, 1, 1), device=x.device) - size_w // 2
    rows = torch.arange(h, device=x.device).view(1, h, 1)
    cols = torch.arange(w, device=x.device).view(1, 1, w)
    hole = (rows >= top) & (rows < top + size_h) & (cols >= left) & (cols < left + size_w)
    return x * (~hole).unsqueeze(1).to(x.dtype)


def diff_augment(x: torch.Tensor) -> torch.Tensor:
    """The DiffAugment policy colour, translation, cutout."""
    return cutout(translation(color(x)))


#: ``--augment`` name -> the function applied to each batch before D (training/setup/config.py lists the names).
POLICIES: dict[str, Optional[Augmentation]] = {"none": None, "diffaugment": diff_augment}


def augmentation(name: str) -> Optional[Augmentation]:
    """The policy named ``name`` (None for "none")."""
    try:
        return POLICIES[name]
    except KeyError:
        raise ValueError(f"unknown augmentation '{name}' (known: {', '.join(POLICIES)})") from None
