import numpy as np
import pytest
import torch
from PIL import Image

from ganforge.data import InMemoryBatches, load_dataset
from ganforge.errors import GanforgeError


def test_embedded_digits_are_the_real_mnist_5k():
    data = load_dataset("mnist-5k", "unused", None, None)
    assert data.images.shape == (5000, 1, 28, 28) and data.images.dtype == torch.uint8
    assert torch.bincount(data.labels).tolist() == [500] * 10
    assert data.class_names == [str(i) for i in range(10)]
    # Real handwriting: a dark background with bright strokes.
    assert data.images.float().mean() < 60 and data.images.max() == 255


def test_resize_and_channels():
    data = load_dataset("mnist-5k", "unused", 32, 3)
    assert data.image_shape == (3, 32, 32)


def _write_images(directory, count, size=(40, 30), color=(200, 10, 10)):
    directory.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        Image.new("RGB", size, color).save(directory / f"img{i}.png")


def test_image_folder_with_classes_and_an_unreadable_file(tmp_path):
    _write_images(tmp_path / "cats", 3)
    _write_images(tmp_path / "dogs", 2, color=(0, 0, 255))
    (tmp_path / "dogs" / "broken.png").write_bytes(b"not a png")
    data = load_dataset("folder", str(tmp_path), 16, None)
    assert data.images.shape == (5, 3, 16, 16)
    assert data.class_names == ["cats", "dogs"] and data.labels.tolist() == [0, 0, 0, 1, 1]
    assert data.skipped == 1
    assert data.images[3, 2].float().mean() > 250  # blue survives the resize


def test_flat_image_folder_is_unlabelled_and_can_be_grayscale(tmp_path):
    _write_images(tmp_path, 4)
    data = load_dataset("folder", str(tmp_path), 8, 1)
    assert data.labels is None and data.image_shape == (1, 8, 8)


@pytest.mark.parametrize("setup,message", [
    (lambda p: None, "not found"),
    (lambda p: p.mkdir(), "no images found"),
])
def test_missing_or_empty_folder(tmp_path, setup, message):
    target = tmp_path / "data"
    setup(target)
    with pytest.raises(GanforgeError, match=message):
        load_dataset("folder", str(target), 32, None)


def test_unknown_dataset_suggests():
    with pytest.raises(GanforgeError, match="did you mean 'mnist'"):
        load_dataset("mnsit", "x", None, None)


def test_batches_cover_each_epoch_once_and_are_in_range():
    data = load_dataset("mnist-5k", "unused", None, None)
    data.images, data.labels = data.images[:100], torch.arange(100)
    batches = InMemoryBatches(data, 30, torch.device("cpu"), torch.Generator().manual_seed(0))
    seen = [next(batches)[1] for _ in range(3)]
    assert sorted(torch.cat(seen).tolist()) == sorted(set(torch.cat(seen).tolist()))
    x, _ = next(batches)
    assert batches.epoch == 1 and x.shape == (30, 1, 28, 28)
    assert x.min() >= -1 and x.max() <= 1


def test_batches_refuse_a_dataset_smaller_than_a_batch():
    data = load_dataset("mnist-5k", "unused", None, None)
    data.images = data.images[:10]
    with pytest.raises(GanforgeError, match="fewer than --batch-size 64"):
        InMemoryBatches(data, 64, torch.device("cpu"), torch.Generator())
