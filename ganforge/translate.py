"""Image-to-image generators applied to image files: ``ganforge sample RUN --input ... --out DIR``."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from .data.dataset import to_model_range, to_uint8
from .data.folder import IMAGE_SUFFIXES, image_files, read_image, stack_images
from .errors import GanforgeError
from .files import atomic_write
from .generator_file import GeneratorInfo

BATCH = 64


def translate_files(generator: nn.Module, info: GeneratorInfo, source: Path, out: Path,
                    device: torch.device) -> list[Path]:
    """Each image of ``source`` (a file, or the image files directly in a folder) resized and
    centre-cropped to the generator's condition shape, translated, and written to ``out/STEM.png``."""
    files = [source] if source.is_file() else image_files(source)
    if not files:
        raise GanforgeError(f"--input {source}: no images (looked for {', '.join(sorted(IMAGE_SUFFIXES))})")
    channels, size, _ = info.spec.condition_shape
    mode = "L" if channels == 1 else "RGB"
    readable = [(path, array) for path in files if (array := read_image(path, mode, size)) is not None]
    if not readable:
        raise GanforgeError(f"--input {source}: none of the {len(files)} image file(s) could be read")
    written = []
    for start in range(0, len(readable), BATCH):
        chunk = readable[start:start + BATCH]
        conditions = to_model_range(stack_images([array for _, array in chunk])).to(device)
        with torch.no_grad():
            images = to_uint8(generator(conditions).cpu())
        for (path, _), image in zip(chunk, images):
            written.append(_save(image, out / f"{path.stem}.png"))
    return written


def _save(image: torch.Tensor, path: Path) -> Path:
    from PIL import Image

    array = image.permute(1, 2, 0).numpy()
    picture = Image.fromarray(array[:, :, 0] if array.shape[2] == 1 else array)
    atomic_write(path, lambda tmp: picture.save(tmp, format="PNG"), make_parents=True)
    return path
