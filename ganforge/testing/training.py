"""A few real training iterations of an architecture on random data, on CPU, through the
engine's own update step."""

from __future__ import annotations

from typing import Any

import torch

from ..data import ImageData, InMemoryBatches
from ..interfaces import Architecture, Loss, ModelSpec
from ..training.config import TrainConfig
from ..training.optim import make_optimizer
from ..training.step import StepSettings, UpdateStep
from .common import build_pair, checked_defaults, conformance_check, describe, fail
from .training_loss import training_loss


@conformance_check("training")
def check_training_steps(arch: Architecture, spec: ModelSpec, *, steps: int = 2, batch_size: int = 4,
                         loss: Any = None, seed: int = 0) -> None:
    """Train for ``steps`` iterations with the architecture's default training settings;
    every loss must stay finite and every parameter must stay finite and change."""
    loss, loss_name = training_loss(arch, loss)
    config = _tiny_config(arch, loss, loss_name, spec, batch_size, seed)
    G, D = build_pair(arch, spec, seed)
    update = UpdateStep(G, D, make_optimizer(config.g_optim, G.parameters()),
                        make_optimizer(config.d_optim, D.parameters()), loss,
                        StepSettings.from_config(config, spec.num_classes, torch.device("cpu")), torch.device("cpu"))
    batches = InMemoryBatches(_random_data(spec, batch_size, seed), batch_size, torch.device("cpu"),
                              torch.Generator().manual_seed(seed))
    before = {net: [p.detach().clone() for p in m.parameters()] for net, m in (("generator", G), ("discriminator", D))}
    for step in range(steps):
        values = update(batches, step)
        bad = sorted(k for k, v in values.items() if not torch.isfinite(v).all())
        if bad:
            fail("training", f"{', '.join(bad)} not finite at step {step + 1} with loss "
                             f"'{config.loss}' at {describe(spec)}")
    for net, module in (("generator", G), ("discriminator", D)):
        params = list(module.parameters())
        if not all(torch.isfinite(p).all() for p in params):
            fail("training", f"{net} weights became non-finite after {steps} step(s)")
        if params and all(torch.equal(a, b) for a, b in zip(before[net], params)):
            fail("training", f"{net} weights did not change in {steps} step(s)")


def _tiny_config(arch: Architecture, loss: Loss, loss_name: str, spec: ModelSpec, batch_size: int, seed: int):
    config = TrainConfig(seed=seed, arch_options=dict(spec.options))
    config.update(checked_defaults(arch), source=type(arch).__name__)
    config.update(checked_defaults(loss), source=type(loss).__name__)
    config.batch_size, config.latent_dim, config.device = batch_size, spec.latent_dim, "cpu"
    config.arch, config.loss = type(arch).__name__, loss_name
    return config


def _random_data(spec: ModelSpec, batch_size: int, seed: int) -> ImageData:
    rng = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (batch_size * 2, *spec.image_shape), generator=rng, dtype=torch.uint8)
    classes = spec.num_classes
    return ImageData(images=images, labels=torch.arange(len(images)) % classes if classes else None,
                     class_names=[str(i) for i in range(classes)] if classes else None, name="conformance-random")
