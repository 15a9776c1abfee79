"""Batch norm whose training statistics cover the whole global batch of a multi-process run.

torch's own ``nn.SyncBatchNorm`` refuses CPU tensors (torch 2.14: "expected input tensor to be
on GPU"), so ganforge has its own, for every device: the batch mean and then the variance
are sums all-reduced across the ranks by ``_SumOverRanks``, whose backward all-reduces the
gradient, so autograd gives every rank the gradient of the global batch statistics (torch's
``torch.distributed.nn.functional.all_reduce`` does the same but is deprecated in 2.14). Two passes (mean, then the centred sum of
squares) keep the variance as accurate as ``F.batch_norm``'s own.

``convert_sync_batchnorm`` swaps every ``BatchNorm1d/2d/3d`` of a network for a
``SyncBatchNorm`` holding the same parameter and buffer objects (optimizers built before keep
working, state_dict keys do not change), and turns each fused ``UpsampleBlock`` into a plain
``nn.Sequential`` of its own ConvTranspose2d, the converted batch norm and its LeakyReLU: the
fused op computes its statistics inside one kernel, so under ``--sync-bn`` the block takes the
reference path. In eval mode, or with one process, it is ``F.batch_norm``.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import nn

from ...ops import UpsampleBlock


class SyncBatchNorm(nn.modules.batchnorm._BatchNorm):
    """``nn.BatchNorm*d`` with statistics over every rank's batch while training."""

    def _check_input_dim(self, input: torch.Tensor) -> None:
        if input.dim() < 2:
            raise ValueError(f"expected at least 2D input (got {input.dim()}D input)")

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        self._check_input_dim(input)
        synced = self.training and dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1
        if not synced:
            return super().forward(input)
        factor = 0.0
        if self.track_running_stats:
            self.num_batches_tracked.add_(1)
            factor = 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
        return _global_batch_norm(input, self, factor)


class _SumOverRanks(torch.autograd.Function):
    """All-reduce (sum). Every rank's loss depends on every rank's input through the sum, so the
    gradient of the input is the sum of the ranks' output gradients: an all-reduce again."""

    @staticmethod
    def forward(ctx, tensor: torch.Tensor) -> torch.Tensor:
        total = tensor.clone(memory_format=torch.contiguous_format)
        dist.all_reduce(total)
        return total

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        total = grad.clone(memory_format=torch.contiguous_format)
        dist.all_reduce(total)
        return total


all_reduce = _SumOverRanks.apply


def _global_batch_norm(input: torch.Tensor, bn: SyncBatchNorm, factor: float) -> torch.Tensor:
    dtype = torch.promote_types(input.dtype, torch.float32)  # as batch_norm under autocast
    x = input.to(dtype)
    dims = [d for d in range(x.dim()) if d != 1]
    shape = [1, -1] + [1] * (x.dim() - 2)
    local_count = x.numel() // x.shape[1]
    count = torch.tensor([float(local_count)], dtype=dtype, device=x.device)
    sums = all_reduce(torch.cat([x.sum(dims), count]))  # one collective: per-channel sums, and n
    n = sums[-1]
    mean = sums[:-1] / n
    centred = x - mean.view(shape)
    var = all_reduce(centred.pow(2).sum(dims)) / n
    out = centred * torch.rsqrt(var + bn.eps).view(shape)
    if bn.affine:
        out = out * bn.weight.to(dtype).view(shape) + bn.bias.to(dtype).view(shape)
    if bn.track_running_stats and bn.running_mean is not None:
        with torch.no_grad():
            unbiased = var.detach() * (n / (n - 1).clamp(min=1))  # tensors: no host sync
            bn.running_mean.mul_(1 - factor).add_(mean.detach().to(bn.running_mean.dtype) * factor)
            bn.running_var.mul_(1 - factor).add_(unbiased.to(bn.running_var.dtype) * factor)
    return out


def convert_sync_batchnorm(module: nn.Module) -> nn.Module:
    """``module`` with every batch norm synchronised (see the module docstring); the same
    parameter objects throughout. Returns the module to use (a new one only when ``module``
    itself was a batch norm or a fused block)."""
    if isinstance(module, UpsampleBlock):
        conv, bn, act = module[0], module[1], module[2]
        return nn.Sequential(conv, convert_sync_batchnorm(bn), act).train(module.training)
    if isinstance(module, nn.modules.batchnorm._BatchNorm) and not isinstance(module, SyncBatchNorm):
        synced = SyncBatchNorm(module.num_features, module.eps, module.momentum, module.affine,
                               module.track_running_stats)
        if module.affine:
            synced.weight, synced.bias = module.weight, module.bias
        synced.running_mean, synced.running_var = module.running_mean, module.running_var
        synced.num_batches_tracked = module.num_batches_tracked
        return synced.train(module.training)
    for name, child in module.named_children():
        converted = convert_sync_batchnorm(child)
        if converted is not child:
            setattr(module, name, converted)
    return module
