"""A plain-PyTorch eager DCGAN training loop: the baseline for ganforge's speed claims.

Equivalent to pytorch/examples ``dcgan/main.py`` (written afresh, not copied): the same
networks (``ngf``, ``ndf``, ``nz``, ``nc``; ConvTranspose2d/BatchNorm2d/ReLU with Tanh in G,
Conv2d/LeakyReLU(0.2)/BatchNorm2d with Sigmoid in D), the same init (conv weights
N(0, 0.02), batch-norm scale N(1, 0.02) and shift 0), Adam(lr 2e-4, betas (0.5, 0.999)) for
both networks, BCELoss with real=1 and fake=0, and per iteration one D update (real, then
``G(noise).detach()``) and one G update on the *same* fake images (no second G forward).
As in the script, the G update's backward also fills D's weight gradients (they are
zeroed before D's next update).

Deliberate differences, none of which makes the baseline slower: it takes real batches
from the caller (ganforge's in-memory batches, so both loops see the same data) instead
of a DataLoader, and it skips the script's per-iteration print (and its ``.item()`` host
syncs) and sample images. The networks generalise the script's 64-pixel layout to any
``4 * 2**k`` size (k >= 2); at 64 pixels they are the script's networks exactly.

Imports only torch, on purpose: it must stay an independent plain script, not ganforge.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn

REAL_LABEL = 1.0
FAKE_LABEL = 0.0


def doublings(image_size: int) -> int:
    """Stride-2 layers between a 4x4 map and ``image_size`` (3 for 32, 4 for 64)."""
    ratio, k = image_size // 4, 0
    while ratio > 1 and ratio % 2 == 0:
        ratio //= 2
        k += 1
    if image_size % 4 or ratio != 1 or k < 2:
        raise ValueError(f"the baseline DCGAN needs an image size of 4 * 2**k with k >= 2 (16, 32, 64, "
                         f"128, ...), got {image_size}")
    return k


class Generator(nn.Module):
    """z (N, nz, 1, 1) -> 4x4 -> ... -> image (N, nc, size, size) in [-1, 1]."""

    def __init__(self, nz: int = 100, ngf: int = 64, nc: int = 3, image_size: int = 64):
        super().__init__()
        k = doublings(image_size)
        widths = [ngf * 2**i for i in reversed(range(k))]  # 64 px: 8ngf, 4ngf, 2ngf, ngf
        layers: list[nn.Module] = []
        for i, width in enumerate(widths):
            first = i == 0
            layers += [nn.ConvTranspose2d(nz if first else widths[i - 1], width, 4,
                                          1 if first else 2, 0 if first else 1, bias=False),
                       nn.BatchNorm2d(width),
                       nn.ReLU(inplace=True)]
        layers += [nn.ConvTranspose2d(widths[-1], nc, 4, 2, 1, bias=False), nn.Tanh()]
        self.main = nn.Sequential(*layers)

    def forward(self, noise: torch.Tensor) -> torch.Tensor:
        return self.main(noise)


class Discriminator(nn.Module):
    """image -> probability of being real, shape (N,)."""

    def __init__(self, ndf: int = 64, nc: int = 3, image_size: int = 64):
        super().__init__()
        k = doublings(image_size)
        widths = [ndf * 2**i for i in range(k)]  # 64 px: ndf, 2ndf, 4ndf, 8ndf
        layers: list[nn.Module] = [nn.Conv2d(nc, widths[0], 4, 2, 1, bias=False),
                                   nn.LeakyReLU(0.2, inplace=True)]
        for a, b in zip(widths, widths[1:]):
            layers += [nn.Conv2d(a, b, 4, 2, 1, bias=False), nn.BatchNorm2d(b),
                       nn.LeakyReLU(0.2, inplace=True)]
        layers += [nn.Conv2d(widths[-1], 1, 4, 1, 0, bias=False), nn.Sigmoid()]
        self.main = nn.Sequential(*layers)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.main(images).view(-1)


def init_weights(module: nn.Module) -> None:
    """Conv weights ~ N(0, 0.02); batch-norm scale ~ N(1, 0.02), shift 0 (the script's init)."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, 0.02)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


#: The script's Adam learning rate, for both networks.
LR = 2e-4


class BaselineDCGAN:
    """The networks, optimizers and criterion of the script, and its update as ``iteration``."""

    def __init__(self, nz: int = 100, ngf: int = 64, ndf: int = 64, nc: int = 3, image_size: int = 64,
                 device: torch.device | str = "cpu", lr: float = LR, beta1: float = 0.5):
        self.nz = nz
        self.device = torch.device(device)
        self.generator = Generator(nz, ngf, nc, image_size).to(self.device)
        self.generator.apply(init_weights)
        self.discriminator = Discriminator(ndf, nc, image_size).to(self.device)
        self.discriminator.apply(init_weights)
        self.criterion = nn.BCELoss()
        self.d_optimizer = torch.optim.Adam(self.discriminator.parameters(), lr=lr, betas=(beta1, 0.999))
        self.g_optimizer = torch.optim.Adam(self.generator.parameters(), lr=lr, betas=(beta1, 0.999))

    def iteration(self, real: torch.Tensor, noise: Optional[torch.Tensor] = None
                  ) -> tuple[torch.Tensor, torch.Tensor]:
        """One D update then one G update; returns the detached (D loss, G loss).

        ``real`` is a float batch in [-1, 1]; ``noise`` (N, nz) or (N, nz, 1, 1) defaults to
        ``torch.randn`` from the global generator, drawn after D's real pass, as the script does.
        """
        G, D = self.generator, self.discriminator
        n = real.shape[0]

        # (1) D: maximise log D(x) + log(1 - D(G(z))).
        D.zero_grad()
        label = torch.full((n,), REAL_LABEL, dtype=real.dtype, device=real.device)
        err_real = self.criterion(D(real), label)
        err_real.backward()
        if noise is None:
            noise = torch.randn(n, self.nz, 1, 1, device=real.device)
        fake = G(noise.view(n, self.nz, 1, 1))
        label.fill_(FAKE_LABEL)
        err_fake = self.criterion(D(fake.detach()), label)
        err_fake.backward()
        self.d_optimizer.step()

        # (2) G: maximise log D(G(z)) on the same fake images, through the updated D.
        G.zero_grad()
        label.fill_(REAL_LABEL)
        err_g = self.criterion(D(fake), label)
        err_g.backward()
        self.g_optimizer.step()
        return (err_real + err_fake).detach(), err_g.detach()
