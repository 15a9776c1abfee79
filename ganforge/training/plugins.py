"""A run's plugins, found, loaded and validated once: the one value everything downstream takes.

Also the one home of the default-loss rule: the loss a run uses when none is named is the
architecture's ``defaults["loss"]``, else ``DEFAULT_LOSS``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from .. import registry
from ..interfaces import Architecture, Loss
from ..registry import LoadedPlugin

DEFAULT_LOSS = "nonsaturating"


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


def default_loss_name(architecture: Architecture) -> str:
    """The loss an architecture trains with when the user names none."""
    return architecture.defaults.get("loss") or DEFAULT_LOSS


def load_architecture(name: str) -> LoadedPlugin:
    return registry.load("architecture", name)


def load_loss(name: Optional[str], architecture: LoadedPlugin) -> LoadedPlugin:
    """The named loss, or the architecture's default one."""
    return registry.load("loss", name or default_loss_name(architecture.obj))


def load_plugins(arch_name: str, loss_name: Optional[str] = None) -> RunPlugins:
    architecture = load_architecture(arch_name)
    return RunPlugins(architecture, load_loss(loss_name, architecture))
