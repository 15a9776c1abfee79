"""Python-side rules of ``torch.ops.ganforge.upsample_bn_act`` (and of ``bn_act``, its
batch-norm + activation part alone, training mode), registered once the C++ ops are loaded:
fake (meta) kernels for tracing and ``torch.compile``, and the backward ops' autograd rule,
which refuses a double backward. The forward ops' autograd is in C++ (csrc/autograd.cpp).

The op is functional: it returns (out, conv_out, mean, var) and leaves running statistics
to the caller. ``conv_out``, ``mean`` and ``var`` are saved for the backward and are not
differentiable outputs.
"""

from __future__ import annotations

import torch
from torch._prims_common import suggest_memory_format

FORWARD = "ganforge::upsample_bn_act"
BACKWARD = "ganforge::upsample_bn_act_backward"
BN_ACT = "ganforge::bn_act"
BN_ACT_BACKWARD = "ganforge::bn_act_backward"


def output_memory_format(input: torch.Tensor) -> torch.memory_format:
    """Mirror of the C++ rule: the input's suggested memory format (channels_last strides in,
    channels_last out, as in eager), contiguous for anything else."""
    if input.dim() != 4:
        return torch.contiguous_format
    return suggest_memory_format(input)


def accumulation_dtype(dtype: torch.dtype) -> torch.dtype:
    return torch.float64 if dtype == torch.float64 else torch.float32


def conv_transpose_output_shape(input: torch.Tensor, weight: torch.Tensor, stride, padding) -> tuple:
    height = (input.shape[2] - 1) * stride[0] - 2 * padding[0] + weight.shape[2]
    width = (input.shape[3] - 1) * stride[1] - 2 * padding[1] + weight.shape[3]
    return (input.shape[0], weight.shape[1], height, width)


def _fake_forward(input, weight, gamma, beta, running_mean, running_var, stride, padding, eps,
                  negative_slope):
    shape = conv_transpose_output_shape(input, weight, stride, padding)
    conv_out = torch.empty(shape, dtype=input.dtype, device=input.device,
                           memory_format=output_memory_format(input))
    stats = dict(dtype=accumulation_dtype(input.dtype), device=input.device)
    return (torch.empty_like(conv_out), conv_out, torch.empty(shape[1], **stats),
            torch.empty(shape[1], **stats))


def _fake_backward(grad_out, input, weight, gamma, beta, conv_out, mean, var, training, stride,
                   padding, eps, negative_slope, output_mask):
    def grad_like(tensor, wanted, memory_format=torch.contiguous_format):
        if not wanted:
            return tensor.new_empty(0)
        return torch.empty(tensor.shape, dtype=tensor.dtype, device=tensor.device,
                           memory_format=memory_format)

    return (grad_like(input, output_mask[0], output_memory_format(input)),
            grad_like(weight, output_mask[1]), grad_like(gamma, output_mask[2]),
            grad_like(beta, output_mask[3]))


def _fake_bn_act(input, gamma, beta, eps, negative_slope):
    out = torch.empty(input.shape, dtype=input.dtype, device=input.device,
                      memory_format=output_memory_format(input))
    stats = dict(dtype=accumulation_dtype(input.dtype), device=input.device)
    return out, torch.empty(input.shape[1], **stats), torch.empty(input.shape[1], **stats)


def _fake_bn_act_backward(grad_out, input, gamma, beta, mean, var, eps, negative_slope):
    grad_input = torch.empty(input.shape, dtype=input.dtype, device=input.device,
                             memory_format=output_memory_format(input))
    return grad_input, torch.empty_like(gamma), torch.empty_like(beta)


def _refuse_double_backward(ctx, *grads):
    raise RuntimeError("ganforge's fused ops do not support double backward "
                       "(create_graph=True through a fused block); use impl='torch' for that")


def register_python_rules() -> None:
    torch.library.register_fake(FORWARD)(_fake_forward)
    torch.library.register_fake(BACKWARD)(_fake_backward)
    torch.library.register_autograd(BACKWARD, _refuse_double_backward)
    torch.library.register_fake(BN_ACT)(_fake_bn_act)
    torch.library.register_fake(BN_ACT_BACKWARD)(_fake_bn_act_backward)
    torch.library.register_autograd(BN_ACT_BACKWARD, _refuse_double_backward)
