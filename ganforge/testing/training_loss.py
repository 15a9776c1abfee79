"""Which loss the kit's training check uses, found by ganforge's one rule and checked first,
so a broken loss is reported as the loss's problem under its registered name."""

from __future__ import annotations

from typing import Any

from .. import registry
from ..errors import PluginError
from ..interfaces import Architecture, Loss
from .common import ConformanceError, as_instance, fail


def training_loss(arch: Architecture, loss: Any = None) -> tuple[Loss, str]:
    """(the Loss instance, its name in messages) for training ``arch``.

    ``loss`` is a Loss class or instance (named by its class), a registered name (NAME or
    DIST:NAME), or None: the architecture's ``defaults["loss"]``, looked up in the
    architecture's own distribution first (``registry.resolve_loss``), else "nonsaturating".
    The loss must load and pass ``check_loss``; otherwise this raises
    ConformanceError("loss: ...") naming it by its registered name (or class).
    """
    from .loss import check_loss

    if loss is not None and not isinstance(loss, str):
        instance = as_instance("loss", loss)
        name, where = type(instance).__name__, f"loss {type(instance).__name__}"
        role = "the loss given for training"
    else:
        role = ("the loss named for training" if loss else
                "the architecture's default loss" if arch.defaults.get("loss") else "the default loss")
        try:
            found = registry.resolve_loss(loss, arch, registry.distribution_of("architecture", arch))
            instance = found.load().obj
        except PluginError as exc:
            fail("loss", f"{role}: {exc}")
        name, where = registry.find("loss").name_for(found), found.where
    try:
        check_loss(instance, batch_size=4)
    except ConformanceError as exc:
        fail("loss", f"{role}, {where}, fails its checks: {exc}")
    return instance, name
