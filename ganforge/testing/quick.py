"""The fast subset of the kit behind ``ganforge plugins --check``: one image shape, tiny
batches, one training iteration. Never raises; returns the failure as one line."""

from __future__ import annotations

from typing import Any, Optional

from .architecture import ANY_SIZE_PROBES, check_architecture, shapes_to_check
from .loss import check_loss
from .step import check_step


def quick_check(kind: str, obj: Any) -> Optional[str]:
    """None when ``obj`` (a loaded plugin) passes, else a one-line description of the failure."""
    try:
        if kind == "architecture":
            shapes_to_check(obj)  # every declared shape is accepted: cheap, nothing is built
            size = min(obj.image_sizes or ANY_SIZE_PROBES)
            check_architecture(obj, image_sizes=(size,), channels=obj.channels[:1], batch_size=2,
                               train_steps=1)
        elif kind == "loss":
            check_loss(obj, batch_size=4)
        elif kind == "step":
            check_step(obj, steps=1)  # on a tiny dcgan: its networks must be G and D
        else:
            return f"unknown plugin kind {kind!r}"
    except Exception as exc:  # noqa: BLE001 - any failure is the plugin's, reported in one line
        message = str(exc) if isinstance(exc, AssertionError) else f"{type(exc).__name__}: {exc}"
        return " ".join(message.split()) or type(exc).__name__
    return None
