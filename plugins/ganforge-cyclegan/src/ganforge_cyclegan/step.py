"""The ``cyclegan`` step: two generators and two discriminators learn from unpaired images.

Each iteration draws two batches: domain A images from one (its conditions) and domain B images
from the other (its targets), so no image meets its partner. Phases:

* ``G`` (updates G_AB and G_BA together): each generator's adversarial loss against the other
  domain's discriminator, plus ``cycle_weight`` times the cycle-consistency L1,
  ``|G_BA(G_AB(a)) - a| + |G_AB(G_BA(b)) - b|``, plus ``identity_weight`` times
  ``|G_AB(b) - b| + |G_BA(a) - a|`` (0 by default: it fights a restyling such as inversion).
* ``D`` (updates D_A and D_B): each discriminator on its domain's real images against the
  generated ones, through the run's loss (``lsgan`` by default, as the paper).
"""

from __future__ import annotations

from typing import Mapping

import torch

from ganforge.interfaces import (CONDITION, DISCRIMINATOR, GENERATOR, DiscriminatorBatch, GeneratorBatch, LossResult,
                                 Option, Phase, PhaseContext, Step, StepSpec, split_loss)

_FAKES, _D_BATCH = "fakes", "d_batch_b"


def l1(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (a.float() - b.float()).abs().mean()


class CycleGANStep(Step):
    description = "CycleGAN: G_AB/G_BA with adversarial + cycle-consistency losses, then D_A/D_B, on unpaired batches"
    networks = {"G_AB": GENERATOR, "G_BA": GENERATOR, "D_A": DISCRIMINATOR, "D_B": DISCRIMINATOR}
    output = "G_AB"
    generator_input = CONDITION
    options = {"cycle_weight": Option(10.0, min=0.0, help="weight of the cycle-consistency L1 (the paper: 10)"),
               "identity_weight": Option(0.0, min=0.0, help="weight of the identity L1 (the paper: 5 for photos)")}

    def phases(self, spec: StepSpec) -> tuple[Phase, ...]:
        return (Phase("G", ("G_AB", "G_BA")), Phase("D", ("D_A", "D_B")))

    def real_batches_per_iteration(self, spec: StepSpec) -> int:
        return 2  # domain A from one batch, domain B from another: never a pair

    def run_phase(self, phase: Phase, ctx: PhaseContext) -> LossResult:
        return self._generators(ctx) if phase.name == "G" else self._discriminators(ctx)

    def _generators(self, ctx: PhaseContext) -> LossResult:
        real_a, real_b = ctx.next_batch().condition, ctx.next_batch().images
        g_ab, g_ba = ctx.net("G_AB"), ctx.net("G_BA")
        fake_b, fake_a = g_ab(real_a), g_ba(real_b)
        ctx.scratch[_FAKES] = (real_a, real_b, fake_a.detach(), fake_b.detach())
        adversarial = 0
        terms = {}
        for name, fake in (("D_B", fake_b), ("D_A", fake_a)):
            seen = ctx.seen_by(name, None)
            loss, _ = split_loss(ctx.loss.generator_loss(GeneratorBatch(fake, seen(fake), None, seen, ctx.step)))
            terms[f"adversarial_{name[-1].lower()}"] = loss.detach()
            adversarial = adversarial + loss
        cycle = l1(g_ba(fake_b), real_a) + l1(g_ab(fake_a), real_b)
        total = adversarial + ctx.spec.options["cycle_weight"] * cycle
        identity_weight = ctx.spec.options["identity_weight"]
        if identity_weight > 0:
            identity = l1(g_ab(real_b), real_b) + l1(g_ba(real_a), real_a)
            total = total + identity_weight * identity
            terms["identity"] = identity.detach()
        return {"loss": total, **terms, "cycle": cycle.detach()}

    def _discriminators(self, ctx: PhaseContext) -> LossResult:
        real_a, real_b, fake_a, fake_b = ctx.scratch.pop(_FAKES)
        total, terms = 0, {}
        for name, real, fake in (("D_A", real_a, fake_a), ("D_B", real_b, fake_b)):
            seen = ctx.seen_by(name, None)
            batch = DiscriminatorBatch(real, fake, seen(real), seen(fake), None, seen, ctx.step)
            loss, _ = split_loss(ctx.loss.discriminator_loss(batch))
            terms[name[-1].lower()] = loss.detach()
            total = total + loss
            ctx.scratch[_D_BATCH] = batch
        return {"loss": total, **terms}

    def phase_metrics(self, phase: Phase, ctx: PhaseContext) -> Mapping[str, torch.Tensor]:
        if phase.name == "D":  # what the loss reports about D_B, the judge of the exported G_AB
            return ctx.loss.discriminator_metrics(ctx.scratch.pop(_D_BATCH))
        return {}
