"""MNIST, Fashion-MNIST and CIFAR-10 from fixtures written in torchvision's on-disk format (IDX
binaries, CIFAR pickles), read without torchvision; downloads over file:// URLs with MD5 checks;
hostile and broken files refused in one line."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import pickle
import tarfile
import urllib.error

import numpy as np
import pytest

from ganforge.data import load_dataset
from ganforge.data import torchvision_files as files
from ganforge.errors import GanforgeError


def idx_bytes(array: np.ndarray) -> bytes:
    """IDX: two zero bytes, type 0x08 (unsigned byte), the rank, big-endian sizes, the data."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    return header + array.astype(np.uint8).tobytes()


def write_mnist(root, folder="MNIST", count=12, gz=False, seed=0):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(count, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, size=count, dtype=np.uint8)
    raw = root / folder / "raw"
    raw.mkdir(parents=True)
    for name, array in (("train-images-idx3-ubyte", images), ("train-labels-idx1-ubyte", labels)):
        data = idx_bytes(array)
        if gz:
            (raw / f"{name}.gz").write_bytes(gzip.compress(data))
        else:
            (raw / name).write_bytes(data)
    return images, labels


CIFAR_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def cifar_batch(rng, count):
    data = rng.integers(0, 256, size=(count, 3072), dtype=np.uint8)
    labels = [int(v) for v in rng.integers(0, 10, size=count)]
    return {"batch_label": "training batch", "labels": labels, "data": data,
            "filenames": [f"img{i}.png" for i in range(count)]}


def write_cifar(root, per_batch=3, seed=0):
    """The python version of CIFAR-10: five batch pickles and the meta pickle (protocol 2, as
    the originals), here with str keys."""
    rng = np.random.default_rng(seed)
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    batches = []
    for i in range(1, 6):
        batch = cifar_batch(rng, per_batch)
        batches.append(batch)
        (folder / f"data_batch_{i}").write_bytes(pickle.dumps(batch, protocol=2))
    meta = {"num_cases_per_batch": per_batch, "label_names": CIFAR_CLASSES, "num_vis": 3072}
    (folder / "batches.meta").write_bytes(pickle.dumps(meta, protocol=2))
    return batches


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Only file:// URLs: any other download attempt fails as it would offline."""
    real = files.urllib.request.urlopen

    def offline(url, *args, **kwargs):
        if not str(url).startswith("file://"):
            raise urllib.error.URLError("network disabled in tests")
        return real(url, *args, **kwargs)

    monkeypatch.setattr(files.urllib.request, "urlopen", offline)


def test_mnist_from_torchvision_layout(tmp_path):
    images, labels = write_mnist(tmp_path)
    data = load_dataset("mnist", str(tmp_path), None, None)
    assert data.images.shape == (12, 1, 28, 28) and str(data.images.dtype) == "torch.uint8"
    assert np.array_equal(data.images[:, 0].numpy(), images)
    assert data.labels.tolist() == labels.tolist()
    assert data.class_names == [str(i) for i in range(10)] and data.name == "mnist"


def test_fashion_mnist_from_gz_files(tmp_path):
    images, labels = write_mnist(tmp_path, folder="FashionMNIST", gz=True, seed=1)
    data = load_dataset("fashion-mnist", str(tmp_path), 32, 3)
    assert data.image_shape == (3, 32, 32) and data.labels.tolist() == labels.tolist()
    assert data.class_names[9] == "Ankle boot"
    plain = load_dataset("fashion-mnist", str(tmp_path), None, None)
    assert np.array_equal(plain.images[:, 0].numpy(), images)


def test_cifar10_from_torchvision_layout(tmp_path):
    batches = write_cifar(tmp_path)
    data = load_dataset("cifar10", str(tmp_path), None, None)
    assert data.images.shape == (15, 3, 32, 32) and data.class_names == CIFAR_CLASSES
    assert data.labels.tolist() == [v for b in batches for v in b["labels"]]
    # Row-major channels: the first 1024 values are the red plane of image 0.
    first = batches[0]["data"][0]
    assert np.array_equal(data.images[0, 0].numpy(), first[:1024].reshape(32, 32))
    assert np.array_equal(data.images[0, 2].numpy(), first[2048:].reshape(32, 32))
    last = batches[4]["data"][-1]
    assert np.array_equal(data.images[-1].numpy().reshape(-1), last)


def test_cifar_batches_with_bytes_keys_as_python2_wrote_them(tmp_path):
    write_cifar(tmp_path)
    rng = np.random.default_rng(5)
    batch = {key.encode(): value for key, value in cifar_batch(rng, 3).items()}
    (tmp_path / "cifar-10-batches-py" / "data_batch_2").write_bytes(pickle.dumps(batch, protocol=2))
    data = load_dataset("cifar10", str(tmp_path), None, None)
    assert np.array_equal(data.images[3].numpy().reshape(-1), batch[b"data"][0])


class RunsACommand:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_malicious_cifar_pickle_is_refused_in_one_line(tmp_path):
    write_cifar(tmp_path)
    marker = tmp_path / "pwned"
    hostile = {"data": RunsACommand(marker), "labels": [1]}
    path = tmp_path / "cifar-10-batches-py" / "data_batch_3"
    path.write_bytes(pickle.dumps(hostile, protocol=2))
    with pytest.raises(GanforgeError) as caught:
        load_dataset("cifar10", str(tmp_path), None, None)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"refusing to load {path}") and "system" in message
    assert not marker.exists()


