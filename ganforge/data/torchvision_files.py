"""MNIST, Fashion-MNIST and CIFAR-10 read from torchvision's on-disk layout by ganforge's own
small readers, so loading never needs torchvision (whose releases pin one torch each):

- MNIST:          ROOT/MNIST/raw/train-images-idx3-ubyte, train-labels-idx1-ubyte (or .gz)
- Fashion-MNIST:  ROOT/FashionMNIST/raw/ (the same two file names)
- CIFAR-10:       ROOT/cifar-10-batches-py/data_batch_1 ... data_batch_5, batches.meta

An existing torchvision download directory works as it is. Missing files are downloaded from
the datasets' published locations and checked against their published MD5 sums; offline, the
error says where to put which files. CIFAR-10's batches are Python pickles: they are read by an
unpickler that knows only the containers, strings and numbers the pickle format itself encodes
and NumPy's array reconstruction, and refuses anything else (a pickle can otherwise run code).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import pickle
import shutil
import tarfile
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import GanforgeError

IDX_UBYTE = 0x08
IDX_MAGIC = {1: 0x00000801, 3: 0x00000803}  # labels, images


@dataclass(frozen=True)
class Download:
    urls: tuple[str, ...]
    md5: str


MNIST_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte")
# The published .gz files and their MD5 sums (the ones torchvision also checks).
MNIST_DOWNLOADS = {
    "MNIST": {
        "train-images-idx3-ubyte": Download(
            ("https://ossci-datasets.s3.amazonaws.com/mnist/train-images-idx3-ubyte.gz",
             "http://yann.lecun.com/exdb/mnist/train-images-idx3-ubyte.gz"),
            "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
        "train-labels-idx1-ubyte": Download(
            ("https://ossci-datasets.s3.amazonaws.com/mnist/train-labels-idx1-ubyte.gz",
             "http://yann.lecun.com/exdb/mnist/train-labels-idx1-ubyte.gz"),
            "d53e105ee54ea40749a09fcbcd1e9432"),
    },
    "FashionMNIST": {
        "train-images-idx3-ubyte": Download(
            ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/train-images-idx3-ubyte.gz",),
            "8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
        "train-labels-idx1-ubyte": Download(
            ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/train-labels-idx1-ubyte.gz",),
            "25c81989df183df01b3e8a0aad5dffbe"),
    },
}
CIFAR_FOLDER = "cifar-10-batches-py"
CIFAR_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
CIFAR_ARCHIVE = "cifar-10-python.tar.gz"
CIFAR_DOWNLOAD = Download(("https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",),
                          "c58f30108f718f92721af3b95e74349a")


# ---------------------------------------------------------------- IDX (MNIST, Fashion-MNIST)

def read_idx(path: Path, ndim: int) -> np.ndarray:
    """An IDX file of unsigned bytes with ``ndim`` dimensions (plain or .gz) as a uint8 array."""
    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise GanforgeError(f"cannot read {path}: {type(exc).__name__}: {exc}") from None
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise GanforgeError(f"{path} is truncated: {len(raw)} bytes, not even an IDX header")
    magic = int.from_bytes(raw[:4], "big")
    if magic != IDX_MAGIC[ndim]:
        raise GanforgeError(f"{path} is not an IDX file of {ndim}-d unsigned bytes "
                            f"(magic number {magic:#010x}, expected {IDX_MAGIC[ndim]:#010x})")
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    expected = int(np.prod(shape, dtype=np.int64))
    if len(raw) - header != expected:
        raise GanforgeError(f"{path} is {'truncated' if len(raw) - header < expected else 'too long'}: "
                            f"shape {shape} needs {expected} bytes of data, found {len(raw) - header}")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def _idx_file(raw: Path, name: str) -> Path | None:
    for candidate in (raw / name, raw / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None


def load_mnist_like(root: str, folder: str, dataset: str, download: bool = True):
    """(images uint8 (N, 1, 28, 28), labels int64 (N,)) from ROOT/<folder>/raw/."""
    raw = Path(root).expanduser() / folder / "raw"
    files = {name: _idx_file(raw, name) for name in MNIST_FILES}
    missing = [name for name, path in files.items() if path is None]
    if missing and download:
        for name in missing:
            target = raw / f"{name}.gz"
            _download(MNIST_DOWNLOADS[folder][name], target, dataset, _mnist_hint(raw, dataset))
            files[name] = target
    elif missing:
        raise GanforgeError(_mnist_hint(raw, dataset))
    images = read_idx(files["train-images-idx3-ubyte"], 3)
    labels = read_idx(files["train-labels-idx1-ubyte"], 1)
    if len(images) != len(labels):
        raise GanforgeError(f"{raw}: {len(images)} images but {len(labels)} labels")
    if labels.size and labels.max() > 9:
        raise GanforgeError(f"{raw}: labels must be 0-9, found {int(labels.max())}")
    return images[:, None].copy(), labels.astype(np.int64)


def _mnist_hint(raw: Path, dataset: str) -> str:
    return (f"dataset '{dataset}' not found: put {' and '.join(MNIST_FILES)} (or their .gz) into "
            f"{raw} (torchvision's layout), or connect to the network once so ganforge can "
            f"download them")


# ---------------------------------------------------------------- CIFAR-10 pickles

class _SafeUnpickler(pickle.Unpickler):
    """Knows NumPy's array reconstruction (and latin1 text-to-bytes) and nothing else by name:
    dicts, lists, tuples, str, bytes and numbers need no names; any other global is refused."""

    def find_class(self, module: str, name: str):
        allowed = _allowed_globals()
        if (module, name) in allowed:
            return allowed[(module, name)]
        raise pickle.UnpicklingError(f"it asks for {module}.{name}, which a CIFAR-10 batch never does")


def _allowed_globals() -> dict:
    try:
        from numpy._core import multiarray
    except ImportError:  # NumPy 1.x
        from numpy.core import multiarray
    reconstruct = multiarray._reconstruct
    return {
        ("numpy.core.multiarray", "_reconstruct"): reconstruct,
        ("numpy._core.multiarray", "_reconstruct"): reconstruct,
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        # How Python 3 writes bytes at pickle protocols 0-2 (a batch re-saved by Python 3).
        ("_codecs", "encode"): _latin1_encode,
    }


def _latin1_encode(text: str, encoding: str = "latin1") -> bytes:
    if encoding not in ("latin1", "latin-1") or not isinstance(text, str):
        raise pickle.UnpicklingError(f"it asks for _codecs.encode with {encoding!r}, not latin1")
    return text.encode("latin1")


def read_pickle(path: Path) -> dict:
    """A CIFAR batch or meta pickle as a dict with str keys, through the restricted unpickler."""
    try:
        with open(path, "rb") as f:
            # latin1: the batches were written by Python 2; NumPy needs it for their array bytes.
            value = _SafeUnpickler(io.BytesIO(f.read()), encoding="latin1").load()
    except pickle.UnpicklingError as exc:
        raise GanforgeError(f"refusing to load {path}: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - truncated or garbled: one line for the user
        raise GanforgeError(f"cannot read {path} as a CIFAR-10 pickle ({type(exc).__name__}: {exc})") from None
    if not isinstance(value, dict):
        raise GanforgeError(f"{path} holds a {type(value).__name__}, not a CIFAR-10 batch dict")
    return {key.decode("latin1") if isinstance(key, bytes) else key: item for key, item in value.items()}


def _cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    batch = read_pickle(path)
    data, labels = batch.get("data"), batch.get("labels")
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 \
            or data.shape[1] != 3 * 32 * 32:
        raise GanforgeError(f"{path}: 'data' must be a uint8 array of shape (N, 3072)")
    if not isinstance(labels, list) or len(labels) != len(data) \
            or not all(isinstance(v, int) and 0 <= v <= 9 for v in labels):
        raise GanforgeError(f"{path}: 'labels' must be a list of {len(data)} integers 0-9")
    return data.reshape(-1, 3, 32, 32), np.asarray(labels, dtype=np.int64)


def load_cifar10(root: str, download: bool = True):
    """(images uint8 (N, 3, 32, 32), labels int64 (N,), class names) from ROOT/cifar-10-batches-py/."""
    base = Path(root).expanduser()
    folder = base / CIFAR_FOLDER
    names = [*CIFAR_BATCHES, "batches.meta"]
    hint = (f"dataset 'cifar10' not found: put {', '.join(names)} (the python version of CIFAR-10, "
            f"as torchvision downloads it) into {folder}, or connect to the network once so "
            f"ganforge can download them")
    if any(not (folder / name).is_file() for name in names):
        if not download:
            raise GanforgeError(hint)
        archive = base / CIFAR_ARCHIVE
        if not archive.is_file():
            _download(CIFAR_DOWNLOAD, archive, "cifar10", hint)
        _extract_cifar(archive, base)
    parts = [_cifar_batch(folder / name) for name in CIFAR_BATCHES]
    meta = read_pickle(folder / "batches.meta")
    classes = meta.get("label_names")
    if not isinstance(classes, list) or len(classes) != 10 or not all(isinstance(c, str) for c in classes):
        raise GanforgeError(f"{folder / 'batches.meta'}: 'label_names' must be a list of 10 names")
    return (np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]), classes)


def _extract_cifar(archive: Path, base: Path) -> None:
    """Extract the archive's regular files under cifar-10-batches-py/, nothing else."""
    try:
        with tarfile.open(archive, "r:gz") as tar:
            for member in tar.getmembers():
                parts = Path(member.name).parts
                if not member.isfile() or len(parts) != 2 or parts[0] != CIFAR_FOLDER \
                        or parts[1] in ("", ".", ".."):
                    continue
                target = base / CIFAR_FOLDER / parts[1]
                target.parent.mkdir(parents=True, exist_ok=True)
                with tar.extractfile(member) as source, open(target, "wb") as out:
                    shutil.copyfileobj(source, out)
    except (OSError, tarfile.TarError, EOFError) as exc:
        raise GanforgeError(f"cannot extract {archive} ({type(exc).__name__}: {exc}); delete it "
                            f"and try again") from None


# ---------------------------------------------------------------- downloads

def _download(source: Download, target: Path, dataset: str, hint: str) -> None:
    """Fetch the first reachable URL into target, atomically, after checking its MD5."""
    errors = []
    for url in source.urls:
        try:
            with urllib.request.urlopen(url, timeout=60) as response:
                data = response.read()
        except Exception as exc:  # noqa: BLE001 - offline, DNS, HTTP: try the next mirror
            errors.append(f"{url}: {type(exc).__name__}: {exc}")
            continue
        digest = hashlib.md5(data, usedforsecurity=False).hexdigest()
        if digest != source.md5:
            errors.append(f"{url}: MD5 {digest}, expected {source.md5}")
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=target.parent, delete=False, suffix=".part") as tmp:
            tmp.write(data)
        Path(tmp.name).replace(target)
        return
    raise GanforgeError(f"{hint} (download failed: {'; '.join(errors)})".replace("\n", " "))
