"""Batches straight from tensors: no DataLoader workers or per-sample collation."""

from __future__ import annotations

from typing import Iterator, Optional

import torch

from ..errors import GanforgeError
from .dataset import ImageData, to_model_range


class InMemoryBatches:
    """Endless shuffled batches of [-1, 1] images (and labels), reshuffled each epoch.

    The uint8 images move to ``device`` once; each batch is one index and one convert.
    Incomplete final batches are dropped so batch norm always sees ``batch_size`` samples.
    """

    def __init__(self, data: ImageData, batch_size: int, device: torch.device, generator: torch.Generator):
        if len(data) < batch_size:
            raise GanforgeError(
                f"dataset '{data.name}' has {len(data)} images, fewer than --batch-size {batch_size}"
            )
        self.images = data.images.to(device)
        self.labels = None if data.labels is None else data.labels.to(device)
        self.batch_size = batch_size
        self.generator = generator
        self.batches_per_epoch = len(data) // batch_size
        self.epoch = 0
        self.position = 0
        self._order = self._shuffle()

    def _shuffle(self) -> torch.Tensor:
        return torch.randperm(self.images.shape[0], generator=self.generator).to(self.images.device)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, Optional[torch.Tensor]]]:
        return self

    def __next__(self) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
        if self.position == self.batches_per_epoch:
            self.epoch += 1
            self.position = 0
            self._order = self._shuffle()
        start = self.position * self.batch_size
        idx = self._order[start:start + self.batch_size]
        self.position += 1
        x = to_model_range(self.images[idx])
        y = None if self.labels is None else self.labels[idx]
        return x, y

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
