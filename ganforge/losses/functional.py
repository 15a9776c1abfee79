"""GAN losses as pure functions of discriminator logits. Every function returns a
scalar to minimise, averaged over the batch."""

import torch
import torch.nn.functional as F


def discriminator_cross_entropy(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """-log D(x) - log(1 - D(G(z))): binary cross-entropy on logits, real=1, fake=0."""
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()


def generator_minimax(fake_logits: torch.Tensor) -> torch.Tensor:
    """log(1 - D(G(z))): the original, saturating generator objective."""
    return -F.softplus(fake_logits).mean()


def generator_nonsaturating(fake_logits: torch.Tensor) -> torch.Tensor:
    """-log D(G(z)): the non-saturating generator objective."""
    return F.softplus(-fake_logits).mean()


def discriminator_least_squares(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """LSGAN: 1/2 (D(x) - 1)^2 + 1/2 D(G(z))^2."""
    return 0.5 * ((real_logits - 1).pow(2).mean() + fake_logits.pow(2).mean())


def generator_least_squares(fake_logits: torch.Tensor) -> torch.Tensor:
    """LSGAN: 1/2 (D(G(z)) - 1)^2."""
    return 0.5 * (fake_logits - 1).pow(2).mean()


def discriminator_accuracy(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> dict[str, torch.Tensor]:
    """The fraction of real images D calls real (logit > 0) and of fakes it calls fake."""
    return {"acc_real": (real_logits > 0).float().mean(), "acc_fake": (fake_logits < 0).float().mean()}
