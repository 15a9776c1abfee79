"""The fused block as a function: ConvTranspose2d -> BatchNorm2d -> LeakyReLU with BatchNorm2d's
running-statistics semantics, on the compiled op or the reference."""

from __future__ import annotations

import torch

from . import dispatch
from .reference import reference_upsample_bn_act
from .registration import conv_transpose_output_shape, output_memory_format


def upsample_bn_act(input: torch.Tensor, weight: torch.Tensor, gamma: torch.Tensor,
                    beta: torch.Tensor, running_mean: torch.Tensor | None,
                    running_var: torch.Tensor | None, num_batches_tracked: torch.Tensor | None, *,
                    stride=(2, 2), padding=(1, 1), training: bool = True,
                    momentum: float | None = 0.1, eps: float = 1e-5, negative_slope: float = 0.0,
                    impl: str = "auto") -> torch.Tensor:
    """Apply the block. In training (or without running statistics) batch statistics normalize and
    the running ones are updated in place exactly as ``nn.BatchNorm2d`` does; in eval the running
    statistics normalize."""
    stride, padding = _pair(stride), _pair(padding)
    autocast_dtype = _autocast_dtype(input, impl)
    if autocast_dtype is not None:
        # Kernels run in the autocast dtype, as eager's convolution would (autocast itself is off
        # inside, or the op's own convolution would be cast again); the cast of input and weight is
        # differentiable, so fp32 weights get fp32 gradients. BN parameters and statistics stay as
        # they are: the kernels accumulate in float32. A dtype without kernels uses the reference.
        kernels = dispatch.auto_choice(input.device.type, autocast_dtype) != "torch"
        if kernels or impl != "auto":
            with torch.autocast(input.device.type, enabled=False):
                return upsample_bn_act(
                    input.to(autocast_dtype), weight.to(autocast_dtype), gamma, beta, running_mean, running_var,
                    num_batches_tracked, stride=stride, padding=padding, training=training, momentum=momentum,
                    eps=eps, negative_slope=negative_slope, impl=impl)
        impl = "torch"
    use_batch_stats = training or running_mean is None
    if use_batch_stats:
        _check_values_per_channel(input, weight, stride, padding)
    update_running = training and running_mean is not None
    chosen = dispatch.resolve(impl, input)
    if update_running:
        _count_batch(num_batches_tracked)
    if chosen == "torch":
        # The same call nn.BatchNorm2d makes: momentum, or 1/batches as a Python float (double).
        factor = _reference_factor(momentum, num_batches_tracked) if update_running else 0.0
        return reference_upsample_bn_act(
            input, weight, gamma, beta, running_mean, running_var, stride=stride, padding=padding,
            use_batch_stats=use_batch_stats, momentum=factor, eps=eps, negative_slope=negative_slope)
    normalize_with_running = not use_batch_stats
    out, conv_out, mean, var = torch.ops.ganforge.upsample_bn_act(
        in_convolution_layout(input, weight), weight, gamma, beta, running_mean if normalize_with_running else None,
        running_var if normalize_with_running else None, stride, padding, eps, negative_slope)
    if update_running:
        factor = _kernel_factor(momentum, num_batches_tracked, running_mean.dtype)
        count = conv_out.numel() // conv_out.shape[1]
        running_mean.mul_(1 - factor).add_(mean.to(running_mean.dtype) * factor)
        running_var.mul_(1 - factor).add_(var.to(running_var.dtype) * (factor * count / (count - 1)))
    return out


def in_convolution_layout(input: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """``input`` in the layout ATen's convolutions compute in: channels_last when the input or
    the weight is. The op's own layout follows its input alone (a rule torch.compile traces
    reliably), so an input that does not suggest channels_last, such as a channels_last
    generator's (N, nz, 1, 1) noise, is laid out here; otherwise the whole generator would run
    in NCHW and convert every convolution's output back."""
    channels_last = torch.channels_last
    if output_memory_format(weight) != channels_last or output_memory_format(input) == channels_last:
        return input
    # A copy into fresh channels_last strides: .contiguous(channels_last) would return a
    # (N, C, 1, 1) tensor unchanged, its strides being valid for both layouts.
    return torch.empty_like(input, memory_format=channels_last).copy_(input)


def bn_act(input: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor, *, eps: float = 1e-5,
           negative_slope: float = 0.0, impl: str = "auto") -> torch.Tensor:
    """BatchNorm2d (batch statistics, no running statistics) -> LeakyReLU, fused where built."""
    if dispatch.resolve(impl, input) == "torch":
        y = torch.nn.functional.batch_norm(input, None, None, gamma, beta, True, 0.0, eps)
        return torch.nn.functional.leaky_relu(y, negative_slope)
    return torch.ops.ganforge.bn_act(input, gamma, beta, eps, negative_slope)[0]


def _autocast_dtype(input: torch.Tensor, impl: str):
    """The autocast dtype in force for this input's device when a kernel may run, else None."""
    device_type = input.device.type
    if impl == "torch" or device_type not in ("cpu", "cuda") or not torch.is_autocast_enabled(device_type):
        return None
    return torch.get_autocast_dtype(device_type)


def _pair(value) -> list[int]:
    return [value, value] if isinstance(value, int) else [int(v) for v in value]


def _count_batch(num_batches_tracked: torch.Tensor | None) -> None:
    """Count the batch, as BatchNorm2d does in training."""
    if num_batches_tracked is not None:
        num_batches_tracked.add_(1)


def _require_count(momentum, num_batches_tracked) -> None:
    if momentum is None and num_batches_tracked is None:
        raise ValueError("momentum=None (cumulative moving average) needs num_batches_tracked")


def _reference_factor(momentum: float | None, num_batches_tracked: torch.Tensor | None) -> float:
    """momentum, or 1/batches computed in double precision exactly as nn.BatchNorm2d does."""
    _require_count(momentum, num_batches_tracked)
    return momentum if momentum is not None else 1.0 / float(num_batches_tracked)


def _kernel_factor(momentum: float | None, num_batches_tracked: torch.Tensor | None,
                   dtype: torch.dtype):
    """momentum, or 1/batches as a tensor in the running statistics' dtype, at least float32
    (no host sync): in float64 that is the correctly rounded double nn.BatchNorm2d uses."""
    _require_count(momentum, num_batches_tracked)
    if momentum is not None:
        return momentum
    return num_batches_tracked.to(torch.promote_types(dtype, torch.float32)).reciprocal()


def _check_values_per_channel(input, weight, stride, padding) -> None:
    shape = conv_transpose_output_shape(input, weight, stride, padding)
    if shape[0] * shape[2] * shape[3] == 1:
        raise ValueError(f"Expected more than 1 value per channel when training, got input size "
                         f"{torch.Size(shape)}")
