"""Loss checks on tiny networks: scalar, finite, differentiable, seeded-deterministic,
and the sign convention (both losses are minimised)."""

from __future__ import annotations

from typing import Any, Optional

import torch
from torch import nn

from ..interfaces import DiscriminatorBatch, GeneratorBatch, Loss, split_loss
from .common import as_instance, checked_defaults, conformance_check, fail, isolated, seed_cpu

SHAPE = (1, 4, 4)


class _TinyCritic(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(16, 8), nn.LeakyReLU(0.2), nn.Linear(8, 1))

    def forward(self, x, labels=None):
        return self.net(x).flatten()


class _MeanCritic(nn.Module):
    """D(x) = scale * mean(x): with real images bright and fakes dark, scale > 0 separates them."""

    def __init__(self, scale: float):
        super().__init__()
        self.scale = scale

    def forward(self, x, labels=None):
        return self.scale * x.flatten(1).mean(1)


@conformance_check("loss")
def check_loss(loss: Any, *, batch_size: int = 8, seed: int = 0) -> None:
    """Run every loss check; raise ConformanceError at the first failure.

    ``loss`` is the Loss class (or an instance). Runs on one CPU thread; the global RNG
    state is restored afterwards.
    """
    loss = as_instance("loss", loss)
    with isolated():
        checked_defaults(loss)
        for labels in (None, torch.arange(batch_size) % 3):
            check_differentiable(loss, batch_size, labels, seed)
        check_sign_convention(loss, batch_size, seed)
        check_seeded_determinism(loss, batch_size, seed)


def _images(batch_size: int, seed: int):
    rng = torch.Generator().manual_seed(seed)
    real = 0.5 + 0.1 * torch.rand(batch_size, *SHAPE, generator=rng)
    fake = -0.5 - 0.1 * torch.rand(batch_size, *SHAPE, generator=rng)
    return real, fake


def _d_loss(loss: Loss, D: nn.Module, real, fake, labels=None):
    batch = DiscriminatorBatch(real, fake, D(real, labels), D(fake, labels), labels, lambda x: D(x, labels))
    return _checked(loss.discriminator_loss(batch), "discriminator_loss")


def _g_loss(loss: Loss, D: nn.Module, real, fake, labels=None):
    """The generator's loss; the batch carries D's logits on real images too (relativistic losses)."""
    with torch.no_grad():
        real_logits = D(real, labels)
    batch = GeneratorBatch(fake, D(fake, labels), labels, lambda x: D(x, labels), real_logits=real_logits)
    return _checked(loss.generator_loss(batch), "generator_loss")


def _checked(result, method: str):
    try:
        total, terms = split_loss(result)
    except Exception as exc:  # noqa: BLE001 - reported as the check's failure
        fail(method, str(exc))
    for name, value in {"loss": total, **terms}.items():
        if not isinstance(value, torch.Tensor) or value.dim() != 0:
            fail(method, f"'{name}' must be a scalar tensor (0-dim), got "
                         f"{tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__}")
        if not torch.isfinite(value):
            fail(method, f"'{name}' is not finite: {float(value)}")
    return total


@conformance_check("differentiable")
def check_differentiable(loss: Loss, batch_size: int = 8, labels: Optional[torch.Tensor] = None,
                         seed: int = 0) -> None:
    """Both losses are finite scalars whose gradients reach D (D step) and G's output (G step)."""
    seed_cpu(seed)
    D = _TinyCritic()
    real, fake = _images(batch_size, seed)
    total = _d_loss(loss, D, real, fake, labels)
    if not total.requires_grad:
        fail("discriminator_loss", "the result does not depend on the discriminator (no gradient)")
    total.backward()
    grads = [p.grad for p in D.parameters()]
    if any(g is None or not torch.isfinite(g).all() for g in grads) or all(g.abs().sum() == 0 for g in grads):
        fail("discriminator_loss", "gives no finite, non-zero gradient to the discriminator's weights")

    D.requires_grad_(False)
    source = fake.clone().requires_grad_(True)
    total = _g_loss(loss, D, real, torch.tanh(source), labels)
    if not total.requires_grad:
        fail("generator_loss", "the result does not depend on the generated images (no gradient)")
    total.backward()
    if source.grad is None or not torch.isfinite(source.grad).all() or source.grad.abs().sum() == 0:
        fail("generator_loss", "gives no finite, non-zero gradient to the generated images")


@conformance_check("sign convention")
def check_sign_convention(loss: Loss, batch_size: int = 8, seed: int = 0) -> None:
    """D's loss is lower when D separates real from fake than when it swaps them; G's loss
    is lower when D rates the fakes as real."""
    real, fake = _images(batch_size, seed)
    good, bad = _MeanCritic(2.0), _MeanCritic(-2.0)
    seed_cpu(seed)
    d_good = float(_d_loss(loss, good, real, fake))
    seed_cpu(seed)
    d_bad = float(_d_loss(loss, bad, real, fake))
    if not d_good < d_bad:
        fail("sign convention", f"discriminator_loss is {d_good:.4g} for a discriminator that scores real above "
                                f"fake and {d_bad:.4g} for one that swaps them; it must be lower for the first "
                                f"(return a quantity to minimise)")
    seed_cpu(seed)
    g_fooled = float(_g_loss(loss, bad, real, fake))
    seed_cpu(seed)
    g_caught = float(_g_loss(loss, good, real, fake))
    if not g_fooled < g_caught:
        fail("sign convention", f"generator_loss is {g_fooled:.4g} when D scores the fakes as real and "
                                f"{g_caught:.4g} when it scores them as fake; it must be lower for the first")


@conformance_check("determinism")
def check_seeded_determinism(loss: Loss, batch_size: int = 8, seed: int = 0) -> None:
    """Under the same seed, the same inputs give the same losses."""
    real, fake = _images(batch_size, seed)
    values = []
    for _ in range(2):
        seed_cpu(seed)
        D = _TinyCritic()
        seed_cpu(seed + 1)
        values.append((_d_loss(loss, D, real, fake).item(), _g_loss(loss, D, real, fake).item()))
    if values[0] != values[1]:
        fail("determinism", f"the same seed and inputs give losses {values[0]} and {values[1]}; draw randomness "
                            f"from torch's global generator")
