"""Training throughput of ganforge against the plain-PyTorch baseline, in one process.

The data is loaded once; every contender (the baseline, ganforge with its default options,
ganforge with each speed option alone) gets its own networks and optimizers from the same
seed and draws its batches from the same in-memory images. After a warm-up, contenders are
timed interleaved, one block of ``steps`` iterations each per round (the starting contender
rotates), for several rounds, so slow drifts of a shared machine hit them all alike.

The plan fits a time budget (``DEFAULT_BUDGET_S`` per device kind, so a laptop's CPU finishes
in minutes): the warm-up measures each contender's start-up and iteration time, and whatever
the caller left open of rounds and iterations per block is chosen from what is left of the
budget (``plan_rounds``). The default variants suit the device (``default_variants``): those
nobody would pick there are left out with the reason; ``variants=`` times anything asked for.
"""

from __future__ import annotations

import dataclasses
import math
import statistics
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Optional, Protocol, Sequence

import torch

from ..data import ImageData, InMemoryBatches, load_dataset
from ..errors import GanforgeError
from .baseline_dcgan import LR as BASELINE_LR
from .baseline_dcgan import BaselineDCGAN

BASELINE = "baseline (plain PyTorch)"
DEFAULT = "ganforge (default options)"
DATASET = "mnist-5k"
LATENT_DIM = 100
#: The speed options, each timed alone on top of ganforge's defaults (TrainConfig overrides);
#: the memory format both ways, since its default depends on the device (a variant that is
#: the default on this device is skipped).
SPEED_VARIANTS: tuple[dict[str, Any], ...] = (
    {"channels_last": True},
    {"channels_last": False},
    {"precision": "bf16"},
    {"compile": "networks"},
    {"reuse_fake": False},
)
BF16 = {"precision": "bf16"}
#: DESIGN.md's estimate of one DCGAN-64 iteration's cost per image, for comparison.
DESIGN_GFLOP_PER_IMAGE = 2.5
#: Seconds the whole default benchmark may take per device kind, loading, building and warm-up
#: included: under 5 minutes on a laptop's CPU, under 2 on a GPU.
DEFAULT_BUDGET_S = {"cpu": 240.0, "cuda": 90.0}
#: The plan aims for at least MIN_ROUNDS timed blocks per contender (a median of 3) and at most
#: MAX_ROUNDS, of DEFAULT_STEPS iterations, or more where iterations are fast (a GPU's), so that
#: a block lasts at least MIN_BLOCK_S.
MIN_ROUNDS, MAX_ROUNDS = 3, 5
DEFAULT_STEPS, MAX_STEPS, MIN_BLOCK_S = 5, 200, 0.5
Step = Callable[[], Any]


class Log(Protocol):
    """Where progress goes; ``end=""`` leaves the line open for the text that completes it."""

    def __call__(self, message: str, end: str = "\n") -> None: ...


def _silent(message: str, end: str = "\n") -> None:
    pass


@dataclass
class ContenderResult:
    name: str
    overrides: dict[str, Any]
    images_per_second: list[float] = field(default_factory=list)  # one value per timed block
    startup_s: float = 0.0  # the first warm-up iteration's time beyond a steady iteration's

    @property
    def best(self) -> float:
        return max(self.images_per_second)

    @property
    def median(self) -> float:
        return statistics.median(self.images_per_second)


@dataclass
class ThroughputReport:
    device: str
    batch_size: int
    image_size: int
    channels: int
    width: int
    steps: int
    repeats: int
    warmup: int
    flop_per_image: float
    machine: dict[str, Any]
    results: list[ContenderResult]
    skipped: dict[str, str]  # contender name -> why it was not timed
    budget_s: Optional[float] = None  # None: no budget
    plan: str = ""  # how the rounds and iterations per block were chosen
    seconds: float = 0.0  # the whole benchmark's wall time

    def result(self, name: str) -> ContenderResult:
        return next(r for r in self.results if r.name == name)

    def ratio(self, name: str, stat: str = "median") -> float:
        """``name``'s images/second over the baseline's (``stat``: median or best)."""
        return getattr(self.result(name), stat) / getattr(self.result(BASELINE), stat)

    def tflops(self, name: str, stat: str = "median") -> float:
        return self.flop_per_image * getattr(self.result(name), stat) / 1e12

    def to_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in dataclasses.asdict(self).items() if k not in ("results", "skipped")}
        out["contenders"] = {
            r.name: {"overrides": r.overrides, "img_per_s": r.images_per_second, "best": r.best,
                     "median": r.median, "startup_s": r.startup_s, "ratio_median": self.ratio(r.name),
                     "ratio_best": self.ratio(r.name, "best"), "tflops_median": self.tflops(r.name)}
            for r in self.results}
        out["skipped"] = dict(self.skipped)
        out["ganforge_vs_baseline"] = self.ratio(DEFAULT)
        return out


