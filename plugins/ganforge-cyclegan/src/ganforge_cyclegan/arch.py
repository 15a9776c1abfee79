"""The ``cyclegan`` architecture: four named networks, ``G_AB`` and ``G_BA`` (translators between
domains A and B: conditions and targets of a paired dataset, drawn from unrelated batches) and
``D_A`` and ``D_B`` (PatchGANs on one domain each).

The generators follow CycleGAN's ResNet generator, scaled down: a 7x7 convolution, two 3x3
stride-2 convolutions down, ``blocks`` residual blocks, two transposed convolutions up and a 7x7
convolution to tanh, with instance normalisation. The discriminators: two 4x4 stride-2
convolutions and a 3x3 one to a logit per patch.
"""

from __future__ import annotations

import torch
from torch import nn

from ganforge.interfaces import Architecture, InvalidSpec, ModelSpec, Option

NETWORKS = ("G_AB", "G_BA", "D_A", "D_B")


def _norm(channels: int) -> nn.Module:
    return nn.InstanceNorm2d(channels, affine=True)


class Residual(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(channels, channels, 3, 1, 1), _norm(channels), nn.ReLU(),
                                  nn.Conv2d(channels, channels, 3, 1, 1), _norm(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class ResNetGenerator(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, width: int, blocks: int):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(in_channels, width, 7, 1, 3), _norm(width), nn.ReLU(),
            nn.Conv2d(width, 2 * width, 3, 2, 1), _norm(2 * width), nn.ReLU(),
            nn.Conv2d(2 * width, 4 * width, 3, 2, 1), _norm(4 * width), nn.ReLU(),
            *(Residual(4 * width) for _ in range(blocks)),
            nn.ConvTranspose2d(4 * width, 2 * width, 4, 2, 1), _norm(2 * width), nn.ReLU(),
            nn.ConvTranspose2d(2 * width, width, 4, 2, 1), _norm(width), nn.ReLU(),
            nn.Conv2d(width, out_channels, 7, 1, 3), nn.Tanh())

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(images)


class PatchDiscriminator(nn.Module):
    def __init__(self, channels: int, width: int):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(channels, width, 4, 2, 1), nn.LeakyReLU(0.2),
            nn.Conv2d(width, 2 * width, 4, 2, 1), _norm(2 * width), nn.LeakyReLU(0.2),
            nn.Conv2d(2 * width, 1, 3, 1, 1))

    def forward(self, images: torch.Tensor, condition: torch.Tensor | None = None) -> torch.Tensor:
        """Logits per patch, ``(N, H/4, W/4)``; one domain, so ``condition`` is not looked at."""
        return self.net(images).squeeze(1)


class CycleGAN(Architecture):
    description = "CycleGAN: G_AB, G_BA (ResNet translators) and D_A, D_B (PatchGANs) for unpaired domains"
    networks = NETWORKS
    options = {"ngf": Option(16, min=4, help="the generators' first width"),
               "ndf": Option(16, min=4, help="the discriminators' first width"),
               "blocks": Option(3, min=0, max=12, help="residual blocks at a quarter of the size")}
    defaults = {"step": "cyclegan", "loss": "lsgan", "batch_size": 16, "steps": 2000,
                "g_optim": {"lr": 2e-4, "betas": (0.5, 0.999)}, "d_optim": {"lr": 2e-4, "betas": (0.5, 0.999)}}

    def check_image_shape(self, image_shape: tuple[int, int, int]) -> None:
        c, h, w = image_shape
        if h != w or h % 4:
            raise InvalidSpec(f"cyclegan needs square images whose size is a multiple of 4, got {h}x{w}")

    def validate(self, spec: ModelSpec) -> None:
        super().validate(spec)
        if spec.condition_shape is None or tuple(spec.condition_shape[1:]) != tuple(spec.image_shape[1:]):
            raise InvalidSpec("cyclegan translates between two image domains of one size: train it on a paired "
                              "dataset (its conditions are domain A, its images domain B; the pairs are not used)")

    def build_networks(self, spec: ModelSpec) -> dict[str, nn.Module]:
        o, a, b = spec.options, spec.condition_shape[0], spec.channels
        return {"G_AB": ResNetGenerator(a, b, o["ngf"], o["blocks"]), "G_BA": ResNetGenerator(b, a, o["ngf"], o["blocks"]),
                "D_A": PatchDiscriminator(a, o["ndf"]), "D_B": PatchDiscriminator(b, o["ndf"])}
