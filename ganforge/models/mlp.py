"""The original fully connected GAN (Goodfellow et al. 2014): MLPs, dropout in D."""

from __future__ import annotations

import math

import torch
from torch import nn

from ..errors import GanforgeError
from ..interfaces import Architecture, ModelSpec


def _hidden(option, name: str = "hidden") -> list[int]:
    try:
        widths = [int(h) for h in (option.split(",") if isinstance(option, str) else option)]
    except (TypeError, ValueError):
        widths = []
    if not widths or min(widths) < 1:
        raise GanforgeError(f"option {name} takes comma-separated positive layer widths like 256,512, got {option!r}")
    return widths


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
        "g_hidden": "256,512,1024",
        "d_hidden": "512,256",
        "dropout": 0.3,
    }

    def build_generator(self, spec: ModelSpec) -> nn.Module:
        return MLPGenerator(spec.latent_dim, spec.image_shape, _hidden(spec.options["g_hidden"], "g_hidden"))

    def build_discriminator(self, spec: ModelSpec) -> nn.Module:
        dropout = float(spec.options["dropout"])
        if not 0 <= dropout < 1:
            raise GanforgeError(f"option dropout must be in [0, 1), got {dropout}")
        return MLPDiscriminator(spec.image_shape, _hidden(spec.options["d_hidden"], "d_hidden"), dropout)
