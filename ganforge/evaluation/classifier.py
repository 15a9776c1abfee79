"""The digit classifier behind the offline metrics: a small CNN trained once on the embedded
MNIST digits, with a fixed seeded split, cached with a checksum.

Split: ``mnist-5k`` holds 500 images of each digit. For each class, a permutation drawn from
``torch.Generator().manual_seed(SPLIT_SEED)`` puts its first 100 images in the held-out half and
the other 400 in the train half: 4,000 / 1,000, stratified, the same on every machine.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from ..data import load_dataset
from ..data.dataset import to_model_range
from .cache import cache_dir, verified_digest, write_with_checksum

CLASSIFIER_NAME = "digit-cnn-v1"
SPLIT_SEED = 0
HELD_OUT_PER_CLASS = 100
TRAIN_SEED = 0
EPOCHS = 8
BATCH_SIZE = 64
LEARNING_RATE = 2e-3
FEATURE_DIM = 128
METADATA_KEY = "ganforge_classifier"


class DigitClassifier(nn.Module):
    """(N, 1, 28, 28) in [-1, 1] -> 10 logits; ``features`` gives the 128-d penultimate layer.

    Strided convolutions instead of pooling: about 3 MMAC per image, so training takes seconds."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(1, 16, 5, stride=2, padding=2, bias=False), nn.BatchNorm2d(16), nn.ReLU(),
            nn.Conv2d(16, 32, 5, stride=2, padding=2, bias=False), nn.BatchNorm2d(32), nn.ReLU(),
            nn.Flatten(), nn.Linear(32 * 7 * 7, FEATURE_DIM), nn.ReLU(),
        )
        self.dropout = nn.Dropout(0.3)
        self.head = nn.Linear(FEATURE_DIM, 10)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(self.body(x)))


@dataclass
class DigitSplit:
    """The embedded digits in [-1, 1], split into the classifier's train and held-out halves."""

    train_images: torch.Tensor
    train_labels: torch.Tensor
    held_out_images: torch.Tensor
    held_out_labels: torch.Tensor

    @property
    def description(self) -> str:
        return (f"mnist-5k stratified {len(self.train_labels)}/{len(self.held_out_labels)} "
                f"(per-class permutation, seed {SPLIT_SEED})")


def digit_split() -> DigitSplit:
    data = load_dataset("mnist-5k", "", None, None)
    images, labels = to_model_range(data.images), data.labels
    rng = torch.Generator().manual_seed(SPLIT_SEED)
    train_idx, held_idx = [], []
    for k in range(10):
        idx = torch.nonzero(labels == k).flatten()
        idx = idx[torch.randperm(len(idx), generator=rng)]
        held_idx.append(idx[:HELD_OUT_PER_CLASS])
        train_idx.append(idx[HELD_OUT_PER_CLASS:])
    tr, ho = torch.cat(train_idx).sort().values, torch.cat(held_idx).sort().values
    return DigitSplit(images[tr], labels[tr], images[ho], labels[ho])


def _augment(x: torch.Tensor, rng: torch.Generator) -> torch.Tensor:
    """Light random affine: rotation +-10 degrees, scale 0.9-1.1, shift +-2 pixels."""
    n = x.shape[0]
    angle = (torch.rand(n, generator=rng) * 2 - 1) * (10 * torch.pi / 180)
    scale = 0.9 + torch.rand(n, generator=rng) * 0.2
    shift = (torch.rand(n, 2, generator=rng) * 2 - 1) * (2 * 2 / 28)  # pixels -> [-1, 1] grid units
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    # Pad with the background value (-1) by shifting to [0, 2] and back.
    return F.grid_sample(x + 1, grid, mode="bilinear", padding_mode="zeros", align_corners=False) - 1


