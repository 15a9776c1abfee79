"""Optimizers from a network's ``OptimizerSettings``: one name -> class table."""

from __future__ import annotations

from typing import Any, Callable, Iterable

import torch

from .config import OptimizerSettings


def _adam_like(cls) -> Callable[[Iterable, OptimizerSettings], torch.optim.Optimizer]:
    return lambda params, s: cls(params, lr=s.lr, betas=tuple(s.betas), weight_decay=s.weight_decay)


OPTIMIZER_CLASSES: dict[str, Callable[[Iterable, OptimizerSettings], torch.optim.Optimizer]] = {
    "adam": _adam_like(torch.optim.Adam),
    "adamw": _adam_like(torch.optim.AdamW),
    "rmsprop": lambda params, s: torch.optim.RMSprop(params, lr=s.lr, momentum=s.momentum,
                                                     weight_decay=s.weight_decay),
    "sgd": lambda params, s: torch.optim.SGD(params, lr=s.lr, momentum=s.momentum, nesterov=s.nesterov,
                                             weight_decay=s.weight_decay),
}

#: Tensors of state each optimizer keeps per parameter, at most (Adam: two moments; RMSprop:
#: square average and momentum buffer; SGD: momentum buffer). Used to estimate memory up front.
OPTIMIZER_STATE_SLOTS = {"adam": 2, "adamw": 2, "rmsprop": 2, "sgd": 1}


def make_optimizer(settings: OptimizerSettings, params: Iterable[Any]) -> torch.optim.Optimizer:
    return OPTIMIZER_CLASSES[settings.name](params, settings)