def test_other_globals_are_refused_too():
    payload = pickle.dumps({"data": io.BytesIO(b"x")}, protocol=2)
    with pytest.raises(pickle.UnpicklingError, match="_io.BytesIO"):
        files._SafeUnpickler(io.BytesIO(payload)).load()


def test_a_truncated_idx_file_is_a_one_line_error(tmp_path):
    write_mnist(tmp_path)
    path = tmp_path / "MNIST" / "raw" / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(GanforgeError) as caught:
        load_dataset("mnist", str(tmp_path), None, None)
    message = str(caught.value)
    assert "\n" not in message and "truncated" in message and str(path) in message
    assert "needs 9408 bytes of data, found 9308" in message


def test_wrong_magic_number_is_refused(tmp_path):
    write_mnist(tmp_path)
    path = tmp_path / "MNIST" / "raw" / "train-labels-idx1-ubyte"
    path.write_bytes(bytes([0, 0, 8, 3]) + path.read_bytes()[4:])  # an images header on labels
    with pytest.raises(GanforgeError, match="magic number 0x00000803, expected 0x00000801"):
        load_dataset("mnist", str(tmp_path), None, None)


def test_truncated_cifar_pickle_is_a_one_line_error(tmp_path):
    write_cifar(tmp_path)
    path = tmp_path / "cifar-10-batches-py" / "data_batch_5"
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(GanforgeError) as caught:
        load_dataset("cifar10", str(tmp_path), None, None)
    assert "\n" not in str(caught.value) and str(path) in str(caught.value)


@pytest.mark.parametrize("name, where, what", [
    ("mnist", "MNIST/raw", "train-images-idx3-ubyte and train-labels-idx1-ubyte"),
    ("fashion-mnist", "FashionMNIST/raw", "train-images-idx3-ubyte and train-labels-idx1-ubyte"),
    ("cifar10", "cifar-10-batches-py", "data_batch_1, data_batch_2, data_batch_3, data_batch_4, "
                                       "data_batch_5, batches.meta"),
])
def test_missing_files_offline_say_where_to_put_which(tmp_path, name, where, what):
    with pytest.raises(GanforgeError) as caught:
        load_dataset(name, str(tmp_path), None, None)
    message = str(caught.value)
    assert "\n" not in message and str(tmp_path / where) in message and what in message
    assert "network disabled in tests" in message


def _serve(path, payload: bytes) -> files.Download:
    path.write_bytes(payload)
    return files.Download((path.as_uri(),), hashlib.md5(payload).hexdigest())


def test_mnist_download_checks_md5_and_keeps_the_gz(tmp_path, monkeypatch):
    served = tmp_path / "served"
    served.mkdir()
    rng = np.random.default_rng(3)
    images = rng.integers(0, 256, size=(4, 28, 28), dtype=np.uint8)
    labels = np.array([3, 1, 4, 1], dtype=np.uint8)
    sources = {"train-images-idx3-ubyte": _serve(served / "i.gz", gzip.compress(idx_bytes(images))),
               "train-labels-idx1-ubyte": _serve(served / "l.gz", gzip.compress(idx_bytes(labels)))}
    monkeypatch.setitem(files.MNIST_DOWNLOADS, "MNIST", sources)
    root = tmp_path / "data"
    data = load_dataset("mnist", str(root), None, None)
    assert data.labels.tolist() == [3, 1, 4, 1]
    assert (root / "MNIST" / "raw" / "train-images-idx3-ubyte.gz").is_file()

    corrupted = files.Download(sources["train-labels-idx1-ubyte"].urls, "0" * 32)
    monkeypatch.setitem(files.MNIST_DOWNLOADS, "MNIST", {**sources, "train-labels-idx1-ubyte": corrupted})
    other = tmp_path / "other"
    with pytest.raises(GanforgeError, match="MD5 [0-9a-f]{32}, expected 0{32}"):
        load_dataset("mnist", str(other), None, None)
    assert not (other / "MNIST" / "raw" / "train-labels-idx1-ubyte.gz").exists()


def test_cifar_download_extracts_only_the_batches_folder(tmp_path, monkeypatch):
    source_root = tmp_path / "source"
    write_cifar(source_root, per_batch=2)
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w:gz") as tar:
        tar.add(source_root / "cifar-10-batches-py", arcname="cifar-10-batches-py")
        escape = tarfile.TarInfo("../escaped.txt")
        escape.size = 3
        tar.addfile(escape, io.BytesIO(b"bad"))
    monkeypatch.setattr(files, "CIFAR_DOWNLOAD", _serve(tmp_path / "c.tar.gz", archive.getvalue()))
    root = tmp_path / "data"
    data = load_dataset("cifar10", str(root), None, None)
    assert data.images.shape == (10, 3, 32, 32)
    assert not (tmp_path / "escaped.txt").exists()


def test_codecs_encode_only_as_latin1():
    payload = b"\x80\x02c_codecs\nencode\nq\x00X\x03\x00\x00\x00abcq\x01X\x06\x00\x00\x00base64q\x02\x86q\x03Rq\x04."
    with pytest.raises(pickle.UnpicklingError, match="not latin1"):
        files._SafeUnpickler(io.BytesIO(payload)).load()
