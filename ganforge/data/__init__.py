"""Datasets, all held in memory as uint8 images: the embedded MNIST digits, MNIST,
Fashion-MNIST and CIFAR-10 from torchvision's on-disk layout (read without torchvision,
downloaded when missing), and any folder of images."""

from .batches import InMemoryBatches
from .dataset import ImageData
from .sources import DATASETS, FOLDER, load_dataset

__all__ = ["DATASETS", "FOLDER", "ImageData", "InMemoryBatches", "load_dataset"]
