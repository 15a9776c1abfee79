"""Image grids as PNG files."""

from __future__ import annotations

import math
from pathlib import Path

import torch

from .data.dataset import to_uint8
from .files import atomic_write

MIN_GRID_WIDTH = 480  # small images are scaled up (nearest) so a grid is easy to look at


def make_grid(images: torch.Tensor, nrow: int, padding: int = 2) -> torch.Tensor:
    """(N, C, H, W) uint8 -> one (C, rows*(H+p)+p, nrow*(W+p)+p) uint8 image on white."""
    n, c, h, w = images.shape
    rows = math.ceil(n / nrow)
    grid = torch.full((c, rows * (h + padding) + padding, nrow * (w + padding) + padding), 255,
                      dtype=torch.uint8)
    for i in range(n):
        r, col = divmod(i, nrow)
        top, left = padding + r * (h + padding), padding + col * (w + padding)
        grid[:, top:top + h, left:left + w] = images[i]
    return grid


def save_grid(images: torch.Tensor, path: Path, nrow: int | None = None, make_parents: bool = False) -> Path:
    """Save images in [-1, 1] as a PNG grid, atomically; returns the path. Only the file's own
    directory is created when missing (every parent with ``make_parents``); an unwritable
    location is a GanforgeError naming the file."""
    from PIL import Image

    nrow = nrow or max(1, math.ceil(math.sqrt(images.shape[0])))
    grid = make_grid(to_uint8(images.cpu()), nrow)
    scale = max(1, math.ceil(MIN_GRID_WIDTH / grid.shape[-1]))
    array = grid.permute(1, 2, 0).numpy()
    picture = Image.fromarray(array[:, :, 0] if array.shape[2] == 1 else array)
    if scale > 1:
        picture = picture.resize((picture.width * scale, picture.height * scale), Image.NEAREST)
    atomic_write(path, lambda tmp: picture.save(tmp, format="PNG"), make_parents=make_parents)
    return path
