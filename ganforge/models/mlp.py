"""The original fully connected GAN (Goodfellow et al. 2014): MLPs, dropout in D."""

from __future__ import annotations

import math

import torch
from torch import nn

from ..interfaces import Architecture, InvalidSpec, ModelSpec, Option


def _hidden(option) -> list[int]:
    """Layer widths from "256,512" (ValueError when not integers)."""
    return [int(h) for h in (option.split(",") if isinstance(option, str) else option)]


class MLPGenerator(nn.Module):
    def __init__(self, latent_dim: int, image_shape: tuple[int, int, int], hidden: list[int]):
        super().__init__()
        self.image_shape = image_shape
        layers: list[nn.Module] = []
        width = latent_dim
        for h in hidden:
            layers += [nn.Linear(width, h), nn.LeakyReLU(0.2)]
            width = h
        layers += [nn.Linear(width, math.prod(image_shape)), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(z).view(-1, *self.image_shape)


class MLPDiscriminator(nn.Module):
    def __init__(self, image_shape: tuple[int, int, int], hidden: list[int], dropout: float):
        super().__init__()
        layers: list[nn.Module] = [nn.Flatten()]
        width = math.prod(image_shape)
        for h in hidden:
            layers += [nn.Linear(width, h), nn.LeakyReLU(0.2), nn.Dropout(dropout)]
            width = h
        layers.append(nn.Linear(width, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(x).flatten()


class MLPGAN(Architecture):
    description = "Original fully connected GAN: MLP generator and discriminator, dropout in D"
    options = {
        "g_hidden": Option("256,512,1024", help="generator layer widths, comma-separated"),
        "d_hidden": Option("512,256", help="discriminator layer widths, comma-separated"),
        "dropout": Option(0.3, min=0.0, max=1.0, help="dropout probability in D"),
    }

    def validate(self, spec: ModelSpec) -> None:
        super().validate(spec)
        for key in ("g_hidden", "d_hidden"):
            try:
                widths = _hidden(spec.options[key])
            except ValueError:
                widths = []
            if not widths or min(widths) < 1:
                raise InvalidSpec(f"{key}={spec.options[key]!r} must be comma-separated positive integers, "
                                  f"e.g. 256,512")
        if not spec.options["dropout"] < 1:
            raise InvalidSpec(f"dropout={spec.options['dropout']} must be below 1 (1 drops every unit)")

    def build_generator(self, spec: ModelSpec) -> nn.Module:
        return MLPGenerator(spec.latent_dim, spec.image_shape, _hidden(spec.options["g_hidden"]))

    def build_discriminator(self, spec: ModelSpec) -> nn.Module:
        return MLPDiscriminator(spec.image_shape, _hidden(spec.options["d_hidden"]), float(spec.options["dropout"]))
