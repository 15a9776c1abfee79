"""The generator's upsampling block: ConvTranspose2d -> BatchNorm2d -> LeakyReLU."""

from torch import nn


class UpsampleBlock(nn.Sequential):
    """Drop-in for ``nn.Sequential(ConvTranspose2d(bias=False), BatchNorm2d, LeakyReLU)``.

    Same parameters, buffers and state_dict keys as that Sequential. ``negative_slope=0``
    is ReLU.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 4, stride: int = 2,
                 padding: int = 1, negative_slope: float = 0.0, eps: float = 1e-5, momentum=0.1,
                 impl: str = "auto"):
        super().__init__(
            nn.ConvTranspose2d(in_channels, out_channels, kernel_size, stride, padding, bias=False),
            nn.BatchNorm2d(out_channels, eps=eps, momentum=momentum),
            nn.LeakyReLU(negative_slope),
        )
        self.impl = impl
