"""``ganforge bench train`` and the equivalence of ganforge's update with the baseline's."""

from __future__ import annotations

import json
import re

import pytest
import torch
from torch import nn
from typer.testing import CliRunner

from ganforge.bench.baseline_dcgan import BaselineDCGAN
from ganforge.bench.train_throughput import (BASELINE, DEFAULT, SPEED_VARIANTS, count_flop_per_image,
                                             ganforge_trainer, variant_name)
from ganforge.cli.app import app
from ganforge.data import InMemoryBatches, load_dataset

LAST_LINE = re.compile(r"ganforge vs baseline: \d+\.\d\dx")


def test_bench_train_runs_and_ends_with_the_ratio(tmp_path):
    path = tmp_path / "train.json"
    result = CliRunner().invoke(app, ["bench", "train", "--device", "cpu", "--steps", "2", "--repeats", "2",
                                      "--warmup", "1", "--batch-size", "8", "--image-size", "32",
                                      "--channels", "1", "--width", "8", "--json", str(path)])
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    assert LAST_LINE.fullmatch(lines[-1]), lines[-1]
    report = json.loads(path.read_text())
    timed, skipped = report["contenders"], report["skipped"]
    assert BASELINE in timed and DEFAULT in timed
    every_variant = {variant_name(v) for v in SPEED_VARIANTS}
    assert every_variant <= set(timed) | set(skipped) and not every_variant & set(timed) & set(skipped)
    for name, c in timed.items():
        assert len(c["img_per_s"]) == 2 and all(r > 0 for r in c["img_per_s"]), name
        assert c["best"] >= c["median"] > 0
    assert timed[BASELINE]["ratio_median"] == 1.0
    assert lines[-1] == f"ganforge vs baseline: {report['ganforge_vs_baseline']:.2f}x"
    assert report["flop_per_image"] > 0 and any(BASELINE in line for line in lines)


@pytest.mark.parametrize("args, message", [
    (["--image-size", "28"], "--image-size"),
    (["--channels", "2"], "--channels"),
    (["--device", "tpu"], "--device"),
])
def test_bench_train_rejects_bad_input_in_one_line(args, message):
    result = CliRunner().invoke(app, ["bench", "train", *args])
    assert result.exit_code == 2 and message in result.output and "Traceback" not in result.output


def test_dcgan64_costs_about_the_design_estimate_per_image():
    """DESIGN.md: about 2.5 GFLOP per image per iteration (G fwd 209 M, D fwd 207 M, bwd 2x)."""
    model = BaselineDCGAN()
    real = torch.rand(2, 3, 64, 64) * 2 - 1
    flop = count_flop_per_image(lambda: model.iteration(real), 2)
    assert 2.3e9 < flop < 2.7e9, flop


# -- equivalence -------------------------------------------------------------------------

def copy_baseline_weights(baseline: BaselineDCGAN, generator: nn.Module, discriminator: nn.Module) -> None:
    """Put the baseline's parameters and batch-norm buffers into ganforge's networks, tensor by
    tensor in order. ganforge's D has biases on its first and last convolutions where the
    script has none: they are removed (zero and never trained, as in the script; merely zeroed,
    Adam would move them by about lr at the first step)."""
    for source, target in ((baseline.generator, generator), (baseline.discriminator, discriminator)):
        biased = {name: m for name, m in target.named_modules() if isinstance(m, nn.Conv2d) and m.bias is not None}
        conv_biases = {f"{name}.bias" for name in biased}
        targets = [(k, v) for k, v in target.state_dict().items() if k not in conv_biases]
        sources = list(source.state_dict().items())
        assert len(targets) == len(sources)
        with torch.no_grad():
            for (tk, tv), (sk, sv) in zip(targets, sources):
                assert tv.shape == sv.shape, (tk, sk)
                tv.copy_(sv)
        for conv in biased.values():
            conv.bias = None  # F.conv2d without a bias; the optimizer's old tensor gets no gradient


#: "fp32 with no speed options", for whichever of them this TrainConfig has.
PLAIN_FP32 = {"precision": "fp32", "channels_last": False, "compile": "none", "reuse_fake": True}


def test_ganforge_losses_match_the_baseline_step_for_step():
    batch, width, seed, noise_seed = 16, 8, 0, 1234
    data = load_dataset("mnist-5k", "data", 32, 1)

    torch.manual_seed(seed)
    baseline = BaselineDCGAN(nz=100, ngf=width, ndf=width, nc=1, image_size=32)
    trainer = ganforge_trainer(PLAIN_FP32, data, torch.device("cpu"), batch, width, seed)
    copy_baseline_weights(baseline, trainer.run.generator, trainer.run.discriminator)

    # The same shuffled batches (same source, same seed) and the same noise (the global RNG,
    # seeded alike; both draw one (batch, nz) normal tensor per iteration, in the D update).
    real_batches = InMemoryBatches(data, batch, torch.device("cpu"), torch.Generator().manual_seed(seed))
    torch.manual_seed(noise_seed)
    want = [baseline.iteration(next(real_batches)[0]) for _ in range(3)]
    torch.manual_seed(noise_seed)
    got = []
    for step in range(3):
        logged = trainer.update(trainer.batches, step)  # the values the engine logs for this step
        got.append((float(logged["d_loss"]), float(logged["g_loss"])))

    for step, ((d_want, g_want), (d_got, g_got)) in enumerate(zip(want, got)):
        assert d_got == pytest.approx(float(d_want), rel=1e-4), f"D loss, step {step}"
        assert g_got == pytest.approx(float(g_want), rel=1e-4), f"G loss, step {step}"


def test_variants_combine_training_and_architecture_options():
    from ganforge.cli.bench_train import _variants
    from ganforge.errors import GanforgeError

    parsed = _variants(["channels_last=true,arch.impl=torch", "precision=bf16"])
    assert parsed == [{"channels_last": True, "arch_options": {"impl": "torch"}}, {"precision": "bf16"}]
    assert variant_name(parsed[0]) == "ganforge + channels_last=True, arch.impl=torch"
    for bad in ("channels_last", "nonsense=1", "arch.=torch", "channels_last=maybe"):
        with pytest.raises(GanforgeError):
            _variants([bad])
