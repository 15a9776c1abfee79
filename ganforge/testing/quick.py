"""The fast subset of the kit behind ``ganforge plugins --check``: one image shape, tiny
batches, one training iteration. Never raises; returns the failure as one line."""

from __future__ import annotations

from typing import Any, Optional

from ..interfaces import DISCRIMINATOR, GENERATOR, NOISE
from .architecture import ANY_SIZE_PROBES, check_architecture, shapes_to_check
from .loss import check_loss
from .step import check_step, partner_architecture
from .training import default_step


def quick_check(kind: str, obj: Any) -> Optional[str]:
    """None when ``obj`` (a loaded plugin) passes, else a one-line description of the failure."""
    try:
        if kind == "architecture":
            shapes_to_check(obj)  # every declared shape is accepted: cheap, nothing is built
            size = min(obj.image_sizes or ANY_SIZE_PROBES)
            step = default_step(obj)
            if _noise_to_image(step):
                check_architecture(obj, image_sizes=(size,), channels=obj.channels[:1], batch_size=2,
                                   train_steps=1)
            else:  # the kit's architecture checks are for G(z) and D(x): train it with its step instead
                check_step(step, obj, image_shape=(obj.channels[0], size, size), steps=1, batch_size=2)
        elif kind == "loss":
            check_loss(obj, batch_size=4)
        elif kind == "step":
            if _noise_to_image(obj):
                check_step(obj, steps=1)  # on a tiny dcgan
            else:
                arch = partner_architecture(obj)
                size = min(arch.image_sizes or ANY_SIZE_PROBES)
                check_step(obj, arch, image_shape=(arch.channels[0], size, size), steps=1, batch_size=2)
        else:
            return f"unknown plugin kind {kind!r}"
    except Exception as exc:  # noqa: BLE001 - any failure is the plugin's, reported in one line
        message = str(exc) if isinstance(exc, AssertionError) else f"{type(exc).__name__}: {exc}"
        return " ".join(message.split()) or type(exc).__name__
    return None


def _noise_to_image(step) -> bool:
    """A step the kit can run on dcgan: G(z, labels) and D(x, labels), named G and D."""
    return step.generator_input == NOISE and dict(step.networks) == {"G": GENERATOR, "D": DISCRIMINATOR}
