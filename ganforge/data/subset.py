"""A seeded random subset of an in-memory dataset (``--subset N``), for data-efficiency runs."""

from __future__ import annotations

import torch

from ..errors import GanforgeError
from .dataset import ImageData


def seeded_subset(data: ImageData, n: int, seed: int, batch_size: int) -> ImageData:
    """``n`` images of ``data`` drawn without replacement by a generator seeded with ``seed``, in
    their original order; the same (data, n, seed) always gives the same images."""
    if n > len(data):
        raise GanforgeError(f"--subset {n} is more than the {len(data)} images of dataset '{data.name}'")
    if n < batch_size:
        raise GanforgeError(f"--subset {n} is smaller than one batch (--batch-size {batch_size})")
    chosen = chosen_indices(len(data), n, seed)
    labels = None if data.labels is None else data.labels[chosen]
    conditions = None if data.conditions is None else data.conditions[chosen]
    return ImageData(data.images[chosen], labels, data.class_names, f"{data.name} (subset of {n})", data.skipped,
                     conditions)


def chosen_indices(total: int, n: int, seed: int) -> torch.Tensor:
    """The sorted indices of the ``n`` of ``total`` images ``seeded_subset`` keeps for ``seed``."""
    return torch.randperm(total, generator=torch.Generator().manual_seed(seed))[:n].sort().values
