"""The ``hinge`` loss plugin."""

from ganforge.interfaces import DiscriminatorBatch, GeneratorBatch, Loss

from . import functional as F


class Hinge(Loss):
    description = "Hinge loss: max(0, 1 - D(x)) + max(0, 1 + D(G(z))) for D, -D(G(z)) for G"
    discriminator_loss_at_chance = 2.0  # both hinges at logit 0 (read by ganforge's health monitor)

    def discriminator_loss(self, batch: DiscriminatorBatch):
        return F.discriminator_hinge(batch.real_logits, batch.fake_logits)

    def generator_loss(self, batch: GeneratorBatch):
        return F.generator_hinge(batch.fake_logits)
