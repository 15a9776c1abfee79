"""Run the plain-PyTorch DCGAN baseline alone and print its images/second.

    python benchmarks/baseline_dcgan.py --steps 20 --batch-size 128 [--device cpu]

The loop itself is ``ganforge/bench/baseline_dcgan.py`` (plain PyTorch, equivalent to
pytorch/examples ``dcgan/main.py``); this entry point feeds it ganforge's in-memory digits,
the same batches ``ganforge bench train`` gives both contenders. For the comparison with
ganforge, interleaved in one process, use ``ganforge bench train``.
"""

from __future__ import annotations

import argparse
import time

import torch

from ganforge.bench.train_throughput import baseline_contender
from ganforge.data import load_dataset


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=20, help="timed iterations")
    parser.add_argument("--warmup", type=int, default=2, help="untimed iterations first")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--channels", type=int, default=3, choices=(1, 3))
    parser.add_argument("--width", type=int, default=64, help="ngf = ndf")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()

    device = torch.device(args.device)
    data = load_dataset("mnist-5k", "data", args.image_size, args.channels)
    step, images, _ = baseline_contender(data, device, args.batch_size, args.width)
    for _ in range(args.warmup):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    for _ in range(args.steps):
        d_loss, g_loss = step()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    seconds = time.perf_counter() - start
    print(f"loss D {float(d_loss):.4f} G {float(g_loss):.4f}")
    print(f"{args.steps * images / seconds:.1f} img/s ({args.steps} iterations of {images} images, "
          f"{device}, torch {torch.__version__})")


if __name__ == "__main__":
    main()
