"""An exponential moving average (EMA) of the generator, kept by a driver hook.

After every training iteration (that is, after the iteration's generator updates) the averaged
copy moves towards the trained generator:

    average <- average + (1 - beta) * (trained - average),   beta = min(decay, (1 + t) / (10 + t))

where ``t`` counts the updates made so far. The warm-up term (as in TensorFlow's
``ExponentialMovingAverage`` with ``num_updates``) keeps the early average from being dominated
by the random initial weights, so the first sample grids of a run already mean something; after
``t = (10 * decay - 1) / (1 - decay)`` updates (about 9,000 for 0.999) beta is ``decay``.

Buffers: floating-point buffers (batch norm's running mean and variance) are averaged with the
same beta; the others (``num_batches_tracked``) are copied. The running statistics describe the
activations of the weights they were measured with; averaging them over the same window as the
weights keeps them consistent with the averaged weights (to first order: the first layer's
pre-normalisation mean is linear in its weights), where copying would pair the averaged weights
with the statistics of only the last few raw generators.

When the hook is on, ``RunDriver.output_generator`` is the averaged copy: sample grids, the
exported ``generator.safetensors`` and evaluation use it. Its state is in checkpoints.
"""

from __future__ import annotations

import copy
from typing import Optional

import torch
from torch import nn

from ..loop.driver import Hook, RunDriver

WARMUP = 10  # beta_t = min(decay, (1 + t) / (WARMUP + t))


def effective_decay(decay: float, updates: int) -> float:
    """beta for the update that follows ``updates`` earlier ones."""
    return min(decay, (1 + updates) / (WARMUP + updates))


class GeneratorAverage:
    """An averaged copy of ``source`` (no gradients), updated with ``update()``."""

    def __init__(self, source: nn.Module, decay: float):
        if not 0 < decay < 1:
            raise ValueError(f"decay must be in (0, 1), got {decay}")
        self.source = source
        self.decay = decay
        self.updates = 0
        self.module = copy.deepcopy(source)
        self.module.requires_grad_(False)
        self.module.eval()
        self._pair_tensors()

    def _pair_tensors(self) -> None:
        source_params = dict(self.source.named_parameters())
        source_buffers = dict(self.source.named_buffers())
        self._params = [(p, source_params[name]) for name, p in self.module.named_parameters()]
        floating = [(b, source_buffers[name]) for name, b in self.module.named_buffers()]
        self._averaged = self._params + [(b, s) for b, s in floating if b.is_floating_point()]
        self._copied = [(b, s) for b, s in floating if not b.is_floating_point()]

    @torch.no_grad()
    def update(self) -> None:
        weight = 1.0 - effective_decay(self.decay, self.updates)
        if self._averaged:
            torch._foreach_lerp_([a for a, _ in self._averaged], [s.detach() for _, s in self._averaged], weight)
        for average, source in self._copied:
            average.copy_(source)
        self.updates += 1

    def state_dict(self) -> dict:
        return {"decay": self.decay, "updates": self.updates, "module": self.module.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.module.load_state_dict(state["module"])
        self.updates = int(state["updates"])


class GeneratorEMA(Hook):
    """Keeps a ``GeneratorAverage`` of the run's generator and offers it as the output generator."""

    name = "ema"

    def __init__(self, decay: float):
        self.decay = decay
        self.average: Optional[GeneratorAverage] = None
        self._pending: Optional[dict] = None  # a checkpoint's state, loaded before the copy exists

    def on_start(self, driver: RunDriver) -> None:
        self.average = GeneratorAverage(driver.run.generator, self.decay)
        if self._pending is not None:
            self.average.load_state_dict(self._pending)
            self._pending = None

    def on_step(self, driver: RunDriver) -> None:
        self.average.update()

    def output_generator(self) -> Optional[nn.Module]:
        return None if self.average is None else self.average.module

    def state_dict(self) -> Optional[dict]:
        if self.average is None:
            return self._pending
        return self.average.state_dict()

    def load_state_dict(self, state: dict) -> None:
        if self.average is None:
            self._pending = state
        else:
            self.average.load_state_dict(state)
