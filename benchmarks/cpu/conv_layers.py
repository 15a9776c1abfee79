"""Time of each DCGAN-64 discriminator convolution (batch 128) on the CPU, forward and each part
of its backward, against the alternatives that would avoid oneDNN's backward kernels:
backward-data as a transposed-convolution forward, backward-weight as a dilated convolution, and
one call on the concatenated real + fake batch instead of two.

    python benchmarks/cpu/conv_layers.py [--channels-last/--nchw]

Milliseconds, best of 5; the alternatives' results are checked against aten's. Quiet machine only.
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F

LAYERS = ((3, 64, 64), (64, 128, 32), (128, 256, 16), (256, 512, 8))  # in, out channels, input size
BATCH = 128


def best_ms(fn, repeats: int = 5) -> float:
    fn()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best * 1e3


def backward(grad_out, x, w, mask):
    return torch.ops.aten.convolution_backward(grad_out, x, w, None, [2, 2], [1, 1], [1, 1], False, [0, 0], 1, mask)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nchw", action="store_true", help="NCHW instead of channels_last")
    layout = torch.contiguous_format if parser.parse_args().nchw else torch.channels_last
    torch.manual_seed(0)
    total_two = total_one = 0.0
    for cin, cout, size in LAYERS:
        def tensors(batch):
            x = torch.randn(batch, cin, size, size).contiguous(memory_format=layout)
            grad_out = torch.randn(batch, cout, size // 2, size // 2).contiguous(memory_format=layout)
            return x, grad_out

        w = torch.randn(cout, cin, 4, 4).contiguous(memory_format=layout)
        x, grad_out = tensors(BATCH)
        data_grad, weight_grad, _ = backward(grad_out, x, w, [True, True, False])
        as_transposed = F.conv_transpose2d(grad_out, w, stride=2, padding=1)
        as_dilated = F.conv2d(x.transpose(0, 1), grad_out.transpose(0, 1), padding=1, dilation=2).transpose(0, 1)
        torch.testing.assert_close(as_transposed, data_grad, rtol=1e-4, atol=1e-3)
        torch.testing.assert_close(as_dilated, weight_grad, rtol=1e-4, atol=1e-2)
        row = {
            "forward": best_ms(lambda: F.conv2d(x, w, stride=2, padding=1)),
            "bwd data": best_ms(lambda: backward(grad_out, x, w, [True, False, False])),
            "as convT fwd": best_ms(lambda: F.conv_transpose2d(grad_out, w, stride=2, padding=1)),
            "bwd weight": best_ms(lambda: backward(grad_out, x, w, [False, True, False])),
            "as dilated conv": best_ms(lambda: F.conv2d(x.transpose(0, 1), grad_out.transpose(0, 1), padding=1,
                                                        dilation=2)),
        }
        mask = [cin > 3, True, False]  # D's first layer needs no input gradient
        big_x, big_grad = tensors(2 * BATCH)

        def two_calls():
            for _ in range(2):
                F.conv2d(x, w, stride=2, padding=1)
                backward(grad_out, x, w, mask)

        def one_call():
            F.conv2d(big_x, w, stride=2, padding=1)
            backward(big_grad, big_x, w, mask)

        two, one = best_ms(two_calls, 3), best_ms(one_call, 3)
        total_two, total_one = total_two + two, total_one + one
        print(f"{cin:3d}->{cout:3d} @{size:2d}: " + "  ".join(f"{k} {v:6.1f}" for k, v in row.items())
              + f"  | fwd+bwd 2 x {BATCH}: {two:6.1f}, 1 x {2 * BATCH}: {one:6.1f}")
    print(f"all layers, fwd+bwd: 2 calls of {BATCH} {total_two:.0f} ms, 1 call of {2 * BATCH} {total_one:.0f} ms")


if __name__ == "__main__":
    main()
