"""The ``pix2pix`` architecture: a U-Net generator ``G(condition)`` and a conditional PatchGAN
discriminator ``D(image, condition)`` that scores overlapping patches.

The U-Net halves the image with 4x4 stride-2 convolutions (batch norm, LeakyReLU 0.2) while the
size stays even and at least 8, then doubles it back with transposed convolutions (batch norm,
ReLU), each joined to the encoder map of its size (the skip connections), and ends in a 3x3
convolution and tanh. D sees the image and its condition stacked as channels: two 4x4 stride-2
convolutions and a 3x3 one to one logit per patch, ``(N, H/4, W/4)``.
"""

from __future__ import annotations

import torch
from torch import nn

from ganforge.interfaces import Architecture, InvalidSpec, ModelSpec, Option


def halvings(size: int) -> int:
    """How many times the U-Net halves ``size``: while it stays even and the half is at least 4."""
    count = 0
    while size % 2 == 0 and size // 2 >= 4:
        size //= 2
        count += 1
    return count


class UNet(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, size: int, width: int):
        super().__init__()
        depth = halvings(size)
        widths = [min(width * 2 ** i, 8 * width) for i in range(depth + 1)]
        self.stem = nn.Sequential(nn.Conv2d(in_channels, widths[0], 3, 1, 1), nn.LeakyReLU(0.2))
        self.down = nn.ModuleList(
            nn.Sequential(nn.Conv2d(a, b, 4, 2, 1, bias=False), nn.BatchNorm2d(b), nn.LeakyReLU(0.2))
            for a, b in zip(widths, widths[1:]))
        self.up = nn.ModuleList(
            nn.Sequential(nn.ConvTranspose2d(b if i == depth - 1 else 2 * b, a, 4, 2, 1, bias=False),
                          nn.BatchNorm2d(a), nn.ReLU())
            for i, (a, b) in enumerate(zip(widths, widths[1:])))
        self.out = nn.Conv2d(2 * widths[0], out_channels, 3, 1, 1)

    def forward(self, condition: torch.Tensor) -> torch.Tensor:
        skips = [self.stem(condition)]
        for block in self.down:
            skips.append(block(skips[-1]))
        x = skips.pop()
        for block in reversed(self.up):
            x = torch.cat([block(x), skips.pop()], dim=1)
        return torch.tanh(self.out(x))


class PatchDiscriminator(nn.Module):
    def __init__(self, channels: int, condition_channels: int, width: int):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(channels + condition_channels, width, 4, 2, 1), nn.LeakyReLU(0.2),
            nn.Conv2d(width, 2 * width, 4, 2, 1, bias=False), nn.BatchNorm2d(2 * width), nn.LeakyReLU(0.2),
            nn.Conv2d(2 * width, 1, 3, 1, 1))

    def forward(self, images: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([images, condition], dim=1)).squeeze(1)


class Pix2Pix(Architecture):
    description = "pix2pix: U-Net generator on condition images, conditional PatchGAN discriminator (needs paired data)"
    options = {"ngf": Option(32, min=4, help="the U-Net's first width (doubled per halving, at most 8x)"),
               "ndf": Option(32, min=4, help="PatchGAN's first width")}
    defaults = {"step": "pix2pix", "loss": "nonsaturating", "batch_size": 32, "steps": 2000,
                "g_optim": {"lr": 2e-4, "betas": (0.5, 0.999)}, "d_optim": {"lr": 2e-4, "betas": (0.5, 0.999)}}

    def check_image_shape(self, image_shape: tuple[int, int, int]) -> None:
        c, h, w = image_shape
        if h != w or h % 4 or h < 8:
            raise InvalidSpec(f"pix2pix needs square images whose size is a multiple of 4 (8 or more), got {h}x{w}")

    def validate(self, spec: ModelSpec) -> None:
        super().validate(spec)
        if spec.condition_shape is None:
            raise InvalidSpec("pix2pix translates condition images: train it on paired data (--dataset "
                              "mnist-5k-sr7, mnist-5k-inpaint, ... or folder-pairs)")
        if tuple(spec.condition_shape[1:]) != tuple(spec.image_shape[1:]):
            raise InvalidSpec(f"condition images {spec.condition_shape[1]}x{spec.condition_shape[2]} and targets "
                              f"{spec.image_shape[1]}x{spec.image_shape[2]} must have the same size")

    def build_generator(self, spec: ModelSpec) -> nn.Module:
        return UNet(spec.condition_shape[0], spec.channels, spec.image_size, spec.options["ngf"])

    def build_discriminator(self, spec: ModelSpec) -> nn.Module:
        return PatchDiscriminator(spec.channels, spec.condition_shape[0], spec.options["ndf"])
