"""A few real training iterations of an architecture on random data, on CPU, through the
engine's own update step (the run's step plugin: by default ``alternating``)."""

from __future__ import annotations

from typing import Any, Optional

import torch

from ..data import ImageData, InMemoryBatches
from ..interfaces import CONDITION, Architecture, Loss, ModelSpec
from ..options import resolve_options
from ..training.setup.assemble import build_optimizers, network_optimizer_settings, step_phases, step_spec
from ..training.setup.config import TrainConfig
from ..training.step.engine import UpdateStep
from .common import build_all, checked_defaults, conformance_check, describe, fail
from .training_loss import training_loss


@conformance_check("training")
def check_training_steps(arch: Architecture, spec: ModelSpec, *, steps: int = 2, batch_size: int = 4,
                         loss: Any = None, seed: int = 0, step: Any = None,
                         step_options: Optional[dict] = None) -> None:
    """Train for ``steps`` iterations with the architecture's default training settings (and
    ``step``, a Step instance: default the architecture's, else ``alternating``); every loss must stay finite,
    and every parameter must stay finite and change."""
    loss, loss_name = training_loss(arch, loss)
    step = default_step(arch) if step is None else step
    config = _tiny_config(arch, loss, loss_name, step, spec, batch_size, seed)
    config.step_options = resolve_options(step.options, step_options or {}, type(step).__name__)
    stepping = step_spec(config, spec.num_classes, batch_size)
    phases = step_phases(step, stepping, type(step).__name__)
    built = build_all(arch, spec, seed)
    missing = [name for name in step.networks if name not in built]
    if missing:
        fail("training", f"the step trains {', '.join(missing)}, which {type(arch).__name__} does not build")
    networks = {name: built[name] for name in step.networks}
    optimizers = build_optimizers(networks, network_optimizer_settings(config, step.networks), phases)
    update = UpdateStep(step, stepping, phases, networks, optimizers, loss, torch.device("cpu"))
    data = _random_data(spec, batch_size * step.real_batches_per_iteration(stepping), seed,
                        paired=step.generator_input == CONDITION)
    batches = InMemoryBatches(data, batch_size, torch.device("cpu"), torch.Generator().manual_seed(seed))
    before = {name: [p.detach().clone() for p in m.parameters()] for name, m in networks.items()}
    for index in range(steps):
        values = update(batches, index)
        bad = sorted(k for k, v in values.items() if not torch.isfinite(v).all())
        if bad:
            fail("training", f"{', '.join(bad)} not finite at step {index + 1} with loss "
                             f"'{config.loss}' at {describe(spec)}")
    for name, module in networks.items():
        what = {"G": "generator", "D": "discriminator"}.get(name, f"network '{name}'")
        params = list(module.parameters())
        if not all(torch.isfinite(p).all() for p in params):
            fail("training", f"{what} weights became non-finite after {steps} step(s)")
        if params and all(torch.equal(a, b) for a, b in zip(before[name], params)):
            fail("training", f"{what} weights did not change in {steps} step(s)")


def default_step(arch: Architecture):
    """The architecture's ``defaults["step"]`` (from its own distribution first), else ``alternating``."""
    from .. import registry
    from ..errors import PluginError

    try:
        return registry.resolve_step(None, arch, registry.distribution_of("architecture", arch)).load().obj
    except PluginError as exc:
        fail("training", f"the architecture's default step: {exc}")


def _tiny_config(arch: Architecture, loss: Loss, loss_name: str, step: Any, spec: ModelSpec, batch_size: int,
                 seed: int):
    config = TrainConfig(seed=seed, arch_options=dict(spec.options))
    config.update(checked_defaults(arch), source=type(arch).__name__)
    config.update(checked_defaults(step), source=type(step).__name__)
    config.update(checked_defaults(loss), source=type(loss).__name__)
    config.batch_size, config.latent_dim, config.device = batch_size, spec.latent_dim, "cpu"
    config.arch, config.loss, config.step = type(arch).__name__, loss_name, type(step).__name__
    return config


def _random_data(spec: ModelSpec, n: int, seed: int, paired: bool = False) -> ImageData:
    rng = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (max(n, 1) * 2, *spec.image_shape), generator=rng, dtype=torch.uint8)
    classes = spec.num_classes
    conditions = None
    if paired:
        if spec.condition_shape is None:
            fail("training", "the step translates condition images: give the spec a condition_shape")
        conditions = torch.randint(0, 256, (len(images), *spec.condition_shape), generator=rng, dtype=torch.uint8)
    return ImageData(images=images, labels=torch.arange(len(images)) % classes if classes else None,
                     class_names=[str(i) for i in range(classes)] if classes else None, name="conformance-random",
                     conditions=conditions)
