"""The built-in loss plugins, registered through ganforge's own entry points."""

import math

from ..interfaces import DiscriminatorBatch, GeneratorBatch, Loss
from . import functional as L


class _LogitLoss(Loss):
    """A loss on logits (D's output is log-odds of "real"): D's accuracy means something."""

    discriminator_loss_at_chance = 2 * math.log(2)  # the cross-entropy of D(x) = D(G(z)) = 1/2

    def discriminator_metrics(self, batch: DiscriminatorBatch):
        return {**super().discriminator_metrics(batch),
                **L.discriminator_accuracy(batch.real_logits, batch.fake_logits)}


class Minimax(_LogitLoss):
    description = "Original GAN objective; saturating generator loss log(1 - D(G(z)))"

    def discriminator_loss(self, batch: DiscriminatorBatch):
        return L.discriminator_cross_entropy(batch.real_logits, batch.fake_logits)

    def generator_loss(self, batch: GeneratorBatch):
        return L.generator_minimax(batch.fake_logits)


class NonSaturating(_LogitLoss):
    description = "Cross-entropy D loss with the non-saturating generator loss -log D(G(z))"

    def discriminator_loss(self, batch: DiscriminatorBatch):
        return L.discriminator_cross_entropy(batch.real_logits, batch.fake_logits)

    def generator_loss(self, batch: GeneratorBatch):
        return L.generator_nonsaturating(batch.fake_logits)


class LeastSquares(Loss):
    description = "Least-squares GAN (LSGAN) with targets 1 for real and 0 for fake"
    discriminator_loss_at_chance = 0.5  # 1/2 (0 - 1)^2 + 1/2 0^2

    def discriminator_loss(self, batch: DiscriminatorBatch):
        return L.discriminator_least_squares(batch.real_logits, batch.fake_logits)

    def generator_loss(self, batch: GeneratorBatch):
        return L.generator_least_squares(batch.fake_logits)
