"""The in-memory image dataset every source produces."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
import torch.nn.functional as F


@dataclass
class ImageData:
    images: torch.Tensor  # uint8, (N, C, H, W)
    labels: Optional[torch.Tensor]  # int64, (N,), or None when unlabelled
    class_names: Optional[list[str]]
    name: str
    skipped: int = 0  # files that could not be read (folder datasets)
    #: Paired data: each image's condition image (what an image-to-image generator sees), uint8
    #: (N, C', H, W) at the images' size; None for unpaired data.
    conditions: Optional[torch.Tensor] = None

    @property
    def paired(self) -> bool:
        return self.conditions is not None

    @property
    def condition_shape(self) -> Optional[tuple[int, int, int]]:
        if self.conditions is None:
            return None
        c, h, w = self.conditions.shape[1:]
        return int(c), int(h), int(w)

    @property
    def num_classes(self) -> Optional[int]:
        return None if self.class_names is None else len(self.class_names)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        c, h, w = self.images.shape[1:]
        return int(c), int(h), int(w)

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def resized(self, size: int) -> "ImageData":
        """Square images of ``size`` pixels (antialiased bilinear); unchanged if already so."""
        if self.images.shape[-2:] == (size, size):
            return self
        conditions = None if self.conditions is None else _resized(self.conditions, size)
        return ImageData(_resized(self.images, size), self.labels, self.class_names, self.name, self.skipped,
                         conditions)


def _resized(images: torch.Tensor, size: int) -> torch.Tensor:
    resized = []
    for chunk in images.split(1024):
        x = F.interpolate(chunk.float(), size=(size, size), mode="bilinear", antialias=True, align_corners=False)
        resized.append(x.round().clamp(0, 255).to(torch.uint8))
    return torch.cat(resized)


def to_model_range(images: torch.Tensor) -> torch.Tensor:
    """uint8 [0, 255] -> float [-1, 1]."""
    return images.float().div_(127.5).sub_(1.0)


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """float [-1, 1] -> uint8 [0, 255]."""
    return images.detach().float().add(1.0).mul(127.5).round().clamp(0, 255).to(torch.uint8)
