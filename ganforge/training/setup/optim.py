"""Optimizers from a network's ``OptimizerSettings``, as its ``config.OPTIMIZER_RECORDS`` record says."""

from __future__ import annotations

from typing import Any, Iterable

import torch

from .config import OPTIMIZER_RECORDS, OptimizerSettings


def make_optimizer(settings: OptimizerSettings, params: Iterable[Any], lazy_ratio: float = 1.0) -> torch.optim.Optimizer:
    """``lazy_ratio`` < 1 (a network with lazy regularisation phases, see ``phases.lazy_ratio``) scales
    the learning rate by it and raises betas and momentum to its power, as StyleGAN2 does."""
    kind = OPTIMIZER_RECORDS[settings.name]
    arguments: dict[str, Any] = {"lr": settings.lr * lazy_ratio, "weight_decay": settings.weight_decay}
    if kind.betas:
        arguments["betas"] = tuple(b ** lazy_ratio for b in settings.betas)
    if kind.momentum:
        arguments["momentum"] = settings.momentum ** lazy_ratio
    if kind.nesterov:
        arguments["nesterov"] = settings.nesterov
    return getattr(torch.optim, kind.torch_class)(params, **arguments)
