"""A few real training iterations of an architecture on random data, on CPU, through the
Trainer's own discriminator and generator steps."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ..data import ImageData
from ..interfaces import Architecture, Loss, ModelSpec
from ..training.assemble import Run
from ..training.config import TrainConfig
from ..training.optim import make_optimizer
from .common import build_pair, checked_defaults, conformance_check, describe, fail
from .training_loss import training_loss


@conformance_check("training")
def check_training_steps(arch: Architecture, spec: ModelSpec, *, steps: int = 2, batch_size: int = 4,
                         loss: Any = None, seed: int = 0) -> None:
    """Train for ``steps`` iterations with the architecture's default training settings;
    every loss must stay finite and every parameter must stay finite and change."""
    loss, loss_name = training_loss(arch, loss)
    run = _tiny_run(arch, loss, loss_name, spec, batch_size, seed)
    from ..training.loop import Trainer

    trainer = Trainer(run, Path("conformance-run-not-written"))
    before = {net: [p.detach().clone() for p in getattr(run, net).parameters()]
              for net in ("generator", "discriminator")}
    c = run.config
    for step in range(steps):
        run.generator.train()
        run.discriminator.train()
        values = {}
        for _ in range(c.d_steps):
            real, labels = next(trainer.batches)
            values.update(trainer.discriminator_step(real, labels))
        for _ in range(c.g_steps):
            values.update(trainer.generator_step(c.batch_size))
        bad = sorted(k for k, v in values.items() if not torch.isfinite(v).all())
        if bad:
            fail("training", f"{', '.join(bad)} not finite at step {step + 1} with loss "
                             f"'{c.loss}' at {describe(spec)}")
    for net, old in before.items():
        params = list(getattr(run, net).parameters())
        if not all(torch.isfinite(p).all() for p in params):
            fail("training", f"{net} weights became non-finite after {steps} step(s)")
        if params and all(torch.equal(a, b) for a, b in zip(old, params)):
            fail("training", f"{net} weights did not change in {steps} step(s)")


def _tiny_run(arch: Architecture, loss: Loss, loss_name: str, spec: ModelSpec, batch_size: int,
              seed: int) -> Run:
    config = TrainConfig(batch_size=batch_size, latent_dim=spec.latent_dim, device="cpu", seed=seed,
                         arch_options=dict(spec.options))
    config.update(checked_defaults(arch), source=type(arch).__name__)
    config.update(checked_defaults(loss), source=type(loss).__name__)
    config.batch_size, config.latent_dim, config.device = batch_size, spec.latent_dim, "cpu"
    config.arch, config.loss = type(arch).__name__, loss_name
    rng = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (batch_size * 2, *spec.image_shape), generator=rng, dtype=torch.uint8)
    classes = spec.num_classes
    data = ImageData(images=images,
                     labels=torch.arange(len(images)) % classes if classes else None,
                     class_names=[str(i) for i in range(classes)] if classes else None,
                     name="conformance-random")
    G, D = build_pair(arch, spec, seed)
    return Run(config=config, architecture=arch, loss=loss, data=data, spec=spec, device=torch.device("cpu"),
               generator=G, discriminator=D, g_optimizer=make_optimizer(config, "g", G.parameters()),
               d_optimizer=make_optimizer(config, "d", D.parameters()))

