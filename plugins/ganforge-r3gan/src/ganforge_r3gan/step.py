"""The ``r3gan`` step plugin: how one iteration trains R3GAN's baseline.

Phases (``ganforge.interfaces.Phase``), in order:

* ``Dmain`` (every iteration): the loss on a real batch and as many fakes (RpGAN by default);
  with ``reg_interval`` 1 it also adds ``gamma / 2 * (R1 + R2)``, as the paper trains.
* ``Dreg`` (every ``reg_interval`` iterations, when it is above 1): ``gamma / 2 * (R1 + R2)``
  alone, StyleGAN2's lazy regularisation: the engine multiplies it by the interval and rescales
  D's Adam (lr x N/(N+1), betas ** N/(N+1)).
* ``Gmain`` (every iteration): the generator's loss on new fakes, paired with D's logits on the
  same real batch D saw.
* ``Greg`` (every ``pl_interval`` iterations, with ``pl_weight`` > 0): StyleGAN2's path-length
  penalty on the generator, from the latents this phase draws; its running mean is kept in the
  step's checkpointed state.
"""

from __future__ import annotations

import math
from typing import Mapping

import torch

from ganforge.interfaces import (DiscriminatorBatch, GeneratorBatch, InvalidSpec, LossResult, Option, Phase,
                                 PhaseContext, Step, StepSpec, split_loss)

from . import functional as F

_REAL, _FAKE, _D_BATCH = "real", "fake", "d_batch"


