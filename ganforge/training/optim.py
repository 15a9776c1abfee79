"""Optimizers from a network's ``OptimizerSettings``, as its ``config.OPTIMIZER_RECORDS`` record says."""

from __future__ import annotations

from typing import Any, Iterable

import torch

from .config import OPTIMIZER_RECORDS, OptimizerSettings


def make_optimizer(settings: OptimizerSettings, params: Iterable[Any]) -> torch.optim.Optimizer:
    kind = OPTIMIZER_RECORDS[settings.name]
    arguments: dict[str, Any] = {"lr": settings.lr, "weight_decay": settings.weight_decay}
    if kind.betas:
        arguments["betas"] = tuple(settings.betas)
    if kind.momentum:
        arguments["momentum"] = settings.momentum
    if kind.nesterov:
        arguments["nesterov"] = settings.nesterov
    return getattr(torch.optim, kind.torch_class)(params, **arguments)
