"""DCGAN (Radford et al. 2015): strided transposed convolutions, batch norm in G, LeakyReLU in D.

The generator projects z to a small base map (4x4, or 7x7 for 28-pixel images) and
doubles it with stride-2 upsampling blocks; the discriminator mirrors it with strided
convolutions. Widths halve (G) or double (D) at every step, as in the paper.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..interfaces import Architecture, ModelSpec, Option
from ..ops import UpsampleBlock
from ..ops.dispatch import IMPLS
from .init import dcgan_init

IMAGE_SIZES = (28, 32, 64, 128)
#: How a conditional discriminator takes the label (see DCGANDiscriminator).
CONDITIONINGS = ("projection", "plane")


def resolution_plan(size: int) -> tuple[int, int]:
    """Return (base, doublings) with ``size == base * 2**doublings`` and base 4 or 7."""
    for base in (4, 7):
        if size % base == 0:
            ratio = size // base
            if ratio >= 4 and ratio & (ratio - 1) == 0:
                return base, int(math.log2(ratio))
    raise ValueError(f"no DCGAN layout makes {size}-pixel images")


class DCGANGenerator(nn.Module):
    def __init__(self, latent_dim: int, channels: int, size: int, ngf: int, num_classes: int = 0,
                 impl: str = "auto"):
        super().__init__()
        self.num_classes = num_classes
        base, doublings = resolution_plan(size)
        widths = [ngf * 2**i for i in reversed(range(doublings))]
        blocks = [UpsampleBlock(latent_dim + num_classes, widths[0], kernel_size=base, stride=1,
                                padding=0, impl=impl)]
        blocks += [UpsampleBlock(a, b, kernel_size=4, stride=2, padding=1, impl=impl)
                   for a, b in zip(widths, widths[1:])]
        self.blocks = nn.Sequential(*blocks)
        self.to_image = nn.Sequential(
            nn.ConvTranspose2d(widths[-1], channels, 4, 2, 1, bias=False),
            nn.Tanh(),
        )

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if self.num_classes:
            z = torch.cat([z, nn.functional.one_hot(labels, self.num_classes).to(z.dtype)], dim=1)
        return self.to_image(self.blocks(z[:, :, None, None]))


class DCGANDiscriminator(nn.Module):
    """Strided convolutions down to ``base`` x ``base``, then one full-size convolution to a logit.

    Conditional variants (``num_classes`` > 0) take the label one of two ways:
    ``"projection"`` (Miyato & Koyama 2018): the logit gains the inner product of the last
    feature map with a learned per-class map, so each class has its own final layer;
    ``"plane"``: the label is mapped to one extra image-sized input channel.
    """

    def __init__(self, channels: int, size: int, ndf: int, batchnorm: bool = False,
                 num_classes: int = 0, conditioning: str = "projection"):
        super().__init__()
        if conditioning not in CONDITIONINGS:
            raise ValueError(f"conditioning must be one of {CONDITIONINGS}, got {conditioning!r}")
        self.num_classes = num_classes
        self.size = size
        self.conditioning = conditioning if num_classes else None
        base, doublings = resolution_plan(size)
        widths = [ndf * 2**i for i in range(doublings)]
        if self.conditioning == "plane":
            self.label_plane = nn.Linear(num_classes, size * size)
        elif self.conditioning == "projection":
            self.class_maps = nn.Embedding(num_classes, widths[-1] * base * base)
        layers: list[nn.Module] = [
            nn.Conv2d(channels + (1 if self.conditioning == "plane" else 0), widths[0], 4, 2, 1),
            nn.LeakyReLU(0.2),
        ]
        for a, b in zip(widths, widths[1:]):
            layers.append(nn.Conv2d(a, b, 4, 2, 1, bias=not batchnorm))
            if batchnorm:
                layers.append(nn.BatchNorm2d(b))
            layers.append(nn.LeakyReLU(0.2))
        layers.append(nn.Conv2d(widths[-1], 1, base, 1, 0))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if self.conditioning == "plane":
            one_hot = nn.functional.one_hot(labels, self.num_classes).to(x.dtype)
            plane = self.label_plane(one_hot).view(-1, 1, self.size, self.size)
            x = torch.cat([x, plane], dim=1)
        if self.conditioning != "projection":
            return self.net(x).flatten()
        *features, to_logit = self.net
        for layer in features:
            x = layer(x)
        return to_logit(x).flatten() + (self.class_maps(labels) * x.flatten(1)).sum(1)


class DCGAN(Architecture):
    description = "Deep convolutional GAN: strided transposed convolutions, batch norm in G"
    image_sizes = IMAGE_SIZES
    # G learns 8x faster than D (Adam 1.6e-3 vs 2e-4). Measured on the default run (5000 steps of
    # batch 32, `ganforge eval`, n = 5000; 2026-11-24), FID-digits for seeds 0 / 1 / 2: G at 2e-4
    # 59.8 / 57.5 / 59.1; 4e-4 - / 55.0 / 51.9; 8e-4 45.4 / 42.2 / 44.3; 1.6e-3 31.9 / 37.7 / 34.9
    # (the reverse, D at 4e-4 and G at 1e-4: 86.8 on seed 1); class coverage 2.25 -> 2.27-2.29.
    # Higher rates were not tried.
    defaults = {"g_lr": 1.6e-3}
    options = {
        # Chosen by looking at samples: on the embedded digits, ngf=ndf=32 left D at chance
        # (loss log 4) with fragmented strokes after 3000 steps; a wider D (ndf=64) drew
        # clearly readable digits in the same steps, within the 5-minute budget on 2 cores.
        "ngf": Option(32, min=1, help="generator width at the last upsampling block"),
        "ndf": Option(64, min=1, help="discriminator width at the first convolution"),
        "d_batchnorm": Option(False, help="batch norm in D's hidden layers"),
        "impl": Option("auto", choices=IMPLS, help="upsampling block implementation"),
    }

    def _classes(self, spec: ModelSpec) -> int:
        return 0

    def _conditioning(self, spec: ModelSpec) -> str:
        return "projection"

    def build_generator(self, spec: ModelSpec) -> nn.Module:
        o = spec.options
        g = DCGANGenerator(spec.latent_dim, spec.channels, spec.image_size, int(o["ngf"]),
                           num_classes=self._classes(spec), impl=str(o["impl"]))
        dcgan_init(g)
        return g

    def build_discriminator(self, spec: ModelSpec) -> nn.Module:
        o = spec.options
        d = DCGANDiscriminator(spec.channels, spec.image_size, int(o["ndf"]),
                               batchnorm=bool(o["d_batchnorm"]), num_classes=self._classes(spec),
                               conditioning=self._conditioning(spec))
        dcgan_init(d)
        return d

