"""R3GAN's losses and penalties as pure tensor functions."""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F


def rpgan_discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """RpGAN (relativistic pairing): D wants each real logit above its paired fake one,
    ``E softplus(D(fake) - D(real))``."""
    return F.softplus(fake_logits - real_logits).mean()


def rpgan_generator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """The generator's side of RpGAN, ``E softplus(D(real) - D(fake))``."""
    return F.softplus(real_logits - fake_logits).mean()


def gradient_penalty(logits: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
    """``E ||d D(x) / d x||^2`` over the batch: R1 on real images, R2 on fake ones (``images``
    must require gradients and ``logits`` come from them). Keeps the graph for the backward pass."""
    (gradient,) = torch.autograd.grad(logits.sum(), images, create_graph=True)
    return gradient.float().square().flatten(1).sum(1).mean()


def penalised_logits(discriminator: Callable[[torch.Tensor], torch.Tensor], images: torch.Tensor):
    """``images`` detached and made differentiable, and D's logits on them: the inputs of a
    gradient penalty."""
    images = images.detach().requires_grad_(True)
    return images, discriminator(images)


def path_lengths(images: torch.Tensor, latents: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """StyleGAN2's path lengths ``||J_z^T y||`` per sample, with ``y`` = ``noise`` (image-shaped,
    scaled by 1 / sqrt(H W)); ``latents`` must require gradients and ``images`` come from them."""
    (gradient,) = torch.autograd.grad((images * noise).sum(), latents, create_graph=True)
    return gradient.float().square().flatten(1).sum(1).sqrt()


def path_length_penalty(lengths: torch.Tensor, mean: torch.Tensor) -> torch.Tensor:
    """``E (||J^T y|| - a)^2`` with ``a`` the running mean of the lengths."""
    return (lengths - mean).square().mean()