# -- contenders --------------------------------------------------------------------------

def default_variants(device: torch.device, flags: Optional[frozenset[str]] = None
                     ) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """The speed variants worth timing on ``device`` by default, and those left out with why.

    On a CPU, bf16 is left out unless the CPU computes it natively (``flags``: its feature
    flags, read from /proc/cpuinfo when None). torch.compile stays: its start-up is measured in
    the warm-up, and ``run_benchmark`` leaves it out there if it alone exceeds the budget."""
    from ..devices import cpu_flags, cpu_has_native_bf16

    variants, left_out = [], {}
    for overrides in SPEED_VARIANTS:
        if device.type == "cpu" and overrides == BF16:
            flags = cpu_flags() if flags is None else flags
            if not cpu_has_native_bf16(flags):
                left_out[variant_name(overrides)] = (
                    "this CPU has no native bf16 (no avx512_bf16, amx_bf16 or bf16 flag), so autocast "
                    "emulates it, slower than fp32; time it with --variant precision=bf16")
                continue
        variants.append(dict(overrides))
    return variants, left_out


def variant_name(overrides: Mapping[str, Any]) -> str:
    if not overrides:
        return DEFAULT
    flat = {k: v for k, v in overrides.items() if k != "arch_options"}
    flat.update({f"arch.{k}": v for k, v in overrides.get("arch_options", {}).items()})
    return "ganforge + " + ", ".join(f"{k}={v}" for k, v in flat.items())


def ganforge_trainer(overrides: Mapping[str, Any], data: ImageData, device: torch.device,
                     batch_size: int, width: int = 64, seed: int = 0):
    """ganforge's engine, ready to step, for the DCGAN-64 of the issue (ngf = ndf = ``width``,
    batch norm in D, nz = 100, the non-saturating loss = the script's BCE) on ``data``, with
    ``overrides`` (TrainConfig fields) applied on top of ganforge's defaults.

    With ``ganforge_contender`` this is the one place that knows how to drive the engine.
    """
    from ..training.setup.assemble import build_run, resolve_config
    from ..training.loop.driver import RunDriver

    channels, size, _ = data.image_shape
    flags = {"arch": "dcgan", "loss": "nonsaturating", "dataset": DATASET, "image_size": size,
             "channels": channels, "batch_size": batch_size, "latent_dim": LATENT_DIM,
             "device": str(device), "seed": seed,
             "g_lr": BASELINE_LR, "d_lr": BASELINE_LR,  # the script's Adam, whatever dcgan's defaults are
             **overrides,
             "arch_options": {"ngf": width, "ndf": width, "d_batchnorm": True, **overrides.get("arch_options", {})}}
    config, plugins = resolve_config(flags)
    # The driver's update step writes nothing; only its hooks would, and it gets none.
    return RunDriver(build_run(config, plugins, data=data), run_dir=None)


def ganforge_contender(overrides: Mapping[str, Any], data: ImageData, device: torch.device,
                       batch_size: int, width: int = 64, seed: int = 0) -> tuple[Step, int, dict[str, Any]]:
    """One ganforge training iteration as a zero-argument function, the real images it uses,
    and the run's resolved configuration."""
    driver = ganforge_trainer(overrides, data, device, batch_size, width, seed)
    steps = iter(range(1 << 62))
    config = driver.run.config
    return (lambda: driver.update(driver.batches, next(steps))), batch_size * config.d_steps, config.to_dict()


def baseline_contender(data: ImageData, device: torch.device, batch_size: int, width: int = 64,
                       seed: int = 0) -> tuple[Step, int, BaselineDCGAN]:
    """The plain loop on the same in-memory images, shuffled by the same seeded generator."""
    channels, size, _ = data.image_shape
    torch.manual_seed(seed)
    baseline = BaselineDCGAN(nz=LATENT_DIM, ngf=width, ndf=width, nc=channels, image_size=size,
                             device=device)
    batches = InMemoryBatches(data, batch_size, device, torch.Generator().manual_seed(seed))

    def step():
        real, _ = next(batches)
        return baseline.iteration(real)

    return step, batch_size, baseline


# -- planning ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Plan:
    steps: int  # iterations per timed block
    rounds: int  # timed blocks per contender
    seconds: float  # the timed rounds' estimated wall time
    why: str


