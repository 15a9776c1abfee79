"""A run's plugins, found, loaded and validated once: the one value everything downstream takes.

The loss and the step a run uses when none is named follow ``registry.resolve_loss`` and
``registry.resolve_step``, the one default rule (the architecture's ``defaults`` from its own
distribution first, else ``registry.DEFAULT_LOSS`` / ``DEFAULT_STEP``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from ... import registry
from ...errors import InvalidPluginError
from ...interfaces import Architecture, Loss, Step
from ...registry import LoadedPlugin


@dataclass(frozen=True)
class RunPlugins:
    architecture: LoadedPlugin
    loss: LoadedPlugin
    step: LoadedPlugin

    @property
    def arch(self) -> Architecture:
        return self.architecture.obj

    @property
    def loss_fn(self) -> Loss:
        return self.loss.obj

    @property
    def step_fn(self) -> Step:
        return self.step.obj

    @property
    def loss_name(self) -> str:
        """The loss's shortest unambiguous name (DIST:NAME when NAME picks another plugin)."""
        return registry.find("loss").name_for(self.loss.found)

    @property
    def step_name(self) -> str:
        return registry.find("step").name_for(self.step.found)


def load_plugins(arch_name: str, loss_name: Optional[str] = None, step_name: Optional[str] = None) -> RunPlugins:
    architecture = registry.load("architecture", arch_name)
    dist = architecture.found.distribution
    found_loss = registry.resolve_loss(loss_name, architecture.obj, dist)
    step = registry.resolve_step(step_name, architecture.obj, dist).load()
    check_networks_match(architecture, step)
    return RunPlugins(architecture, found_loss.load(), step)


def check_networks_match(architecture: LoadedPlugin, step: LoadedPlugin) -> None:
    """The step trains exactly the networks the architecture builds: one line naming both otherwise."""
    built, trained = tuple(architecture.obj.networks), tuple(step.obj.networks)
    missing = [n for n in trained if n not in built]
    if missing:
        raise InvalidPluginError(f"{step.found.where} trains network(s) {', '.join(missing)} that "
                                 f"{architecture.found.where} does not build (it builds {', '.join(built)})")
    unused = [n for n in built if n not in trained]
    if unused:
        raise InvalidPluginError(f"{architecture.found.where} builds network(s) {', '.join(unused)} that "
                                 f"{step.found.where} does not train (it trains {', '.join(trained)})")
