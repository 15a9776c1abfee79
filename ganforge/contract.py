"""The networks' output contract, checked in one place: by ganforge before training and by
the conformance kit (``ganforge.testing``).

* ``generator(z, labels)`` returns float images ``(N, C, H, W)`` in [-1, 1];
* ``discriminator(x, labels)`` returns one finite float logit per image, shape ``(N,)``.
"""

from __future__ import annotations

import contextlib
from typing import Any, Sequence

import torch

from .errors import InvalidPluginError
from .interfaces import ModelSpec


class ContractError(InvalidPluginError):
    """A network broke the output contract; the message says what it returned."""


def expect_images(images: Any, shape: tuple[int, ...], what: str, check_values: bool = True) -> None:
    if not isinstance(images, torch.Tensor):
        raise ContractError(f"{what} returned {type(images).__name__}, not a tensor")
    if tuple(images.shape) != tuple(shape):
        raise ContractError(f"{what} returned shape {tuple(images.shape)}, expected {tuple(shape)} (N, C, H, W)")
    if not check_values:
        return
    if not images.is_floating_point() or not torch.isfinite(images).all():
        raise ContractError(f"{what} returned non-finite or non-float values")
    if images.min() < -1 - 1e-5 or images.max() > 1 + 1e-5:
        raise ContractError(f"{what} returned values in [{images.min():.3f}, {images.max():.3f}]; images must "
                            f"be in [-1, 1] (end the generator with tanh)")


def expect_logits(logits: Any, batch_size: int, what: str, check_values: bool = True) -> None:
    if not isinstance(logits, torch.Tensor):
        raise ContractError(f"{what} returned {type(logits).__name__}, not a tensor")
    if tuple(logits.shape) != (batch_size,):
        raise ContractError(f"{what} returned shape {tuple(logits.shape)} for {batch_size} images, expected "
                            f"({batch_size},): one logit per image (flatten the last layer's output)")
    if check_values and (not logits.is_floating_point() or not torch.isfinite(logits).all()):
        raise ContractError(f"{what} returned non-finite or non-float logits")


@contextlib.contextmanager
def _probing(networks: Sequence[torch.nn.Module], device: torch.device, where: str, inputs: str):
    """Networks in eval mode (no batch-norm statistics touched) under a restored global RNG and no
    gradients; a broken contract or a failing forward pass becomes one error naming ``where``."""
    modes = [net.training for net in networks]
    for net in networks:
        net.eval()
    try:
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []), torch.no_grad():
            yield
    except ContractError as exc:
        raise ContractError(f"{where}: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - the plugin's networks failed on a valid input
        raise InvalidPluginError(f"{where}: a forward pass on {inputs} raised {type(exc).__name__}: {exc}") from exc
    finally:
        for net, mode in zip(networks, modes):
            net.train(mode)


def check_network_shapes(generator: torch.nn.Module, discriminators: Sequence[torch.nn.Module], spec: ModelSpec,
                         device: torch.device, where: str) -> None:
    """One tiny forward pass of the generator and each discriminator, so a plugin that breaks the
    contract fails before training, by name."""
    n = 2
    labels = torch.arange(n, device=device) % spec.num_classes if spec.num_classes else None
    with _probing([generator, *discriminators], device, where, f"{n} images of shape {spec.image_shape}"):
        images = generator(torch.randn(n, spec.latent_dim, device=device), labels)
        expect_images(images, (n, *spec.image_shape), "the generator", check_values=False)
        for discriminator in discriminators:
            expect_logits(discriminator(images, labels), n, "the discriminator", check_values=False)


def check_translator_shapes(generator: torch.nn.Module, discriminators: Sequence[torch.nn.Module], spec: ModelSpec,
                            device: torch.device, where: str) -> None:
    """The image-to-image contract: ``generator(condition)`` returns images of the target shape and
    each ``discriminator(images, condition)`` a tensor with one row per image (logits, or a map of
    them as PatchGAN's)."""
    n = 2
    with _probing([generator, *discriminators], device, where, f"{n} condition images of shape {spec.condition_shape}"):
        condition = torch.rand(n, *spec.condition_shape, device=device) * 2 - 1
        images = generator(condition)
        expect_images(images, (n, *spec.image_shape), "the generator", check_values=False)
        for discriminator in discriminators:
            logits = discriminator(images, condition)
            if not isinstance(logits, torch.Tensor) or logits.dim() < 1 or logits.shape[0] != n:
                got = tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
                raise ContractError(f"the discriminator returned {got} for {n} image pairs; it must return a "
                                    f"tensor with one row per pair ({n}, ...)")
