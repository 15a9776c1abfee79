"""Paired data for image-to-image GANs: each target image has a condition image (what the
generator sees). Two sources:

* the embedded digits with a corruption made here, so no download is needed: ``mnist-5k-sr7`` /
  ``mnist-5k-sr14`` (super-resolution: the digit shrunk to 7x7 or 14x14 by area averaging, then
  enlarged back to 28x28 by nearest neighbour), ``mnist-5k-denoise`` (Gaussian noise of standard
  deviation 0.3 of the range), ``mnist-5k-inpaint`` (a 12x12 square greyed out). The corruption
  is drawn from a fixed seed, so every run sees the same pairs. Two tasks pair each digit with a
  restyled copy, for image-to-image GANs that learn without pairs (CycleGAN takes the conditions
  and the targets from unrelated batches) yet can be measured against the true translation:
  ``mnist-5k-invert`` (255 - x) and ``mnist-5k-thicken`` (strokes dilated by a 3x3 maximum).
* ``folder-pairs``: ``DATA_ROOT/A`` (conditions) and ``DATA_ROOT/B`` (targets) with the same file
  names (pix2pix's layout); a name in one folder only is refused with one line naming it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Optional

import torch
import torch.nn.functional as F

from ..errors import GanforgeError
from ..memory import check_fits
from .dataset import ImageData
from .folder import image_files, read_image, stack_images

#: The corruptions' random draws (noise, square positions) come from this seed, whatever --seed is.
PAIRS_SEED = 20201
NOISE_STD = 0.3
HOLE = 12
FOLDER_PAIRS = "folder-pairs"


def shrink_and_enlarge(images: torch.Tensor, size: int) -> torch.Tensor:
    """Super-resolution inputs: area-average down to ``size``, nearest-neighbour back up."""
    full = images.shape[-1]
    small = F.adaptive_avg_pool2d(images.float(), size)
    return F.interpolate(small, size=(full, full), mode="nearest").round().clamp(0, 255).to(torch.uint8)


def add_noise(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    noise = torch.randn(images.shape, generator=generator) * (NOISE_STD * 255)
    return (images.float() + noise).round().clamp(0, 255).to(torch.uint8)


def grey_square(images: torch.Tensor, generator: torch.Generator, hole: int = HOLE) -> torch.Tensor:
    """Each image with a ``hole`` x ``hole`` square set to mid-grey, placed at random inside it."""
    out = images.clone()
    n, _, h, w = images.shape
    tops = torch.randint(0, h - hole + 1, (n,), generator=generator)
    lefts = torch.randint(0, w - hole + 1, (n,), generator=generator)
    for i, (top, left) in enumerate(zip(tops.tolist(), lefts.tolist())):
        out[i, :, top:top + hole, left:left + hole] = 128
    return out


#: Corruptions: the target is the digit, the condition a corrupted copy (the seeded draws are ``rng``'s).
CORRUPTIONS: dict[str, Callable[[torch.Tensor, torch.Generator], torch.Tensor]] = {
    "sr7": lambda images, rng: shrink_and_enlarge(images, 7),
    "sr14": lambda images, rng: shrink_and_enlarge(images, 14),
    "denoise": add_noise,
    "inpaint": grey_square,
}
#: Restylings: the condition is the digit, the target a restyled copy.
RESTYLES: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "invert": lambda images: 255 - images,
    "thicken": lambda images: F.max_pool2d(images.float(), 3, stride=1, padding=1).to(torch.uint8),
}
PAIRED_DIGITS = {f"mnist-5k-{task}": task for task in (*CORRUPTIONS, *RESTYLES)}
#: The tasks whose targets are the digits themselves (what the digit classifier of FID-digits knows).
DIGIT_TARGETS = frozenset(f"mnist-5k-{task}" for task in CORRUPTIONS)


def paired_digits(name: str, digits: ImageData) -> ImageData:
    """The embedded digits (``digits``) paired as task ``PAIRED_DIGITS[name]`` says."""
    task = PAIRED_DIGITS[name]
    if task in RESTYLES:
        return ImageData(RESTYLES[task](digits.images), digits.labels, digits.class_names, name,
                         conditions=digits.images)
    conditions = CORRUPTIONS[task](digits.images, torch.Generator().manual_seed(PAIRS_SEED))
    return ImageData(digits.images, digits.labels, digits.class_names, name, conditions=conditions)


def load_folder_pairs(root: str, channels: Optional[int], size: int) -> ImageData:
    """``root/A`` (conditions) and ``root/B`` (targets), matched by file name (without suffix), each
    resized and centre-cropped to ``size``; a pair with an unreadable file is skipped and counted."""
    base = Path(root)
    folders = [base / "A", base / "B"]
    missing = [str(f) for f in folders if not f.is_dir()]
    if missing:
        raise GanforgeError(f"--dataset {FOLDER_PAIRS} reads DATA_ROOT/A (inputs) and DATA_ROOT/B (targets) with the "
                            f"same file names; {' and '.join(missing)} not found")
    files = [{p.stem: p for p in image_files(folder)} for folder in folders]
    for side, other in ((0, 1), (1, 0)):
        alone = sorted(set(files[side]) - set(files[other]))
        if alone:
            more = f" (and {len(alone) - 1} more)" if len(alone) > 1 else ""
            raise GanforgeError(f"--dataset {FOLDER_PAIRS}: {files[side][alone[0]]} has no image of the same name in "
                                f"{folders[other]}{more}")
    if not files[0]:
        raise GanforgeError(f"--dataset {FOLDER_PAIRS}: no images found in {folders[0]} and {folders[1]}")
    mode = "L" if channels == 1 else "RGB"
    check_fits(2 * 3 * len(files[0]) * (1 if channels == 1 else 3) * size * size,
               f"--image-size {size} ({len(files[0]):,} pairs in {base})", "--image-size")
    conditions, targets, skipped = [], [], 0
    for stem in sorted(files[0]):
        pair = [read_image(files[0][stem], mode, size), read_image(files[1][stem], mode, size)]
        if pair[0] is None or pair[1] is None:
            skipped += 1
            continue
        conditions.append(pair[0])
        targets.append(pair[1])
    if not targets:
        raise GanforgeError(f"--dataset {FOLDER_PAIRS}: none of the {len(files[0])} pairs in {base} could be read")
    return ImageData(stack_images(targets), None, None, f"{FOLDER_PAIRS}:{base}", skipped,
                     conditions=stack_images(conditions))