class R3GANStep(Step):
    description = "R3GAN: RpGAN + R1 + R2 (lazy every -S reg_interval), optional path-length penalty on G"
    options = {
        "gamma": Option(1.0, min=0.0, help="weight of R1 + R2 (each gamma / 2); 0 turns both off"),
        "reg_interval": Option(1, min=1, help="R1 + R2 every N iterations in a phase of their own (lazy "
                                              "regularisation); 1: in D's main loss, as the paper does"),
        "pl_weight": Option(0.0, min=0.0, help="weight of StyleGAN2's path-length penalty on G; 0 is off"),
        "pl_interval": Option(4, min=1, help="the path-length penalty every N iterations (lazy)"),
        "pl_decay": Option(0.01, min=0.0, max=1.0, help="how fast the path lengths' running mean follows them"),
    }

    def validate(self, spec: StepSpec) -> None:
        if spec.batch_size < 2 and spec.options["pl_weight"] > 0:
            raise InvalidSpec("the path-length penalty needs a batch of at least 2 per process")

    def phases(self, spec: StepSpec) -> tuple[Phase, ...]:
        o = spec.options
        regularised = o["gamma"] > 0
        lazy_reg = regularised and o["reg_interval"] > 1
        phases = [Phase("Dmain", ("D",), prefix="d", double_backward=regularised and not lazy_reg)]
        if lazy_reg:
            phases.append(Phase("Dreg", ("D",), interval=o["reg_interval"], lazy=True, double_backward=True,
                                prefix="d_reg"))
        phases.append(Phase("Gmain", ("G",), prefix="g"))
        if o["pl_weight"] > 0:
            phases.append(Phase("Greg", ("G",), interval=o["pl_interval"], lazy=o["pl_interval"] > 1,
                                double_backward=True, prefix="g_reg"))
        return tuple(phases)

    def run_phase(self, phase: Phase, ctx: PhaseContext) -> LossResult:
        return {"Dmain": self._discriminator, "Dreg": self._discriminator_penalties, "Gmain": self._generator,
                "Greg": self._path_length}[phase.name](phase, ctx)

    def phase_metrics(self, phase: Phase, ctx: PhaseContext) -> Mapping[str, torch.Tensor]:
        if phase.name == "Dmain":
            return ctx.loss.discriminator_metrics(ctx.scratch.pop(_D_BATCH))
        return {}

    # -- D ---------------------------------------------------------------------------------
    def _discriminator(self, phase: Phase, ctx: PhaseContext) -> LossResult:
        batch = ctx.next_batch()
        real, labels = batch.images, batch.labels
        with torch.no_grad():
            fake = ctx.net("G")(ctx.latent(real.shape[0]), labels)
        ctx.scratch[_REAL], ctx.scratch[_FAKE] = (real, labels), fake
        seen = ctx.seen_by("D", labels)
        if phase.double_backward:  # R1 and R2 on the logits the loss uses
            real, real_logits = F.penalised_logits(seen, real)
            fake, fake_logits = F.penalised_logits(seen, fake)
        else:
            real_logits, fake_logits = seen(real), seen(fake)
        d_batch = DiscriminatorBatch(real, fake, real_logits, fake_logits, labels, seen, ctx.step)
        ctx.scratch[_D_BATCH] = d_batch
        loss, terms = split_loss(ctx.loss.discriminator_loss(d_batch), "the loss")
        if not phase.double_backward:
            return {"loss": loss, **terms}
        r1, r2 = F.gradient_penalty(real_logits, real), F.gradient_penalty(fake_logits, fake)
        gamma = ctx.spec.options["gamma"]
        return {"loss": loss + gamma / 2 * (r1 + r2), **terms, "adversarial": loss.detach(), "r1": r1.detach(),
                "r2": r2.detach()}

    def _discriminator_penalties(self, phase: Phase, ctx: PhaseContext) -> LossResult:
        (real, labels), fake = ctx.scratch[_REAL], ctx.scratch[_FAKE]
        seen = ctx.seen_by("D", labels)
        real, real_logits = F.penalised_logits(seen, real)
        fake, fake_logits = F.penalised_logits(seen, fake)
        r1, r2 = F.gradient_penalty(real_logits, real), F.gradient_penalty(fake_logits, fake)
        # + 0 * logits: every weight of D gets a gradient (D's last bias does not move an input gradient),
        # which DistributedDataParallel waits for with several processes.
        touch = 0 * (real_logits.sum() + fake_logits.sum())
        return {"loss": ctx.spec.options["gamma"] / 2 * (r1 + r2) + touch, "r1": r1.detach(), "r2": r2.detach()}

    # -- G ---------------------------------------------------------------------------------
    def _generator(self, phase: Phase, ctx: PhaseContext) -> LossResult:
        real, labels = ctx.scratch.pop(_REAL)
        fake = ctx.net("G")(ctx.latent(real.shape[0]), labels)
        seen = ctx.seen_by("D", labels)
        with torch.no_grad():  # D is frozen and the real images are constants here
            real_logits = seen(real)
        return ctx.loss.generator_loss(GeneratorBatch(fake, seen(fake), labels, seen, ctx.step,
                                                      real_logits=real_logits))

    def _path_length(self, phase: Phase, ctx: PhaseContext) -> LossResult:
        n = max(2, ctx.spec.batch_size // 2)  # StyleGAN2 shrinks the batch for this penalty
        latents = ctx.latent(n).requires_grad_(True)
        images = ctx.net("G")(latents, ctx.random_labels(n))
        noise = torch.randn_like(images) / math.sqrt(images.shape[2] * images.shape[3])
        lengths = F.path_lengths(images, latents, noise)
        mean = ctx.state.get("pl_mean", torch.zeros((), device=lengths.device))
        mean = mean.lerp(lengths.mean().detach(), ctx.spec.options["pl_decay"]) if "pl_mean" in ctx.state \
            else lengths.mean().detach()
        ctx.state["pl_mean"] = mean
        penalty = F.path_length_penalty(lengths, mean)
        touch = 0 * images.sum()  # every weight of G gets a gradient, as in Dreg
        return {"loss": ctx.spec.options["pl_weight"] * penalty + touch, "path_length": lengths.mean().detach(),
                "pl_penalty": penalty.detach()}
