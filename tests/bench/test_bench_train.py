"""``ganforge bench train`` and the equivalence of ganforge's update with the baseline's."""

from __future__ import annotations

import json
import re

import pytest
import torch
from torch import nn
from typer.testing import CliRunner

from ganforge.bench.baseline_dcgan import BaselineDCGAN
from ganforge.bench import train_throughput
from ganforge.bench.train_throughput import (BASELINE, DEFAULT, MAX_ROUNDS, MIN_ROUNDS, SPEED_VARIANTS,
                                             count_flop_per_image, default_variants, ganforge_trainer,
                                             plan_rounds, variant_name)
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
    # Progress on stderr: each contender's warm-up, then one line per timed block, each naming the
    # contender as the block starts and ending with its rate and the time left in the plan.
    progress = result.stderr.splitlines()
    for name in timed:
        assert any(line.startswith(f"warm-up  {name}: 1 iteration(s) ... ") for line in progress), name
        blocks = [line for line in progress if re.fullmatch(
            rf"round [12]/2  {re.escape(name)} \.\.\. \d+\.\d img/s \(median \d+\.\d\); \d+:\d\d left in the plan", line)]
        assert len(blocks) == 2, (name, progress)
    assert progress[-1].endswith("0:00 left in the plan")
    assert "start-up s" in result.stdout and all(c["startup_s"] >= 0 for c in timed.values())


def test_bench_train_plans_within_its_budget():
    """With --steps and --repeats left open, the plan is fitted to the budget and said."""
    result = CliRunner().invoke(app, ["bench", "train", "--device", "cpu", "--budget", "1", "--batch-size", "4",
                                      "--image-size", "32", "--channels", "1", "--width", "4", "--variant", "none"])
    assert result.exit_code == 0, result.output
    assert re.search(r"timing 2 contenders: \d round\(s\) of \d+ iteration\(s\) each, about \d+:\d\d "
                     r"\(fitted to the \d+ s left of the time budget\)", result.stderr), result.stderr
    assert "the whole benchmark took" in result.stdout


# -- the plan ------------------------------------------------------------------------------

def names(variants):
    return {variant_name(v) for v in variants}


def test_default_variants_per_device_kind():
    bf16 = variant_name({"precision": "bf16"})
    avx2, left_out = default_variants(torch.device("cpu"), frozenset({"avx2", "fma"}))
    assert bf16 not in names(avx2) and "no native bf16" in left_out[bf16]
    assert names(avx2) | set(left_out) == names(SPEED_VARIANTS)
    for flags in ({"avx512f", "avx512_bf16"}, {"amx_bf16"}, {"asimd", "bf16"}):  # x86 AVX-512 / AMX, Arm
        variants, left_out = default_variants(torch.device("cpu"), frozenset(flags))
        assert names(variants) == names(SPEED_VARIANTS) and not left_out, flags
    variants, left_out = default_variants(torch.device("cuda"), frozenset())
    assert names(variants) == names(SPEED_VARIANTS) and not left_out


def test_default_variants_read_this_cpus_flags():
    from ganforge.devices import cpu_flags, cpu_has_native_bf16

    variants, _ = default_variants(torch.device("cpu"))
    assert (variant_name({"precision": "bf16"}) in names(variants)) == cpu_has_native_bf16(cpu_flags())


@pytest.mark.parametrize("seconds_left, steps, repeats, want_steps, want_rounds", [
    (None, None, None, 5, MIN_ROUNDS),   # no budget: the default block, 3 rounds
    (1000.0, None, None, 5, MAX_ROUNDS),  # room for more rounds, up to the most
    (60.0, None, None, 5, 4),            # 4 rounds of 5 x 3 s fit in 60 s
    (30.0, None, None, 3, MIN_ROUNDS),   # 3 rounds of 5 do not fit: shorter blocks, still 3 rounds
    (5.0, None, None, 1, 1),             # not even 3 single iterations: 1 round of 1
    (30.0, 10, None, 10, 1),             # --steps kept, rounds fitted
    (30.0, None, 5, 2, 5),               # --repeats kept, blocks fitted
    (1.0, 7, 4, 7, 4),                   # both given: kept, whatever the budget
])
def test_plan_rounds(seconds_left, steps, repeats, want_steps, want_rounds):
    iteration_s = {"a": 1.0, "b": 2.0}  # 3 s per iteration of every contender
    plan = plan_rounds(iteration_s, seconds_left, steps, repeats)
    assert (plan.steps, plan.rounds) == (want_steps, want_rounds)
    assert plan.seconds == pytest.approx(3.0 * plan.steps * plan.rounds)
    if seconds_left is not None and (steps, repeats) == (None, None) and want_rounds > 1:
        assert plan.seconds <= seconds_left


def test_plan_gives_fast_iterations_longer_blocks():
    plan = plan_rounds({"a": 0.002, "b": 0.004}, 90.0)
    assert plan.steps == 200 and plan.rounds == MAX_ROUNDS  # 0.5 s blocks would need 250


def test_a_default_variant_whose_start_up_exceeds_the_budget_is_left_out(monkeypatch):
    real_warm_up = train_throughput.warm_up
    slow = variant_name({"reuse_fake": False})

    def warm_up(contenders, device, warmup, log):
        out = real_warm_up(contenders, device, warmup, log)
        out[slow] = (1e6, out[slow][1])  # as if it had taken a million seconds to start
        return out

    monkeypatch.setattr(train_throughput, "warm_up", warm_up)
    monkeypatch.setattr(train_throughput, "SPEED_VARIANTS", ({"reuse_fake": False},))
    report = train_throughput.run_benchmark(torch.device("cpu"), batch_size=4, image_size=32, channels=1, width=4,
                                            steps=1, repeats=1, budget_s=100.0)
    assert slow not in {r.name for r in report.results} and "more than the whole time budget" in report.skipped[slow]
    asked = train_throughput.run_benchmark(torch.device("cpu"), batch_size=4, image_size=32, channels=1, width=4,
                                           steps=1, repeats=1, budget_s=100.0, variants=[{"reuse_fake": False}])
    assert slow in {r.name for r in asked.results}  # asked for with --variant: timed whatever its start-up


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


def test_rounds_stop_before_one_would_end_past_the_deadline(monkeypatch):
    """On a machine slower than its warm-up said, the fitted plan gives fewer rounds, not a late end
    (a fake clock: every iteration takes one 'second')."""
    clock = [0.0]

    def step():
        clock[0] += 1.0

    monkeypatch.setattr(train_throughput.time, "perf_counter", lambda: clock[0])
    lines = []
    rates = train_throughput.time_interleaved({"a": (step, 4), "b": (step, 4)}, torch.device("cpu"), steps=1,
                                              repeats=10, log=lambda message, end="\n": lines.append(message),
                                              deadline=7.0)
    assert [len(r) for r in rates.values()] == [3, 3]  # rounds end at 2, 4, 6; a 4th would end at 8
    assert lines[-1] == "stopping after 3 of 10 rounds: the next one would end past the time budget"
    assert rates["a"] == [4.0, 4.0, 4.0]
