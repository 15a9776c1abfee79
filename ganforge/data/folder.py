"""Any directory of images. Sub-directories (ImageFolder layout) become class labels."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np
import torch

from ..errors import GanforgeError
from .dataset import ImageData
from ..memory import check_fits

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm"}


def load_image_folder(root: str, channels: Optional[int], size: int) -> ImageData:
    """Every readable image under ``root``, resized and centre-cropped to ``size`` pixels."""
    base = Path(root)
    if not base.is_dir():
        raise GanforgeError(f"data directory not found: {base} (pass --data-root DIR)")
    class_dirs = sorted(p for p in base.iterdir() if p.is_dir() and not p.name.startswith("."))
    if class_dirs:
        files = [(f, i) for i, d in enumerate(class_dirs) for f in _image_files(d)]
        class_names: Optional[list[str]] = [d.name for d in class_dirs]
    else:
        files = [(f, 0) for f in _image_files(base)]
        class_names = None
    if not files:
        raise GanforgeError(f"no images found in {base} (looked for {', '.join(sorted(IMAGE_SUFFIXES))})")

    mode = "L" if channels == 1 else "RGB"
    # The decoded images, their stacked copy and the channels-first copy, at most.
    check_fits(3 * len(files) * (1 if channels == 1 else 3) * size * size,
               f"--image-size {size} ({len(files):,} image files in {base})", "--image-size")
    arrays, labels, skipped = [], [], 0
    for path, label in files:
        array = read_image(path, mode, size)
        if array is None:
            skipped += 1
            continue
        arrays.append(array)
        labels.append(label)
    if not arrays:
        raise GanforgeError(f"none of the {len(files)} image files in {base} could be read")
    label_tensor = torch.tensor(labels, dtype=torch.int64) if class_names else None
    return ImageData(stack_images(arrays), label_tensor, class_names, f"folder:{base}", skipped)


def read_image(path: Path, mode: str, size: int) -> Optional[np.ndarray]:
    """One image file as an (H, W[, C]) uint8 array, resized and centre-cropped; None when unreadable."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            return np.asarray(_center_square(im.convert(mode), size))
    except Exception:  # noqa: BLE001 - PIL raises OSError, DecompressionBombError, SyntaxError,
        return None  # EOFError... on malformed files: every unreadable file is skipped and counted


def stack_images(arrays: list[np.ndarray]) -> torch.Tensor:
    """Arrays of ``read_image`` as one uint8 (N, C, H, W) tensor."""
    stacked = torch.from_numpy(np.stack(arrays))
    return (stacked[:, None] if stacked.ndim == 3 else stacked.permute(0, 3, 1, 2)).contiguous()


def image_files(directory: Path) -> list[Path]:
    """The image files directly in ``directory``, sorted."""
    return sorted(p for p in directory.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


def _image_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


def _center_square(im, size: int):
    """Resize the shorter side to ``size`` and crop the centre square."""
    from PIL import Image

    w, h = im.size
    scale = size / min(w, h)
    im = im.resize((max(size, round(w * scale)), max(size, round(h * scale))), Image.BICUBIC)
    w, h = im.size
    left, top = (w - size) // 2, (h - size) // 2
    return im.crop((left, top, left + size, top + size))
