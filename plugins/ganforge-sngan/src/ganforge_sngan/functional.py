"""The hinge GAN loss as pure tensor functions (Lim & Ye 2017; Miyato et al. 2018)."""

import torch


def discriminator_hinge(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """E[max(0, 1 - D(x))] + E[max(0, 1 + D(G(z)))]."""
    return torch.relu(1 - real_logits).mean() + torch.relu(1 + fake_logits).mean()


def generator_hinge(fake_logits: torch.Tensor) -> torch.Tensor:
    """-E[D(G(z))]."""
    return -fake_logits.mean()
