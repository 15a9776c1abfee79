"""Benchmark cases of the fused block: DCGAN-64 generator blocks, timed on the fused op, the eager
reference and torch.compile of the reference. Shared by ``ganforge bench`` and benchmarks/."""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F

from .dispatch import auto_choice
from .fused import bn_act
from .upsample import UpsampleBlock


@dataclass(frozen=True)
class BlockShape:
    name: str
    in_channels: int
    out_channels: int
    kernel_size: int
    stride: int
    padding: int
    input_size: int

    @property
    def output_size(self) -> int:
        return (self.input_size - 1) * self.stride - 2 * self.padding + self.kernel_size


# ngf=64, latent 100: the four BN+ReLU blocks of the DCGAN-64 generator.
DCGAN64_BLOCKS = (
    BlockShape("100->512 1->4", 100, 512, 4, 1, 0, 1),
    BlockShape("512->256 4->8", 512, 256, 4, 2, 1, 4),
    BlockShape("256->128 8->16", 256, 128, 4, 2, 1, 8),
    BlockShape("128->64 16->32", 128, 64, 4, 2, 1, 16),
)
PASSES = ("fwd", "fwd+bwd")
# Memory traffic of the BN+activation part, in elements E of its input (DESIGN.md).
TRAFFIC_FLOOR = {"eager": {"fwd": 5, "fwd+bwd": 13}, "fused": {"fwd": 3, "fwd+bwd": 8}}


def median_seconds(runners: dict[str, Callable[[], object]], device: str, repeats: int,
                   warmup: int = 2) -> dict[str, float]:
    """Median wall time of each runner. Repetitions are interleaved across runners so that load
    from other processes hits all implementations alike; on CUDA, CUDA events time each step."""
    for run in runners.values():
        for _ in range(warmup):
            run()
    times: dict[str, list[float]] = {name: [] for name in runners}
    for _ in range(repeats):
        for name, run in runners.items():
            times[name].append(_time_once(run, device))
    return {name: statistics.median(values) for name, values in times.items()}


def _time_once(run: Callable[[], object], device: str) -> float:
    if device == "cuda":
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        run()
        end.record()
        end.synchronize()
        return start.elapsed_time(end) / 1000
    begin = time.perf_counter()
    run()
    return time.perf_counter() - begin


def _step(forward: Callable[[], torch.Tensor], grad: torch.Tensor | None,
          leaves: tuple[torch.Tensor, ...]) -> Callable[[], None]:
    """One step; with a gradient, the leaves' .grad is reset first, as the trainer's
    zero_grad(set_to_none=True) does, so no step pays for accumulating into the last one's."""
    def run():
        if grad is not None:
            for leaf in leaves:
                leaf.grad = None
        out = forward()
        if grad is not None:
            out.backward(grad)
    return run


def block_runners(shape: BlockShape, batch: int, device: str, dtype: torch.dtype, pass_: str,
                  include_compile: bool) -> dict[str, Callable[[], None]]:
    """Whole block: impl name -> one step (forward, or forward and backward). Every
    implementation runs on the same parameter tensors, so none gets a luckier memory layout."""
    backward = pass_ == "fwd+bwd"
    x = torch.randn(batch, shape.in_channels, shape.input_size, shape.input_size, device=device,
                    dtype=dtype, requires_grad=backward and shape.input_size > 1)
    size = shape.output_size
    grad = torch.randn(batch, shape.out_channels, size, size, device=device, dtype=dtype) if backward else None
    geometry = (shape.in_channels, shape.out_channels, shape.kernel_size, shape.stride, shape.padding)
    impls = {"eager": "torch"}
    if auto_choice(device, dtype) != "torch":
        impls["fused"] = device
    shared = UpsampleBlock(*geometry, impl="torch").to(device=device, dtype=dtype)
    leaves = (x, *shared.parameters())
    runners = {}
    for label, impl in impls.items():
        block = _sharing_parameters(UpsampleBlock(*geometry, impl=impl), shared)
        runners[label] = _step(lambda block=block: block(x), grad, leaves)
    if include_compile:
        compiled = _compile(_sharing_parameters(UpsampleBlock(*geometry, impl="torch"), shared))
        runners["compile"] = _step(lambda: compiled(x), grad, leaves)
    return runners


def _sharing_parameters(block: UpsampleBlock, source: UpsampleBlock) -> UpsampleBlock:
    """block, on source's device and dtype, with source's parameter tensors (its buffers stay
    its own)."""
    first = next(source.parameters())
    block.to(device=first.device, dtype=first.dtype)
    for name, parameter in source.named_parameters():
        module_name, _, attribute = name.rpartition(".")
        setattr(block.get_submodule(module_name), attribute, parameter)
    return block


def _compile(fn):
    """A fresh static-shape compilation per case: recompiling one code object for every block
    shape would switch to dynamic shapes (a different, here failing, inductor path) and run
    into dynamo's recompile limit."""
    torch._dynamo.reset()
    return torch.compile(fn, dynamic=False)


def _reference_bn_act(y, gamma, beta):
    return F.relu(F.batch_norm(y, None, None, gamma, beta, True, 0.0, 1e-5))


def bn_act_runners(shape: BlockShape, batch: int, device: str, dtype: torch.dtype, pass_: str,
                   include_compile: bool) -> dict[str, Callable[[], None]]:
    """The BN+activation part alone on the block's conv output shape."""
    backward = pass_ == "fwd+bwd"
    size = shape.output_size
    y = torch.randn(batch, shape.out_channels, size, size, device=device, dtype=dtype,
                    requires_grad=backward)
    gamma = torch.ones(shape.out_channels, device=device, dtype=dtype, requires_grad=backward)
    beta = torch.zeros(shape.out_channels, device=device, dtype=dtype, requires_grad=backward)
    grad = torch.randn_like(y) if backward else None
    leaves = (y, gamma, beta)
    runners = {"eager": _step(lambda: _reference_bn_act(y, gamma, beta), grad, leaves)}
    if auto_choice(device, dtype) != "torch":
        runners["fused"] = _step(lambda: bn_act(y, gamma, beta, impl=device), grad, leaves)
    if include_compile:
        compiled = _compile(_reference_bn_act)
        runners["compile"] = _step(lambda: compiled(y, gamma, beta), grad, leaves)
    return runners


def bn_act_elements(shape: BlockShape, batch: int) -> int:
    return batch * shape.out_channels * shape.output_size ** 2
