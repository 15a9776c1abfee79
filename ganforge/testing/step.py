"""The step plugin's conformance check: the step loads as ganforge loads it, and trains an
architecture (by default the built-in ``dcgan``, tiny) for a few iterations through the engine."""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping, Optional

from .. import registry
from ..interfaces import CONDITION, Architecture, ModelSpec
from .common import as_instance, conformance_check, fail, isolated, make_spec, resolved_options
from .training import check_training_steps

#: The networks the default architecture is built with: small enough for a check of seconds.
TINY_DCGAN = {"ngf": 4, "ndf": 4}


@conformance_check("step")
def check_step(step: Any, arch: Any = "dcgan", *, arch_options: Optional[Mapping[str, Any]] = None,
               step_options: Optional[Mapping[str, Any]] = None, loss: Any = None, steps: int = 2,
               batch_size: int = 4, image_shape: tuple[int, int, int] = (1, 28, 28), seed: int = 0) -> None:
    """``step``: the Step class or an instance. ``arch``: a registered architecture name, or an
    Architecture class or instance, whose networks the step trains (``arch_options``: its ``-O``
    values; for the default ``dcgan`` they default to tiny widths). Every phase must run, losses
    stay finite, and every network's weights stay finite and change."""
    step = as_instance("step", step)
    arch = _architecture(arch)
    options = dict(TINY_DCGAN) if arch_options is None and type(arch).__name__ == "DCGAN" else dict(arch_options or {})
    spec = spec_for(arch, image_shape, options=options,
                    condition_shape=image_shape if step.generator_input == CONDITION else None)
    with isolated():
        check_training_steps(arch, spec, steps=steps, batch_size=batch_size, loss=loss, seed=seed, step=step,
                             step_options=dict(step_options or {}))


def spec_for(arch: Any, image_shape: tuple[int, int, int] = (1, 28, 28), latent_dim: int = 8,
             options: Optional[Mapping[str, Any]] = None,
             condition_shape: Optional[tuple[int, int, int]] = None) -> ModelSpec:
    """A ModelSpec for ``arch`` (an Architecture instance) with its options resolved as ``-O`` values are
    (``condition_shape``: the condition images of an image-to-image architecture)."""
    spec = make_spec(arch, image_shape, latent_dim, resolved_options(arch, options))
    return dataclasses.replace(spec, condition_shape=condition_shape)


def _architecture(arch: Any) -> Architecture:
    if isinstance(arch, str):
        try:
            return registry.load_architecture(arch)
        except Exception as exc:  # noqa: BLE001 - named as the check's failure
            fail("step", f"architecture '{arch}': {exc}")
    return as_instance("architecture", arch)


def partner_architecture(step: Any) -> Architecture:
    """An architecture to check ``step`` with when dcgan cannot serve (other networks, or image-to-image):
    one from the step's own distribution whose defaults name the step."""
    cls = type(step)
    for found_step in registry.find("step").all_found():
        if (found_step.entry_point.module, found_step.entry_point.attr) != (cls.__module__, cls.__qualname__):
            continue
        for found in registry.find("architecture").all_found():
            if found.distribution != found_step.distribution:
                continue
            arch = found.load().obj
            if dict(arch.defaults).get("step") in (found_step.name, found_step.qualified_name):
                return arch
    fail("step", f"{cls.__name__} trains {', '.join(step.networks)} ({step.generator_input} input): no architecture "
                 f"of its distribution names it in its defaults to check it with; call check_step(step, arch)")
