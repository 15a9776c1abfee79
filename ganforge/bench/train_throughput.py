"""Training throughput of ganforge against the plain-PyTorch baseline, in one process.

The data is loaded once; every contender (the baseline, ganforge with its default options,
ganforge with each speed option alone) gets its own networks and optimizers from the same
seed and draws its batches from the same in-memory images. After a warm-up, contenders are
timed interleaved, one block of ``steps`` iterations each per round (the starting contender
rotates), for ``repeats`` rounds, so slow drifts of a shared machine hit them all alike.
"""

from __future__ import annotations

import dataclasses
import statistics
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Optional, Sequence

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
#: DESIGN.md's estimate of one DCGAN-64 iteration's cost per image, for comparison.
DESIGN_GFLOP_PER_IMAGE = 2.5

Step = Callable[[], Any]


@dataclass
class ContenderResult:
    name: str
    overrides: dict[str, Any]
    images_per_second: list[float] = field(default_factory=list)  # one value per timed block

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
                     "median": r.median, "ratio_median": self.ratio(r.name),
                     "ratio_best": self.ratio(r.name, "best"), "tflops_median": self.tflops(r.name)}
            for r in self.results}
        out["skipped"] = dict(self.skipped)
        out["ganforge_vs_baseline"] = self.ratio(DEFAULT)
        return out


# -- contenders --------------------------------------------------------------------------

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
    from ..training.assemble import build_run, resolve_config
    from ..training.driver import RunDriver

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


def time_interleaved(steps_by_name: Mapping[str, tuple[Step, int]], device: torch.device, steps: int,
                     repeats: int, warmup: int) -> dict[str, list[float]]:
    """Images/second per block of ``steps`` iterations, ``repeats`` blocks per contender,
    round-robin with a rotating start, after ``warmup`` untimed iterations each."""
    names = list(steps_by_name)
    for name in names:
        for _ in range(warmup):
            steps_by_name[name][0]()
    _synchronize(device)
    rates: dict[str, list[float]] = {name: [] for name in names}
    for round_ in range(repeats):
        k = round_ % len(names)
        for name in names[k:] + names[:k]:
            step, images = steps_by_name[name]
            _synchronize(device)
            start = time.perf_counter()
            for _ in range(steps):
                step()
            _synchronize(device)
            rates[name].append(steps * images / (time.perf_counter() - start))
    return rates


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
                  width: int = 64, steps: int = 5, repeats: int = 3, warmup: int = 2,
                  variants: Sequence[Mapping[str, Any]] = SPEED_VARIANTS, seed: int = 0,
                  log: Callable[[str], None] = lambda message: None) -> ThroughputReport:
    """Build the data and every contender once, count the baseline's FLOPs, time them all."""
    log(f"loading {DATASET} at {image_size}x{image_size}x{channels}")
    data = load_dataset(DATASET, "data", image_size, channels)

    baseline_step, baseline_images, _ = baseline_contender(data, device, batch_size, width, seed)
    contenders: dict[str, tuple[Step, int]] = {BASELINE: (baseline_step, baseline_images)}
    overrides_by_name: dict[str, dict[str, Any]] = {BASELINE: {}}
    skipped: dict[str, str] = {}
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
    log(f"timing {len(contenders)} contenders: {warmup} warm-up iterations, then {repeats} rounds "
        f"of {steps} iterations each")
    rates = time_interleaved(contenders, device, steps, repeats, warmup)
    return ThroughputReport(
        device=str(device), batch_size=batch_size, image_size=image_size, channels=channels, width=width,
        steps=steps, repeats=repeats, warmup=warmup, flop_per_image=flop_per_image,
        machine=machine_info(device),
        results=[ContenderResult(name, overrides_by_name[name], rates[name]) for name in contenders],
        skipped=skipped,
    )
