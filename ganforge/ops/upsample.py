"""The generator's upsampling block: ConvTranspose2d -> BatchNorm2d -> LeakyReLU, fused."""

from torch import nn

from . import dispatch
from .fused import upsample_bn_act


class UpsampleBlock(nn.Sequential):
    """Drop-in for ``nn.Sequential(ConvTranspose2d(bias=False), BatchNorm2d, LeakyReLU)``.

    Same parameters, buffers and state_dict keys as that Sequential, so checkpoints move
    freely between implementations. ``negative_slope=0`` is ReLU. ``impl`` picks the
    implementation: "cuda" or "cpu" (the compiled kernels), "torch" (the reference), or
    "auto" (the kernels where built for the tensor's device and dtype, else the reference).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 4, stride: int = 2,
                 padding: int = 1, negative_slope: float = 0.0, eps: float = 1e-5, momentum=0.1,
                 impl: str = "auto"):
        super().__init__(
            nn.ConvTranspose2d(in_channels, out_channels, kernel_size, stride, padding, bias=False),
            nn.BatchNorm2d(out_channels, eps=eps, momentum=momentum),
            nn.LeakyReLU(negative_slope),
        )
        dispatch.prepare(impl)
        self.impl = impl

    def forward(self, input):
        conv, bn, act = self[0], self[1], self[2]
        return upsample_bn_act(
            input, conv.weight, bn.weight, bn.bias, bn.running_mean, bn.running_var,
            bn.num_batches_tracked, stride=conv.stride, padding=conv.padding,
            training=self.training, momentum=bn.momentum, eps=bn.eps,
            negative_slope=act.negative_slope, impl=self.impl)

    def extra_repr(self) -> str:
        return f"impl={self.impl!r}"
