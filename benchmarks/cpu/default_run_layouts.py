"""The default `ganforge train dcgan` step (28x28 digits, batch 32) in three memory layouts, built
in one process and timed interleaved: NCHW, channels_last, and channels_last D with an NCHW G.

    python benchmarks/cpu/default_run_layouts.py [--rounds 8] [--steps 40]

Prints best and median images/second per layout. Run it on a quiet machine.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from ganforge.training.setup.assemble import build_run, resolve_config
from ganforge.training.loop.driver import RunDriver


def default_run_step(**options):
    config, plugins = resolve_config({"arch": "dcgan", "device": "cpu", **options})
    driver = RunDriver(build_run(config, plugins), run_dir=None)
    counter = iter(range(1 << 62))
    return driver, lambda: driver.update(driver.batches, next(counter))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--warmup", type=int, default=10)
    args = parser.parse_args()
    _, nchw = default_run_step(channels_last=False)
    _, channels_last = default_run_step(channels_last=True)
    mixed_driver, mixed = default_run_step(channels_last=True)
    mixed_driver.run.generator.to(memory_format=torch.contiguous_format)
    steps = {"NCHW": nchw, "channels_last": channels_last, "channels_last D, NCHW G": mixed}
    batch = mixed_driver.run.config.batch_size
    for step in steps.values():
        for _ in range(args.warmup):
            step()
    names, rates = list(steps), {name: [] for name in steps}
    for round_ in range(args.rounds):
        k = round_ % len(names)
        for name in names[k:] + names[:k]:
            start = time.perf_counter()
            for _ in range(args.steps):
                steps[name]()
            rates[name].append(args.steps * batch / (time.perf_counter() - start))
    for name, values in rates.items():
        print(f"{name:24s} best {max(values):6.0f}  median {statistics.median(values):6.0f} img/s")


if __name__ == "__main__":
    main()
