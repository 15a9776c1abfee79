"""Batches straight from tensors: no DataLoader workers or per-sample collation."""

from __future__ import annotations

from typing import Iterator, Optional

import torch

from ..errors import GanforgeError
from .dataset import ImageData, to_model_range


class InMemoryBatches:
    """Endless shuffled batches of [-1, 1] images (and labels, and condition images for paired
    data), reshuffled each epoch.

    The uint8 images move to ``device`` once; each batch is one index and one convert.
    Incomplete final batches are dropped so batch norm always sees ``batch_size`` samples.
    With ``part=(index, parts)`` (one process of several) every process walks the same order in
    batches of ``batch_size`` and takes slice ``index`` of ``parts`` of each: the parts of a batch
    put together are the one-process batch.
    """

    def __init__(self, data: ImageData, batch_size: int, device: torch.device, generator: torch.Generator,
                 part: tuple[int, int] = (0, 1)):
        if len(data) < batch_size:
            raise GanforgeError(
                f"dataset '{data.name}' has {len(data)} images, fewer than --batch-size {batch_size}"
            )
        self.images = data.images.to(device)
        self.labels = None if data.labels is None else data.labels.to(device)
        self.conditions = None if data.conditions is None else data.conditions.to(device)
        self.batch_size = batch_size
        index, parts = part
        if batch_size % parts or not 0 <= index < parts:
            raise GanforgeError(f"a batch of {batch_size} does not split into {parts} equal parts")
        share = batch_size // parts
        self._part = slice(index * share, (index + 1) * share) if parts > 1 else None
        self.generator = generator
        self.batches_per_epoch = len(data) // batch_size
        self.epoch = 0
        self.position = 0
        self._order = self._shuffle()

    def _shuffle(self) -> torch.Tensor:
        return torch.randperm(self.images.shape[0], generator=self.generator).to(self.images.device)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, Optional[torch.Tensor]]]:
        return self

    def __next__(self) -> tuple[torch.Tensor, ...]:
        """(images, labels), and for paired data (images, labels, conditions), all in [-1, 1]."""
        if self.position == self.batches_per_epoch:
            self.epoch += 1
            self.position = 0
            self._order = self._shuffle()
        start = self.position * self.batch_size
        idx = self._order[start:start + self.batch_size]
        if self._part is not None:
            idx = idx[self._part]
        self.position += 1
        x = to_model_range(self.images[idx])
        y = None if self.labels is None else self.labels[idx]
        if self.conditions is None:
            return x, y
        return x, y, to_model_range(self.conditions[idx])

    def state_dict(self) -> dict:
        return {"epoch": self.epoch, "position": self.position, "order": self._order.cpu(),
                "generator": self.generator.get_state()}

    def load_state_dict(self, state: dict) -> None:
        order = state["order"]
        if not isinstance(order, torch.Tensor) or order.numel() != self.images.shape[0] or (
                order.numel() and int(order.max()) >= self.images.shape[0]):
            size = order.numel() if isinstance(order, torch.Tensor) else "?"
            raise GanforgeError(f"the dataset has {self.images.shape[0]} images now but {size} when the "
                                f"checkpoint was written; resume with the same data")
        self.epoch = int(state["epoch"])
        self.position = int(state["position"])
        self._order = state["order"].to(self.images.device)
        self.generator.set_state(state["generator"])
