"""pytest-benchmark: the fused block vs the eager reference vs torch.compile of the reference.

    pytest benchmarks/ --benchmark-group-by=param:case
    GANFORGE_BENCH_CPU_BATCH=64,128 pytest benchmarks/ -k cpu

CPU batch sizes come from GANFORGE_BENCH_CPU_BATCH (default 64, so the CPU run takes a few
minutes on 2 cores); CUDA runs batch 64, 128 and 256. Both run float32 and bfloat16. CUDA steps end
with a synchronize, so wall time covers the kernels.
"""

from __future__ import annotations

import os

import pytest
import torch

from ganforge.ops.benchmark import DCGAN64_BLOCKS, PASSES, bn_act_runners, block_runners

CPU_BATCHES = [int(b) for b in os.environ.get("GANFORGE_BENCH_CPU_BATCH", "64").split(",")]
CONFIGS = [("cpu", dtype, b) for dtype in (torch.float32, torch.bfloat16) for b in CPU_BATCHES]
if torch.cuda.is_available():
    CONFIGS += [("cuda", dtype, b) for dtype in (torch.float32, torch.bfloat16) for b in (64, 128, 256)]
IMPLS = ("fused", "eager", "compile")
PARTS = {"block": block_runners, "bn+act": bn_act_runners}


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("pass_", PASSES)
@pytest.mark.parametrize("shape", DCGAN64_BLOCKS, ids=lambda s: s.name.replace(" ", "_"))
@pytest.mark.parametrize("part", PARTS)
@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: f"{c[0]}-{str(c[1])[6:]}-b{c[2]}")
def test_upsample_block(benchmark, config, part, shape, pass_, impl):
    device, dtype, batch = config
    runners = PARTS[part](shape, batch, device, dtype, pass_, include_compile=impl == "compile")
    if impl not in runners:
        pytest.skip(f"{impl} unavailable for {device} {dtype}")
    run = runners[impl]
    step = (lambda: (run(), torch.cuda.synchronize())) if device == "cuda" else run
    benchmark.extra_info.update(case=f"{part} {shape.name} {pass_}", device=device, batch=batch)
    benchmark.pedantic(step, rounds=10, warmup_rounds=2)
