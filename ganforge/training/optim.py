"""Per-network optimizers from the run config (prefix "g" or "d")."""

import torch

from .config import TrainConfig


def make_optimizer(config: TrainConfig, net: str, params) -> torch.optim.Optimizer:
    name = getattr(config, f"{net}_optimizer")
    lr = float(getattr(config, f"{net}_lr"))
    momentum = float(getattr(config, f"{net}_momentum"))
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, betas=tuple(getattr(config, f"{net}_betas")))
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, momentum=momentum)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=momentum, nesterov=bool(getattr(config, f"{net}_nesterov")))
    raise ValueError(f"unknown optimizer {name!r}")  # validate() rejects this earlier
