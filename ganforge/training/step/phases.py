"""A step plugin's phases: checked once before anything is built, and what they imply for the
optimizers (StyleGAN2's lazy-regularisation rescale). Imports no torch."""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

from ...errors import InvalidPluginError
from ...interfaces import Phase

#: More runs of one phase per iteration than this is a typo (WGAN-GP's critic uses 5).
MAX_REPEATS = 100


def checked_phases(phases: Any, networks: Mapping[str, str], where: str) -> tuple[Phase, ...]:
    """The step's phases as a tuple, or one line naming the step and what is wrong."""
    if isinstance(phases, (str, bytes, Phase)) or not isinstance(phases, Sequence):
        raise InvalidPluginError(f"{where}: phases() must return a sequence of ganforge.interfaces.Phase, "
                                 f"got {type(phases).__name__}")
    phases = tuple(phases)
    if not phases:
        raise InvalidPluginError(f"{where}: phases() returned no phase")
    seen: set[str] = set()
    for phase in phases:
        if not isinstance(phase, Phase):
            raise InvalidPluginError(f"{where}: phases() must return ganforge.interfaces.Phase values, got {phase!r}")
        name = f"phase '{phase.name}'"
        if not isinstance(phase.name, str) or not phase.name or phase.name in seen:
            raise InvalidPluginError(f"{where}: each phase needs a name of its own, got {phase.name!r} twice or empty")
        seen.add(phase.name)
        for field, low, high in (("interval", 1, None), ("repeats", 1, MAX_REPEATS)):
            value = getattr(phase, field)
            if isinstance(value, bool) or not isinstance(value, int) or value < low or (high and value > high):
                bound = f"from {low} to {high}" if high else f"{low} or more"
                raise InvalidPluginError(f"{where}: {name} has {field} {value!r}; it must be a whole number {bound}")
        if isinstance(phase.updates, str) or not phase.updates:
            raise InvalidPluginError(f"{where}: {name} must update a tuple of one or more networks, got {phase.updates!r}")
        for field in ("updates", "keeps_graph"):
            unknown = [n for n in getattr(phase, field) if n not in networks]
            if unknown:
                raise InvalidPluginError(f"{where}: {name} names network(s) {', '.join(map(str, unknown))} in {field}, "
                                         f"but the step trains {', '.join(networks)}")
        if not math.isfinite(phase.loss_gain) or phase.loss_gain <= 0:
            raise InvalidPluginError(f"{where}: {name} has gain {phase.gain!r}; it must be a positive number")
    never = [n for n in networks if not any(n in p.updates for p in phases)]
    if never:
        raise InvalidPluginError(f"{where}: no phase updates network(s) {', '.join(never)}")
    return phases


def lazy_ratio(phases: Sequence[Phase], network: str) -> float:
    """StyleGAN2's factor for a network updated by lazy phases: the product of N / (N + 1) over
    them (1 without lazy phases); its optimizer takes ``lr * ratio`` and ``betas ** ratio``."""
    ratio = 1.0
    for phase in phases:
        if phase.lazy and network in phase.updates:
            ratio *= phase.interval / (phase.interval + 1)
    return ratio
