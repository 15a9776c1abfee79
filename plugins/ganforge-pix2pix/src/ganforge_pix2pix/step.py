"""The ``pix2pix`` step: D learns to tell (target, condition) pairs from (G(condition), condition)
pairs, patch by patch, through the run's loss (``--loss``, non-saturating by default); G learns to
fool it and to match the target, ``adversarial + l1_weight * |G(condition) - target|``.

Phases: ``D`` then ``G``, each every iteration. The D phase makes the fakes with their graph to G
(``keeps_graph``) and the G phase reuses them with the same batch's targets: one G forward per
iteration, as the alternating step's fake reuse.
"""

from __future__ import annotations

from typing import Mapping

import torch

from ganforge.interfaces import (CONDITION, DiscriminatorBatch, GeneratorBatch, InvalidSpec, LossResult, Option,
                                 Phase, PhaseContext, Step, StepSpec, split_loss)

from .functional import l1_distance

_PAIR, _D_BATCH = "pair", "d_batch"


class Pix2PixStep(Step):
    description = "pix2pix: conditional PatchGAN loss + l1_weight * L1 to the target (paired data)"
    generator_input = CONDITION
    options = {"l1_weight": Option(100.0, min=0.0, help="weight of the L1 distance to the target (the paper: 100)")}

    def validate(self, spec: StepSpec) -> None:
        if spec.config.augment != "none":
            raise InvalidSpec("--augment would transform the target and its condition apart; pix2pix trains without it")

    def phases(self, spec: StepSpec) -> tuple[Phase, ...]:
        return (Phase("D", ("D",), keeps_graph=("G",)), Phase("G", ("G",)))

    def run_phase(self, phase: Phase, ctx: PhaseContext) -> LossResult:
        if phase.name == "D":
            batch = ctx.next_batch()
            target, condition = batch.images, batch.condition
            fake_for_g = ctx.net("G")(condition)
            ctx.scratch[_PAIR] = (fake_for_g, target, condition)
            D = ctx.net("D")
            seen = lambda x: D(x, condition)
            fake = fake_for_g.detach()
            d_batch = DiscriminatorBatch(target, fake, seen(target), seen(fake), None, seen, ctx.step)
            ctx.scratch[_D_BATCH] = d_batch
            return ctx.loss.discriminator_loss(d_batch)
        fake, target, condition = ctx.scratch.pop(_PAIR)
        D = ctx.net("D")
        seen = lambda x: D(x, condition)
        adversarial, terms = split_loss(ctx.loss.generator_loss(GeneratorBatch(fake, seen(fake), None, seen, ctx.step)))
        l1 = l1_distance(fake.float(), target.float())
        total = adversarial + ctx.spec.options["l1_weight"] * l1
        return {"loss": total, **terms, "adversarial": adversarial.detach(), "l1": l1.detach()}

    def phase_metrics(self, phase: Phase, ctx: PhaseContext) -> Mapping[str, torch.Tensor]:
        if phase.name == "D":
            return ctx.loss.discriminator_metrics(ctx.scratch.pop(_D_BATCH))
        return {}
