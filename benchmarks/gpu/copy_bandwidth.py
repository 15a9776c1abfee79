"""Device-to-device copy bandwidth on the current CUDA device: ``dst.copy_(src)`` of a large
float32 tensor, timed with CUDA events; GB/s counts the bytes read plus the bytes written."""

from __future__ import annotations

import argparse
import json
import statistics


def measure(megabytes: int = 512, repeats: int = 30, warmup: int = 5) -> dict:
    import torch

    elements = megabytes * 2**20 // 4
    src = torch.randn(elements, device="cuda")
    dst = torch.empty_like(src)
    for _ in range(warmup):
        dst.copy_(src)
    torch.cuda.synchronize()
    seconds = []
    for _ in range(repeats):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        dst.copy_(src)
        end.record()
        end.synchronize()
        seconds.append(start.elapsed_time(end) / 1000)
    moved = 2 * src.numel() * src.element_size()  # read + write
    return {
        "device": torch.cuda.get_device_name(),
        "bytes_per_copy_read_plus_write": moved,
        "repeats": repeats,
        "median_seconds": statistics.median(seconds),
        "median_gb_per_s": moved / statistics.median(seconds) / 1e9,
        "best_gb_per_s": moved / min(seconds) / 1e9,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--json", required=True, help="write the result here")
    parser.add_argument("--megabytes", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()
    result = measure(args.megabytes, args.repeats)
    with open(args.json, "w") as f:
        json.dump(result, f, indent=2)
    print(f"device-to-device copy: {result['median_gb_per_s']:.0f} GB/s median "
          f"({result['best_gb_per_s']:.0f} best), read+write bytes")


if __name__ == "__main__":
    main()
