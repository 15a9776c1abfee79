"""The ``wgan-gp`` loss plugin: a thin adapter over ``functional``."""

from ganforge.interfaces import DiscriminatorBatch, GeneratorBatch, Loss

from . import functional as F


class WassersteinGP(Loss):
    description = "Wasserstein critic loss with a gradient penalty (weight 10) on per-sample interpolates"
    #: The penalty's weight, lambda in the paper.
    penalty_weight = 10.0
    defaults = {
        "d_steps": 5,
        "g_lr": 1e-4,
        "d_lr": 1e-4,
        "g_betas": (0.0, 0.9),
        "d_betas": (0.0, 0.9),
    }

    def discriminator_loss(self, batch: DiscriminatorBatch):
        wasserstein = F.critic_loss(batch.real_logits, batch.fake_logits)
        penalty = F.gradient_penalty(batch.discriminator, batch.real, batch.fake)
        return {
            "loss": wasserstein + self.penalty_weight * penalty,
            "wasserstein": wasserstein,
            "gradient_penalty": penalty,
        }

    def generator_loss(self, batch: GeneratorBatch):
        return F.generator_loss(batch.fake_logits)
