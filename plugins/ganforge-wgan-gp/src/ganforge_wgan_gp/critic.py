"""The ``wgan-critic`` architecture: a DCGAN-style generator and a critic with no batch norm.

The gradient penalty is computed per sample; batch norm in the critic would mix samples,
so the critic uses plain strided convolutions with LeakyReLU (optionally layer norm).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ganforge.interfaces import Architecture, ModelSpec, Option
from ganforge.ops import UpsampleBlock

IMAGE_SIZES = (28, 32, 64)


def layout(size: int) -> tuple[int, int]:
    """(base, doublings) with size == base * 2**doublings, base 4 or 7, at least two doublings."""
    for base in (4, 7):
        ratio, rest = divmod(size, base)
        if rest == 0 and ratio >= 4 and ratio & (ratio - 1) == 0:
            return base, int(math.log2(ratio))
    raise ValueError(f"no layout makes {size}-pixel images")


class Generator(nn.Module):
    def __init__(self, latent_dim: int, channels: int, size: int, width: int):
        super().__init__()
        base, doublings = layout(size)
        widths = [width * 2**i for i in reversed(range(doublings))]
        blocks = [UpsampleBlock(latent_dim, widths[0], kernel_size=base, stride=1, padding=0)]
        blocks += [UpsampleBlock(a, b) for a, b in zip(widths, widths[1:])]
        self.blocks = nn.Sequential(*blocks)
        self.to_image = nn.ConvTranspose2d(widths[-1], channels, 4, 2, 1)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return torch.tanh(self.to_image(self.blocks(z[:, :, None, None])))


class Critic(nn.Module):
    def __init__(self, channels: int, size: int, width: int, layer_norm: bool):
        super().__init__()
        base, doublings = layout(size)
        layers: list[nn.Module] = []
        in_channels, side = channels, size
        for i in range(doublings):
            out_channels, side = width * 2**i, side // 2
            layers.append(nn.Conv2d(in_channels, out_channels, 4, 2, 1))
            if layer_norm and i > 0:
                layers.append(nn.LayerNorm([out_channels, side, side]))
            layers.append(nn.LeakyReLU(0.2))
            in_channels = out_channels
        layers.append(nn.Conv2d(in_channels, 1, base, 1, 0))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(x).flatten()


class WGANCritic(Architecture):
    description = "DCGAN-style generator with a batch-norm-free critic, for the wgan-gp loss"
    image_sizes = IMAGE_SIZES
    options = {
        "ngf": Option(32, min=1, help="generator width at its last upsampling block"),
        "ndf": Option(32, min=1, help="critic width at its first convolution"),
        "layer_norm": Option(False, help="layer norm in the critic's hidden layers (per sample, unlike batch norm)"),
    }
    defaults = {"loss": "wgan-gp"}

    def build_generator(self, spec: ModelSpec) -> nn.Module:
        return Generator(spec.latent_dim, spec.channels, spec.image_size, spec.options["ngf"])

    def build_discriminator(self, spec: ModelSpec) -> nn.Module:
        o = spec.options
        return Critic(spec.channels, spec.image_size, o["ndf"], o["layer_norm"])
