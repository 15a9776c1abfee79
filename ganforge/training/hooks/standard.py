"""The driver's standard hooks: what a run writes into its directory, and the progress bar."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import torch

from ...data.dataset import to_model_range
from ...generator_file import GENERATOR_FILE, export_generator, sample_latent
from ...interfaces import CONDITION
from ...images import save_grid
from ..loop.checkpoint import save_checkpoint
from ..loop.driver import Hook, PeriodicHook, RunDriver
from .ema import GeneratorEMA
from .eval_plot import plot_evaluations, record_line
from .metrics import MetricsLog, plot_losses, read_metrics, truncate_metrics
from .progress import Progress
from ..loop.rundir import EVALUATION_PLOT, LOSS_PLOT, METRICS_FILE, SAMPLES_DIR

GRID_SAMPLES = 64
GRID_COLUMNS = 8
GRID_CLASS_COLUMNS = 10
GRID_MAX_CLASS_ROWS = 16
GRID_PAIRS = 10  # image-to-image: condition, output and target of this many pairs


class MetricsFile(Hook):
    """Appends each logged record to ``metrics.jsonl``."""

    def __init__(self):
        self.log: Optional[MetricsLog] = None

    def on_start(self, driver: RunDriver) -> None:
        self.log = MetricsLog(driver.run_dir / METRICS_FILE)

    def on_log(self, driver: RunDriver, record: dict) -> None:
        self.log.write(record)

    def on_record(self, driver: RunDriver, record: dict) -> None:
        self.log.write(record)

    def on_rollback(self, driver: RunDriver, record: dict) -> None:
        """The steps after the restored one are trained again: their records go (so do those of an
        earlier try at this same rollback, cut short by a kill), then the action is written."""
        truncate_metrics(self.log.path, driver.step, lambda r: r.get("rollback") == record["rollback"])
        self.log.write(record)

    def close(self) -> None:
        if self.log is not None:
            self.log.close()
            self.log = None


class ProgressBar(Hook):
    def __init__(self, live: Optional[bool] = None):
        self.live = live
        self.progress: Optional[Progress] = None

    def on_start(self, driver: RunDriver) -> None:
        c = driver.run.config
        self.progress = Progress(driver.total_steps, driver.step, f"{c.arch}/{c.loss}", live=self.live)
        self.progress.__enter__()

    def on_log(self, driver: RunDriver, record: dict) -> None:
        self.progress.update(driver.step, record)

    def on_record(self, driver: RunDriver, record: dict) -> None:
        line = record_line(record)
        if line:
            self.progress.note(line)

    def on_rollback(self, driver: RunDriver, record: dict) -> None:
        self.on_record(driver, record)
        self.progress.update(driver.step, {})

    def close(self) -> None:
        if self.progress is not None:
            self.progress.__exit__(None, None, None)
            self.progress = None


class SampleGrids(PeriodicHook):
    """A grid from fixed noise every ``every`` steps and at the end (conditional: a row per label;
    an image-to-image generator: fixed condition images, its outputs and the targets, row by row)."""

    def __init__(self, every: int):
        super().__init__(every)
        self.z = self.labels = self.conditions = self.targets = None
        self.columns = GRID_COLUMNS

    def on_start(self, driver: RunDriver) -> None:
        run = driver.run
        c, spec = run.config, run.spec
        rng = torch.Generator().manual_seed(c.seed + 1)
        if run.step.generator_input == CONDITION:
            pick = torch.randperm(len(run.data), generator=rng)[:GRID_PAIRS]
            self.conditions = to_model_range(run.data.conditions[pick]).to(run.device)
            self.targets = to_model_range(run.data.images[pick]).to(run.device)
            self.columns = len(pick)
            return
        if spec.num_classes:
            rows = min(spec.num_classes, GRID_MAX_CLASS_ROWS)
            self.labels = torch.arange(rows).repeat_interleave(GRID_CLASS_COLUMNS).to(run.device)
            self.columns = GRID_CLASS_COLUMNS
        n = GRID_SAMPLES if self.labels is None else len(self.labels)
        self.z = sample_latent(n, spec.latent_dim, c.latent_prior, rng, run.device)

    def act(self, driver: RunDriver) -> Path:
        G = driver.output_generator
        G.eval()
        with torch.no_grad():
            if self.conditions is None:
                images = G(self.z, self.labels)
            else:  # three rows: what G sees, what it makes, what it should make
                images = torch.cat([self.conditions, G(self.conditions).float(), self.targets])
        G.train()
        return save_grid(images, driver.run_dir / SAMPLES_DIR / f"step-{driver.step:06d}.png", self.columns)


class Checkpoints(Hook):
    """``latest.pt`` plus a periodic copy every ``every`` steps, and the exported generator.
    With ``at_start`` (rollbacks are on) also one of step 0, the target of a problem found early;
    after a rollback, one of the restored and remedied state (a kill then resumes from it)."""

    def __init__(self, every: int, at_start: bool = False, reach_back: int = 0):
        self.every = every
        self.at_start = at_start
        # the periodic checkpoints kept must span this many steps (a rollback's target survives)
        self.keep_at_least = -(-reach_back // every) + 1 if reach_back else 0
        self.written = 0

    def on_start(self, driver: RunDriver) -> None:
        if self.at_start and driver.step == 0:
            self.save(driver, periodic=True)

    def on_step(self, driver: RunDriver) -> None:
        if driver.step % self.every == 0 and driver.step != driver.total_steps:
            self.save(driver, periodic=True)

    def on_rollback(self, driver: RunDriver, record: dict) -> None:
        self.save(driver, periodic=True)

    def on_end(self, driver: RunDriver) -> None:
        self.save(driver, periodic=False)

    def save(self, driver: RunDriver, periodic: bool) -> None:
        driver.check_finite()  # never replace a good checkpoint with a diverged one
        if driver.pending_rollback is not None:
            return  # nor with one the health monitor is about to undo
        keep = driver.run.config.keep_checkpoints
        save_checkpoint(driver.run_dir, driver.state_dict(), driver.step, keep_periodic=periodic,
                        keep=keep and max(keep, self.keep_at_least))
        export_generator(driver.output_generator, driver.run.generator_info(), driver.run_dir / GENERATOR_FILE)
        self.written += 1


class LossPlot(Hook):
    """``losses.png`` and, when the run evaluated its generator, ``evaluation.png``."""

    def on_end(self, driver: RunDriver) -> None:
        records = read_metrics(driver.run_dir / METRICS_FILE)
        plot_losses(records, driver.run_dir / LOSS_PLOT)
        plot_evaluations(records, driver.run_dir / EVALUATION_PLOT)


def standard_hooks(config, progress: Optional[bool] = None) -> list[Hook]:
    """What ``ganforge train`` runs with: ``progress`` None = a live bar on a terminal only.
    The generator average comes first (the hooks after it sample, evaluate and export the updated
    average); evaluation and the health monitor come before the checkpoints, whose state they are part of."""
    from ..setup.monitor_options import best_metric, rolls_back

    hooks: list[Hook] = [GeneratorEMA(config.ema)] if config.ema is not None else []
    hooks += [MetricsFile(), ProgressBar(progress), SampleGrids(config.sample_every)]
    if config.tensorboard:
        from .tensorboard_log import TensorBoardLog

        hooks.append(TensorBoardLog(config.sample_every))
    if config.eval_every is not None:
        from .evaluation import EvaluationHook

        hooks.append(EvaluationHook(config.eval_every, config.eval_n, config.eval_metrics, best_metric(config)))
    reach_back = 0
    if config.health:
        from .health import DIVERSITY_EVERY, HealthMonitor, rollback_horizon

        # With evaluation on, class coverage is the collapse signal; without, sample diversity.
        diversity_every = None if config.eval_every is not None else DIVERSITY_EVERY
        hooks.append(HealthMonitor(diversity_every=diversity_every))
        reach_back = rollback_horizon(config, diversity_every) if rolls_back(config) else 0
    return hooks + [Checkpoints(config.checkpoint_every, at_start=rolls_back(config), reach_back=reach_back),
                    LossPlot()]