def plan_rounds(iteration_s: Mapping[str, float], seconds_left: Optional[float],
                steps: Optional[int] = None, repeats: Optional[int] = None) -> Plan:
    """Rounds and iterations per block for contenders whose iterations take ``iteration_s``.

    What the caller gives is kept. The rest: blocks of at least DEFAULT_STEPS iterations (more
    for fast iterations, so a block lasts MIN_BLOCK_S) and as many rounds as ``seconds_left``
    allows up to MAX_ROUNDS; when fewer than MIN_ROUNDS fit, shorter blocks before fewer rounds.
    ``seconds_left`` None: no budget."""
    per_iteration = sum(iteration_s.values())
    fastest = max(min(iteration_s.values()), 1e-9)
    chosen_steps = steps or min(MAX_STEPS, max(DEFAULT_STEPS, math.ceil(MIN_BLOCK_S / fastest)))
    if repeats is not None and steps is not None:
        why = "--steps and --repeats as given"
    elif seconds_left is None:
        repeats = repeats or MIN_ROUNDS
        why = "no time budget"
    else:
        fit = max(0.0, seconds_left)
        if repeats is None:
            repeats = max(1, min(MAX_ROUNDS, int(fit // (chosen_steps * per_iteration))))
            if repeats < MIN_ROUNDS and steps is None:
                chosen_steps = max(1, int(fit // (MIN_ROUNDS * per_iteration)))
                repeats = max(1, min(MIN_ROUNDS, int(fit // (chosen_steps * per_iteration))))
        elif steps is None:
            chosen_steps = max(1, min(chosen_steps, int(fit // (repeats * per_iteration))))
        why = f"fitted to the {fit:.0f} s left of the time budget"
    return Plan(chosen_steps, repeats, chosen_steps * repeats * per_iteration, why)


# -- measuring ---------------------------------------------------------------------------

def count_flop_per_image(step: Step, batch_size: int) -> float:
    """FLOPs of one call of ``step`` (forward and backward, as counted by PyTorch) per image."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter:
        step()
    return counter.get_total_flops() / batch_size


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed(step: Step, iterations: int, device: torch.device) -> float:
    """Seconds for ``iterations`` calls of ``step``, the device synchronised on both ends."""
    _synchronize(device)
    start = time.perf_counter()
    for _ in range(iterations):
        step()
    _synchronize(device)
    return time.perf_counter() - start


def warm_up(steps_by_name: Mapping[str, tuple[Step, int]], device: torch.device, warmup: int,
            log: Log = _silent) -> dict[str, tuple[float, float]]:
    """Run ``warmup`` (at least 1) untimed iterations of each contender: (start-up seconds,
    seconds per steady iteration) per name. The start-up is the first iteration's time beyond a
    steady one's (torch.compile compiles then); with one warm-up iteration it is not separable."""
    out = {}
    for name, (step, images) in steps_by_name.items():
        log(f"warm-up  {name}: {warmup} iteration(s) ... ", end="")
        first = _timed(step, 1, device)
        rest = [_timed(step, 1, device) for _ in range(warmup - 1)]
        steady = statistics.median(rest) if rest else first
        out[name] = (max(0.0, first - steady), steady)
        log(f"start-up {out[name][0]:.1f} s, {images / steady:.1f} img/s" if rest
            else f"{images / first:.1f} img/s (start-up included)")
    return out


def time_interleaved(steps_by_name: Mapping[str, tuple[Step, int]], device: torch.device, steps: int,
                     repeats: int, log: Log = _silent, deadline: Optional[float] = None) -> dict[str, list[float]]:
    """Images/second per block of ``steps`` iterations, ``repeats`` blocks per contender,
    round-robin with a rotating start. Each block is one progress line: the contender when it
    starts, its rate, its median so far and the time left in the plan when it ends. With a
    ``deadline`` (a ``time.perf_counter()`` value), no round starts that would end after it,
    except the first: on a machine slower than the warm-up said, fewer rounds, not a late end."""
    names = list(steps_by_name)
    rates: dict[str, list[float]] = {name: [] for name in names}
    block_s: dict[str, float] = {}
    for round_ in range(repeats):
        if round_ and deadline is not None and time.perf_counter() + sum(block_s.values()) > deadline:
            log(f"stopping after {round_} of {repeats} rounds: the next one would end past the time budget")
            break
        k = round_ % len(names)
        for i, name in enumerate(names[k:] + names[:k]):
            step, images = steps_by_name[name]
            log(f"round {round_ + 1}/{repeats}  {name} ... ", end="")
            seconds = _timed(step, steps, device)
            rates[name].append(steps * images / seconds)
            block_s[name] = steps * images / statistics.median(rates[name])
            blocks_left = (repeats - round_ - 1) * len(names) + len(names) - i - 1
            left = blocks_left * statistics.mean(block_s.values())
            log(f"{rates[name][-1]:.1f} img/s (median {statistics.median(rates[name]):.1f}); "
                f"{_duration(left)} left in the plan")
    return rates


def _duration(seconds: float) -> str:
    seconds = round(seconds)
    return f"{seconds // 60}:{seconds % 60:02d}"


def machine_info(device: torch.device) -> dict[str, Any]:
    import platform

    info = {"torch": torch.__version__, "cpu": _cpu_model() or platform.processor() or platform.machine(),
            "cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "threads": torch.get_num_threads()}
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
        info["cuda"] = torch.version.cuda
    return info


def _cpu_model() -> Optional[str]:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def run_benchmark(device: torch.device, batch_size: int = 128, image_size: int = 64, channels: int = 3,
                  width: int = 64, steps: Optional[int] = None, repeats: Optional[int] = None, warmup: int = 2,
                  variants: Optional[Sequence[Mapping[str, Any]]] = None, seed: int = 0,
                  budget_s: Optional[float] = None, log: Log = _silent) -> ThroughputReport:
    """Build the data and every contender once, count the baseline's FLOPs, warm each up, plan
    the rounds within ``budget_s`` (None: no budget) and time them all.

    ``variants`` None: ``default_variants(device)``, whose left-out variants are reported as
    skipped. ``steps``/``repeats`` None: chosen by ``plan_rounds``."""
    began = time.perf_counter()
    skipped: dict[str, str] = {}
    by_default = variants is None  # then a variant whose start-up alone exceeds the budget is left out
    if variants is None:
        variants, skipped = default_variants(device)
        for name, why in skipped.items():
            log(f"left out {name}: {why}")
    log(f"loading {DATASET} at {image_size}x{image_size}x{channels}")
    data = load_dataset(DATASET, "data", image_size, channels)

    baseline_step, baseline_images, _ = baseline_contender(data, device, batch_size, width, seed)
    contenders: dict[str, tuple[Step, int]] = {BASELINE: (baseline_step, baseline_images)}
    overrides_by_name: dict[str, dict[str, Any]] = {BASELINE: {}}
    default_config = None
    for overrides in ({}, *variants):
        name = variant_name(overrides)
        log(f"building {name}")
        try:
            step, images, config = ganforge_contender(overrides, data, device, batch_size, width, seed)
        except GanforgeError as exc:  # a setting this device cannot run (e.g. CUDA graphs on a CPU)
            skipped[name] = str(exc)
            continue
        if not overrides:
            default_config = config
        elif config == default_config:
            skipped[name] = f"the default options on {device}"
            continue
        contenders[name] = (step, images)
        overrides_by_name[name] = dict(overrides)

    log("counting the baseline's FLOPs (one iteration)")
    flop_per_image = count_flop_per_image(baseline_step, batch_size)
    warm = warm_up(contenders, device, max(1, warmup), log)
    too_slow = [n for n in contenders if by_default and budget_s is not None and n not in (BASELINE, DEFAULT)
                and warm[n][0] > budget_s]
    for name in too_slow:
        skipped[name] = (f"its start-up took {warm[name][0]:.0f} s, more than the whole time budget of "
                         f"{budget_s:.0f} s; time it with --variant (its start-up gets a column of its own)")
        log(f"left out {name}: {skipped[name]}")
        del contenders[name], warm[name]
    seconds_left = None if budget_s is None else budget_s - (time.perf_counter() - began)
    plan = plan_rounds({name: s for name, (_, s) in warm.items()}, seconds_left, steps, repeats)
    log(f"timing {len(contenders)} contenders: {plan.rounds} round(s) of {plan.steps} iteration(s) each, "
        f"about {_duration(plan.seconds)} ({plan.why})")
    fitted = budget_s is not None and (steps is None or repeats is None)
    rates = time_interleaved(contenders, device, plan.steps, plan.rounds, log,
                             deadline=began + budget_s if fitted else None)
    return ThroughputReport(
        device=str(device), batch_size=batch_size, image_size=image_size, channels=channels, width=width,
        steps=plan.steps, repeats=len(rates[BASELINE]), warmup=max(1, warmup), flop_per_image=flop_per_image,
        machine=machine_info(device),
        results=[ContenderResult(name, overrides_by_name[name], rates[name], warm[name][0]) for name in contenders],
        skipped=skipped, budget_s=budget_s, plan=plan.why, seconds=time.perf_counter() - began,
    )
