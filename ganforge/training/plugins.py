"""A run's plugins, found, loaded and validated once: the one value everything downstream takes.

The loss a run uses when none is named follows ``registry.resolve_loss``, the one default-loss
rule (the architecture's ``defaults["loss"]`` from its own distribution first, else
``registry.DEFAULT_LOSS``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from .. import registry
from ..interfaces import Architecture, Loss
from ..registry import LoadedPlugin


@dataclass(frozen=True)
class RunPlugins:
    architecture: LoadedPlugin
    loss: LoadedPlugin

    @property
    def arch(self) -> Architecture:
        return self.architecture.obj

    @property
    def loss_fn(self) -> Loss:
        return self.loss.obj

    @property
    def loss_name(self) -> str:
        """The loss's shortest unambiguous name (DIST:NAME when NAME picks another plugin)."""
        return registry.find("loss").name_for(self.loss.found)


def load_plugins(arch_name: str, loss_name: Optional[str] = None) -> RunPlugins:
    architecture = registry.load("architecture", arch_name)
    found_loss = registry.resolve_loss(loss_name, architecture.obj, architecture.found.distribution)
    return RunPlugins(architecture, found_loss.load())
