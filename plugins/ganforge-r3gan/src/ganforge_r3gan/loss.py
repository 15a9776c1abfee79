"""The ``rpgan`` loss plugin: relativistic pairing, the loss R3GAN trains with."""

from __future__ import annotations

import math

from ganforge.interfaces import DiscriminatorBatch, GeneratorBatch, Loss

from . import functional as F


class RpGAN(Loss):
    description = "RpGAN: relativistic pairing of real and fake logits (needs a step that pairs them: --step r3gan)"
    discriminator_loss_at_chance = math.log(2.0)  # softplus(0): D cannot tell the pair apart

    def discriminator_loss(self, batch: DiscriminatorBatch):
        return F.rpgan_discriminator_loss(batch.real_logits, batch.fake_logits)

    def generator_loss(self, batch: GeneratorBatch):
        if batch.real_logits is None:
            raise ValueError("rpgan pairs each fake logit with a real one, but this step gives the generator no "
                             "real logits; train with --step r3gan")
        return F.rpgan_generator_loss(batch.real_logits, batch.fake_logits)
