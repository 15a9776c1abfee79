"""Images -> the classifier's feature space: 128-d penultimate activations and predicted digits.

Generated images of another shape are converted to what the classifier reads, 28x28 grayscale
in [-1, 1]: 3 channels become luminance (0.299 R + 0.587 G + 0.114 B, as the dataset loader
does), other sizes are resized with antialiased bilinear interpolation (as ``--image-size``
resizes datasets), and values are clamped to [-1, 1].
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Optional

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import GanforgeError

DIGIT_SIZE = 28
_LUMA = (0.299, 0.587, 0.114)


@dataclass
class Features:
    """Features (float64, (N, D)) and predicted classes (int64, (N,)) of N images."""

    features: np.ndarray
    predictions: np.ndarray

    def __len__(self) -> int:
        return int(self.features.shape[0])

    def take(self, index) -> "Features":
        return Features(self.features[index], self.predictions[index])


def check_digit_shape(image_shape: tuple[int, ...]) -> None:
    """Raise unless images of this (C, H, W) shape can be read as digits."""
    c = image_shape[0]
    if c not in (1, 3):
        raise GanforgeError(f"the digit metrics read 1- or 3-channel images; this generator makes {c} channels")


def to_digit_input(images: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) in [-1, 1], C in {1, 3} -> (N, 1, 28, 28) float32 in [-1, 1]."""
    x = images.detach().float()
    check_digit_shape(tuple(x.shape[1:]))
    if x.shape[1] == 3:
        weights = torch.tensor(_LUMA, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
        x = (x * weights).sum(1, keepdim=True)
    if x.shape[-2:] != (DIGIT_SIZE, DIGIT_SIZE):
        x = F.interpolate(x, size=(DIGIT_SIZE, DIGIT_SIZE), mode="bilinear", antialias=True, align_corners=False)
    return x.clamp(-1, 1)


@torch.no_grad()
def extract(model: torch.nn.Module, batches: Iterable[torch.Tensor], device: Optional[torch.device] = None) -> Features:
    """Run the classifier (in eval mode) over batches of images; features in float64 on the CPU."""
    feats, preds = [], []
    for images in batches:
        x = to_digit_input(images)
        if device is not None:
            x = x.to(device)
        h = model.features(x)
        feats.append(h.double().cpu())
        preds.append(model.head(h).argmax(1).cpu())
    if not feats:
        raise GanforgeError("no images to evaluate")
    return Features(torch.cat(feats).numpy(), torch.cat(preds).numpy())
