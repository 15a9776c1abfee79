"""The ``sngan`` architecture: spectral normalisation on every layer of D, and a generator
made of ganforge's fused upsampling blocks (``ganforge.ops.UpsampleBlock``)."""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

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
    """z -> base x base map -> one UpsampleBlock (transposed conv, BN, ReLU) per doubling ->
    3x3 convolution -> tanh, the layout of the paper's CNN generator."""

    def __init__(self, latent_dim: int, channels: int, size: int, width: int, impl: str):
        super().__init__()
        base, doublings = layout(size)
        widths = [width * 2**i for i in reversed(range(doublings + 1))]
        blocks = [UpsampleBlock(latent_dim, widths[0], kernel_size=base, stride=1, padding=0, impl=impl)]
        blocks += [UpsampleBlock(a, b, impl=impl) for a, b in zip(widths, widths[1:])]
        self.blocks = nn.Sequential(*blocks)
        self.to_image = nn.Conv2d(widths[-1], channels, 3, 1, 1)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return torch.tanh(self.to_image(self.blocks(z[:, :, None, None])))


class Discriminator(nn.Module):
    """Spectrally normalised 3x3 and 4x4/stride-2 convolutions with LeakyReLU(0.1), as in the paper's CNN."""

    def __init__(self, channels: int, size: int, width: int):
        super().__init__()
        _, doublings = layout(size)
        layers: list[nn.Module] = []
        in_channels = channels
        for i in range(doublings):
            out_channels = width * 2**i
            layers += [spectral_norm(nn.Conv2d(in_channels, out_channels, 3, 1, 1)), nn.LeakyReLU(0.1),
                       spectral_norm(nn.Conv2d(out_channels, out_channels, 4, 2, 1)), nn.LeakyReLU(0.1)]
            in_channels = out_channels
        self.features = nn.Sequential(*layers)
        self.head = spectral_norm(nn.Linear(in_channels, 1))

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        h = self.features(x).sum(dim=(2, 3))  # global sum pooling
        return self.head(h).flatten()


class SNGAN(Architecture):
    description = "Spectrally normalised discriminator, hinge loss, generator on ganforge's fused upsampling"
    image_sizes = IMAGE_SIZES
    options = {
        "ngf": Option(32, min=1, help="generator width at its last upsampling block"),
        "ndf": Option(32, min=1, help="discriminator width at its first stage"),
        "impl": Option("auto", choices=("auto", "cuda", "cpu", "torch"), help="UpsampleBlock implementation"),
    }
    defaults = {
        "loss": "hinge",
        "g_lr": 2e-4,
        "d_lr": 2e-4,
        "g_betas": (0.0, 0.9),
        "d_betas": (0.0, 0.9),
    }

    def build_generator(self, spec: ModelSpec) -> nn.Module:
        o = spec.options
        return Generator(spec.latent_dim, spec.channels, spec.image_size, o["ngf"], o["impl"])

    def build_discriminator(self, spec: ModelSpec) -> nn.Module:
        return Discriminator(spec.channels, spec.image_size, spec.options["ndf"])
