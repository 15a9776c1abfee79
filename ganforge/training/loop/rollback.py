"""Rollback remedies: which remedy answers which health problem, and what each one changes in a
run that was just restored from a checkpoint (``--on-problem rollback``).

A remedy changes only state that the next checkpoint carries (the optimizers' learning rates),
so a run that rolled back resumes exactly. Learning rates are multiplied by
``REMEDY_LR_FACTOR`` per use: the restored checkpoint already holds the earlier rollbacks' rates
(training went on from the last rollback, and a problem found later began after it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from ...interfaces import DISCRIMINATOR, GENERATOR
from .health_checks import DISCRIMINATOR_WINS, MODE_COLLAPSE, NON_FINITE
from ..setup.monitor_options import AUTO, LOWER_D_LR, LOWER_LR, REMEDY_LR_FACTOR

#: ``--remedy auto``: the remedy of each problem the monitor finds. Measured (README, "Rollbacks"):
#: lower-d-lr on a D that wins, lower-lr on a NaN; no recipe tried made dcgan collapse, so the
#: collapse entry is the D-wins remedy, unmeasured.
AUTO_REMEDIES = {DISCRIMINATOR_WINS: LOWER_D_LR, MODE_COLLAPSE: LOWER_D_LR, NON_FINITE: LOWER_LR}


@dataclass
class RollbackRequest:
    """A health problem the monitor wants undone: the driver restores the newest checkpoint at
    or before ``began`` and then calls ``after_restore`` (which applies the remedy and returns
    the action record every hook is handed)."""

    kind: str
    message: str
    began: int
    after_restore: Callable[..., dict]


def remedy_for(kind: str, chosen: str) -> str:
    return AUTO_REMEDIES[kind] if chosen == AUTO else chosen


def _scale_learning_rates(run, role: str) -> float:
    """Lower the learning rate of every network of ``role``; returns the first one's new rate."""
    rates = []
    for name, network_role in run.roles.items():
        if network_role == role:
            optimizer = run.optimizers[name]
            for group in optimizer.param_groups:
                group["lr"] = group["lr"] * REMEDY_LR_FACTOR
            rates.append(float(optimizer.param_groups[0]["lr"]))
    return rates[0]


def apply_remedy(run, remedy: str) -> dict:
    """Change ``run`` (a restored ``assemble.Run``) as ``remedy`` says (every discriminator's learning
    rate, or every network's); returns the new values by name for the action record."""
    if remedy == LOWER_D_LR:
        return {"d_lr": _scale_learning_rates(run, DISCRIMINATOR)}
    if remedy == LOWER_LR:
        return {"d_lr": _scale_learning_rates(run, DISCRIMINATOR), "g_lr": _scale_learning_rates(run, GENERATOR)}
    raise ValueError(f"unknown remedy {remedy!r}")


def describe(changes: dict) -> str:
    return ", ".join(f"{'D' if key == 'd_lr' else 'G'} learning rate now {value:.3g}"
                     for key, value in changes.items())