def train_classifier(split: DigitSplit, seed: int = TRAIN_SEED, epochs: Optional[int] = None) -> DigitClassifier:
    """Adam with a one-cycle learning rate, batch 64, light augmentation, ``EPOCHS`` epochs;
    deterministic for a seed on CPU.

    Runs on one thread: the weights (and so the checksum in every report's protocol) then do not
    depend on the machine's core count, and on a shared machine one thread trains this small net
    faster than two competing for cores (27 s vs 88-137 s measured on a loaded 2-core EPYC)."""
    epochs = EPOCHS if epochs is None else epochs
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _train(split, seed, epochs)
    finally:
        torch.set_num_threads(threads)


def _train(split: DigitSplit, seed: int, epochs: int) -> DigitClassifier:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        rng = torch.Generator().manual_seed(seed)
        model = DigitClassifier()
        opt = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)
        x, y = split.train_images, split.train_labels
        steps = epochs * ((len(y) + BATCH_SIZE - 1) // BATCH_SIZE)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=LEARNING_RATE, total_steps=max(steps, 1))
        model.train()
        for _ in range(epochs):
            order = torch.randperm(len(y), generator=rng)
            for batch in order.split(BATCH_SIZE):
                loss = F.cross_entropy(model(_augment(x[batch], rng)), y[batch])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
    return model.eval()


@torch.no_grad()
def accuracy(model: DigitClassifier, images: torch.Tensor, labels: torch.Tensor) -> float:
    preds = torch.cat([model(chunk).argmax(1) for chunk in images.split(1000)])
    return float((preds == labels).float().mean())


@dataclass
class CachedClassifier:
    model: DigitClassifier
    sha256: str
    path: Path
    held_out_accuracy: float
    train_seconds: Optional[float]  # None when loaded from the cache
    name: str = CLASSIFIER_NAME


def classifier_path(root: Optional[Path] = None) -> Path:
    return (root or cache_dir()) / f"{CLASSIFIER_NAME}-seed{TRAIN_SEED}.safetensors"


def load_or_train_classifier(split: Optional[DigitSplit] = None, root: Optional[Path] = None) -> CachedClassifier:
    """The cached classifier if its checksum verifies, else train it (once) and cache it.

    A missing, truncated or edited cache file is never an error: it is retrained and replaced
    atomically."""
    path = classifier_path(root)
    digest = verified_digest(path)
    if digest is not None:
        loaded = _load(path, digest)
        if loaded is not None:
            return loaded
    split = split or digit_split()
    start = time.perf_counter()
    model = train_classifier(split)
    seconds = time.perf_counter() - start
    acc = accuracy(model, split.held_out_images, split.held_out_labels)
    digest = _save(model, path, acc)
    return CachedClassifier(model, digest, path, acc, seconds)


def _save(model: DigitClassifier, path: Path, acc: float) -> str:
    from safetensors.torch import save_file

    from .. import __version__

    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    # The same weights must give the same file, hence the same sha256: no timings, and one
    # metadata key (safetensors writes several keys in no fixed order).
    meta = {"name": CLASSIFIER_NAME, "held_out_accuracy": repr(acc),
            "split": f"seed {SPLIT_SEED}, {HELD_OUT_PER_CLASS} per class held out",
            "train_seed": str(TRAIN_SEED), "ganforge_version": __version__}
    header = {METADATA_KEY: json.dumps(meta, sort_keys=True)}
    return write_with_checksum(path, lambda tmp: save_file(state, str(tmp), metadata=header))


def _load(path: Path, digest: str) -> Optional[CachedClassifier]:
    from safetensors import safe_open
    from safetensors.torch import load_file

    try:
        with safe_open(str(path), framework="pt") as f:
            meta = json.loads((f.metadata() or {})[METADATA_KEY])
        model = DigitClassifier()
        model.load_state_dict(load_file(str(path)))
        acc = float(meta["held_out_accuracy"])
    except Exception:  # noqa: BLE001 - a checksummed file from another version: retrain
        return None
    if not isinstance(meta, dict) or meta.get("name") != CLASSIFIER_NAME:
        return None
    return CachedClassifier(model.eval(), digest, path, acc, None)
