"""The built-in ``alternating`` step: ``--d-steps`` discriminator updates, then ``--g-steps``
generator updates, each through the run's loss plugin (the DCGAN recipe).

With ``--reuse-fake`` (the default) the last D update makes its fake images with a graph to G
and hands them to the first G update through the iteration's scratch, as the plain PyTorch
DCGAN script does: one generator forward fewer per iteration.
"""

from __future__ import annotations

from typing import Mapping

import torch

from ..interfaces import DiscriminatorBatch, GeneratorBatch, LossResult, Phase, PhaseContext, Step, StepSpec

_FAKE, _D_BATCH = "fake_for_g", "d_batch"


class Alternating(Step):
    description = "D then G: --d-steps discriminator updates, then --g-steps generator updates, through --loss"

    def phases(self, spec: StepSpec) -> tuple[Phase, ...]:
        c = spec.config
        return (Phase("D", updates=("D",), repeats=c.d_steps, keeps_graph=("G",) if c.reuse_fake else ()),
                Phase("G", updates=("G",), repeats=c.g_steps))

    def real_batches_per_iteration(self, spec: StepSpec) -> int:
        return spec.config.d_steps

    def run_phase(self, phase: Phase, ctx: PhaseContext) -> LossResult:
        return self._discriminator(ctx) if phase.name == "D" else self._generator(ctx)

    def phase_metrics(self, phase: Phase, ctx: PhaseContext) -> Mapping[str, torch.Tensor]:
        if phase.name == "D":
            return ctx.loss.discriminator_metrics(ctx.scratch.pop(_D_BATCH))
        return {}

    def _discriminator(self, ctx: PhaseContext) -> LossResult:
        batch = ctx.next_batch()
        real, labels = batch.images, batch.labels
        z = ctx.latent(real.shape[0])
        G = ctx.net("G")
        if ctx.spec.config.reuse_fake and ctx.repeat == ctx.spec.config.d_steps - 1:
            fake_for_g = G(z, labels)
            fake = fake_for_g.detach()
            ctx.scratch[_FAKE] = (fake_for_g, labels)
        else:
            with torch.no_grad():
                fake = G(z, labels)
        seen = ctx.seen_by("D", labels)
        d_batch = DiscriminatorBatch(real, fake, seen(real), seen(fake), labels, seen, ctx.step)
        ctx.scratch[_D_BATCH] = d_batch
        return ctx.loss.discriminator_loss(d_batch)

    def _generator(self, ctx: PhaseContext) -> LossResult:
        fake, labels = ctx.scratch.pop(_FAKE, (None, None))
        if fake is None:
            n = ctx.spec.batch_size
            labels = ctx.random_labels(n)
            fake = ctx.net("G")(ctx.latent(n), labels)
        seen = ctx.seen_by("D", labels)
        return ctx.loss.generator_loss(GeneratorBatch(fake, seen(fake), labels, seen, ctx.step))
