"""Runs training steps in one process of several (started by torchrun from test_distributed.py)
or in the test process itself (the one-process reference), with the noise fixed from outside:
the same global noise tensor per draw, of which each rank takes its own slice, so a
multi-process step and the one-process step see exactly the same inputs.

    python -m torch.distributed.run --standalone --nproc_per_node 2 tests/distributed_worker.py OUT CASES_JSON
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

NOISE_SEED = 1234


def run_case(values: dict, parallel=None) -> dict:
    """Train ``values["steps"]`` steps with ``values`` (train options); returns the networks'
    state, the last logged record and this rank's real batches."""
    from ganforge.training.setup.assemble import build_run, resolve_config
    from ganforge.training.loop.driver import RunDriver

    config, plugins = resolve_config(values)
    device = None if parallel is None else parallel.device(config.device)
    run = build_run(config, plugins, device=device)
    driver = RunDriver(run, Path("not-written"), [], parallel=parallel)
    rank, world = (0, 1) if parallel is None else (parallel.rank, parallel.world_size)
    noise = torch.Generator().manual_seed(NOISE_SEED)
    seen = []

    def latent(n: int) -> torch.Tensor:
        z = torch.randn(config.batch_size, config.latent_dim, generator=noise)  # the global draw
        part = z.chunk(world)[rank]
        assert part.shape[0] == n, (part.shape, n)
        return part

    driver.update.latent = latent
    batches = driver.batches
    original_next = type(batches).__next__

    class Recording(type(batches)):
        def __next__(self):
            x, *rest = original_next(self)  # (images, labels) or, paired, (images, labels, conditions)
            seen.append(x.clone())
            return (x, *rest)

    batches.__class__ = Recording
    record = driver.run_steps()
    networks = {name: {k: v.clone() for k, v in module.state_dict().items()} for name, module in run.networks.items()}
    return {"networks": networks, "generator": networks[run.step.output], "record": record, "real": seen,
            "batches_per_step": run.real_batches_per_iteration}


def main(out: str, cases_json: str) -> None:
    from ganforge.training.parallel.distributed import Parallel

    torch.set_num_threads(1)
    parallel = Parallel.start(timeout_s=120)
    assert parallel is not None, "run me under torchrun with more than one process"
    for name, values in json.loads(cases_json).items():
        torch.save(run_case(values, parallel), Path(out) / f"{name}-rank{parallel.rank}.pt")
    parallel.close()


if __name__ == "__main__":
    main(*sys.argv[1:])
