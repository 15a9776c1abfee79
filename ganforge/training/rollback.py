"""Rollback remedies: which remedy answers which health problem, and what each one changes in a
run that was just restored from a checkpoint (``--on-problem rollback``).

A remedy changes only state that the next checkpoint carries (the optimizers' learning rates,
the RNG streams), so a run that rolled back resumes exactly. Learning rates are multiplied by
``REMEDY_LR_FACTOR`` per use: the restored checkpoint already holds the earlier rollbacks' rates
(training went on from the last rollback, and a problem found later began after it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from .health_checks import DISCRIMINATOR_WINS, MODE_COLLAPSE, NON_FINITE
from .monitor_options import AUTO, LOWER_D_LR, LOWER_LR, REMEDY_LR_FACTOR, RESEED

#: ``--remedy auto``: the remedy of each problem the monitor finds.
AUTO_REMEDIES = {DISCRIMINATOR_WINS: LOWER_D_LR, MODE_COLLAPSE: RESEED, NON_FINITE: LOWER_LR}
#: Spreads the noise seeds of successive rollbacks apart from the run's seed and each other.
RESEED_STRIDE = 1_000_003


@dataclass
class RollbackRequest:
    """A health problem the monitor wants undone: the driver restores the newest checkpoint at
    or before ``began`` and then calls ``after_restore`` (which applies the remedy and returns
    the action record every hook is handed)."""

    kind: str
    message: str
    detected_step: int
    began: int
    after_restore: Callable[..., dict]


def remedy_for(kind: str, chosen: str) -> str:
    return AUTO_REMEDIES[kind] if chosen == AUTO else chosen


def _scale_learning_rate(optimizer: torch.optim.Optimizer) -> float:
    for group in optimizer.param_groups:
        group["lr"] = group["lr"] * REMEDY_LR_FACTOR
    return float(optimizer.param_groups[0]["lr"])


def apply_remedy(run, remedy: str, rollback_number: int) -> dict:
    """Change ``run`` (a restored ``assemble.Run``) as ``remedy`` says; returns the new values by
    name for the action record. ``rollback_number`` counts from 1."""
    if remedy == LOWER_D_LR:
        return {"d_lr": _scale_learning_rate(run.d_optimizer)}
    if remedy == LOWER_LR:
        return {"d_lr": _scale_learning_rate(run.d_optimizer), "g_lr": _scale_learning_rate(run.g_optimizer)}
    if remedy == RESEED:
        seed = (run.config.seed + RESEED_STRIDE * rollback_number) % 2 ** 63
        torch.manual_seed(seed)  # every device's default generator: the noise and augmentation draws
        return {"noise_seed": seed}
    raise ValueError(f"unknown remedy {remedy!r}")


def describe(remedy: str, changes: dict) -> str:
    if remedy == RESEED:
        return f"the noise stream re-seeded ({changes['noise_seed']})"
    return ", ".join(f"{'D' if key == 'd_lr' else 'G'} learning rate now {value:.3g}"
                     for key, value in changes.items())
