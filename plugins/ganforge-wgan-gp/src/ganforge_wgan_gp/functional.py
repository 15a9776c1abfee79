"""WGAN-GP as pure tensor functions (Gulrajani et al. 2017, "Improved Training of Wasserstein GANs")."""

from __future__ import annotations

from typing import Callable, Optional

import torch


def critic_loss(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    """E[D(G(z))] - E[D(x)]: minimising it widens the critic's gap between real and fake."""
    return fake_scores.mean() - real_scores.mean()


def generator_loss(fake_scores: torch.Tensor) -> torch.Tensor:
    """-E[D(G(z))]."""
    return -fake_scores.mean()


def interpolate(real: torch.Tensor, fake: torch.Tensor,
                generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """Points on the lines between real and fake images: one uniform factor per sample,
    shared by all of that sample's pixels."""
    shape = (real.shape[0],) + (1,) * (real.dim() - 1)
    eps = torch.rand(shape, device=real.device, dtype=real.dtype, generator=generator)
    return eps * real + (1 - eps) * fake


def gradient_penalty(critic: Callable[[torch.Tensor], torch.Tensor], real: torch.Tensor, fake: torch.Tensor,
                     generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """E[(||grad_x D(x_hat)||_2 - 1)^2] over interpolates x_hat; differentiable w.r.t. D's weights."""
    x_hat = interpolate(real.detach(), fake.detach(), generator).requires_grad_(True)
    scores = critic(x_hat)
    (grad,) = torch.autograd.grad(scores.sum(), x_hat, create_graph=True)
    return (grad.flatten(1).norm(2, dim=1) - 1).pow(2).mean()
