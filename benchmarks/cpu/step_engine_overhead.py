"""Does the step-plugin engine cost the headline path anything? DCGAN-64 batch 128 (the
``ganforge bench train`` default shape) with ganforge's defaults, timed against the plain PyTorch
DCGAN loop interleaved in one process, once for each source tree; the trees are run one after the
other, alternating, so both ratios come from the same quiet stretch of the machine.

    python benchmarks/cpu/step_engine_overhead.py OLD_TREE NEW_TREE [--pairs 2] [--rounds 4] [--steps 3]

OLD_TREE is a checkout of the release before step plugins (with the built extension copied into its
``ganforge/``). Prints, per tree, best and median images/second of both contenders and the ratio of
medians; then the new tree's ratio over the old one's.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

CHILD = r"""
import json, statistics, sys, time, torch
from ganforge.bench.train_throughput import DATASET, baseline_contender, ganforge_contender
from ganforge.data import load_dataset
rounds, steps = int(sys.argv[1]), int(sys.argv[2])
data = load_dataset(DATASET, "data", 64, 3)
device = torch.device("cpu")
ours, batch, _ = ganforge_contender({}, data, device, 128)
theirs, _, _ = baseline_contender(data, device, 128)
for step in (ours, theirs):
    for _ in range(2):
        step()
rates = {"ganforge": [], "baseline": []}
for _ in range(rounds):
    for name, step in (("ganforge", ours), ("baseline", theirs)):
        began = time.perf_counter()
        for _ in range(steps):
            step()
        rates[name].append(steps * batch / (time.perf_counter() - began))
print(json.dumps(rates))
"""


def measure(tree: str, rounds: int, steps: int) -> dict:
    env = {**os.environ, "PYTHONPATH": tree}
    out = subprocess.run([sys.executable, "-c", CHILD, str(rounds), str(steps)], env=env, cwd=tree,
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old")
    parser.add_argument("new")
    parser.add_argument("--pairs", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--steps", type=int, default=3)
    args = parser.parse_args()
    ratios: dict[str, list[float]] = {"old": [], "new": []}
    for pair in range(args.pairs):
        for label, tree in (("old", args.old), ("new", args.new)):
            rates = measure(tree, args.rounds, args.steps)
            ours, theirs = statistics.median(rates["ganforge"]), statistics.median(rates["baseline"])
            ratios[label].append(ours / theirs)
            print(f"pair {pair + 1} {label}: ganforge best {max(rates['ganforge']):.1f} median {ours:.1f} img/s, "
                  f"baseline best {max(rates['baseline']):.1f} median {theirs:.1f} img/s, ratio {ours / theirs:.3f}",
                  flush=True)
    old, new = statistics.median(ratios["old"]), statistics.median(ratios["new"])
    print(f"median ratio to the baseline: old {old:.3f}, new {new:.3f}; new / old = {new / old:.3f}")


if __name__ == "__main__":
    main()
