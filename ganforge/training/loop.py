"""The training loop: alternating discriminator and generator updates.

The loop talks only to the plugin interfaces: it never knows which architecture or
loss it is running.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Callable, Optional

import torch

from ..data import InMemoryBatches
from ..generator_file import GeneratorInfo, export_generator, sample_latent
from ..images import save_grid
from ..interfaces import DiscriminatorBatch, GeneratorBatch, split_loss
from .assemble import Run
from ..errors import GanforgeError
from .checkpoint import DEFAULT_KEEP, find_checkpoint, rng_state, save_checkpoint, set_rng_state
from .metrics import MetricsLog, plot_losses, read_metrics, truncate_metrics
from .progress import Progress
from .rundir import GENERATOR_FILE, LOSS_PLOT, METRICS_FILE, SAMPLES_DIR, remove_interrupted_writes

GRID_SAMPLES = 64
GRID_CLASS_COLUMNS = 10
GRID_MAX_CLASS_ROWS = 16


class Trainer:
    def __init__(self, run: Run, run_dir: Path):
        self.run = run
        self.run_dir = run_dir
        c = run.config
        self.step = 0
        self.batches = InMemoryBatches(run.data, c.batch_size, run.device,
                                       torch.Generator().manual_seed(c.seed))
        self.fixed_z, self.fixed_labels, self.grid_columns = self._fixed_noise()
        self._sums: dict[str, torch.Tensor] = {}
        self._count = 0
        self.interrupted = False  # set when train() stopped early because stop() turned true

    # -- fixed noise -----------------------------------------------------------------
    def _fixed_noise(self):
        c, spec = self.run.config, self.run.spec
        rng = torch.Generator().manual_seed(c.seed + 1)
        if spec.num_classes:
            rows = min(spec.num_classes, GRID_MAX_CLASS_ROWS)
            labels = torch.arange(rows).repeat_interleave(GRID_CLASS_COLUMNS).to(self.run.device)
            z = sample_latent(len(labels), spec.latent_dim, c.latent_prior, rng, self.run.device)
            return z, labels, GRID_CLASS_COLUMNS
        z = sample_latent(GRID_SAMPLES, spec.latent_dim, c.latent_prior, rng, self.run.device)
        return z, None, 8

    # -- one update each -------------------------------------------------------------
    def _latent(self, n: int) -> torch.Tensor:
        c = self.run.config
        return sample_latent(n, c.latent_dim, c.latent_prior, device=self.run.device)

    def _random_labels(self, n: int) -> Optional[torch.Tensor]:
        classes = self.run.spec.num_classes
        return torch.randint(classes, (n,), device=self.run.device) if classes else None

    def discriminator_step(self, real: torch.Tensor, labels: Optional[torch.Tensor]) -> dict[str, torch.Tensor]:
        G, D, r = self.run.generator, self.run.discriminator, self.run
        labels = labels if r.spec.num_classes else None
        with torch.no_grad():
            fake = G(self._latent(real.shape[0]), labels)
        real_logits, fake_logits = D(real, labels), D(fake, labels)
        batch = DiscriminatorBatch(real, fake, real_logits, fake_logits, labels, lambda x: D(x, labels))
        loss, terms = split_loss(r.loss.discriminator_loss(batch), f"loss '{r.config.loss}'")
        r.d_optimizer.zero_grad(set_to_none=True)
        loss.backward()
        r.d_optimizer.step()
        out = {"d_loss": loss.detach(),
               "d_acc_real": (real_logits.detach() > 0).float().mean(),
               "d_acc_fake": (fake_logits.detach() < 0).float().mean()}
        out.update({f"d_{k}": v.detach() for k, v in terms.items()})
        return out

    def generator_step(self, n: int) -> dict[str, torch.Tensor]:
        G, D, r = self.run.generator, self.run.discriminator, self.run
        labels = self._random_labels(n)
        D.requires_grad_(False)  # G's step needs gradients through D, not of D's weights
        try:
            fake = G(self._latent(n), labels)
            fake_logits = D(fake, labels)
            batch = GeneratorBatch(fake, fake_logits, labels, lambda x: D(x, labels))
            loss, terms = split_loss(r.loss.generator_loss(batch), f"loss '{r.config.loss}'")
            r.g_optimizer.zero_grad(set_to_none=True)
            loss.backward()
            r.g_optimizer.step()
        finally:
            D.requires_grad_(True)
        out = {"g_loss": loss.detach()}
        out.update({f"g_{k}": v.detach() for k, v in terms.items()})
        return out

    def iteration(self) -> None:
        """d_steps discriminator updates, then g_steps generator updates."""
        c = self.run.config
        self.run.generator.train()
        self.run.discriminator.train()
        for _ in range(c.d_steps):
            real, labels = next(self.batches)
            self._accumulate(self.discriminator_step(real, labels), 1 / c.d_steps)
        for _ in range(c.g_steps):
            self._accumulate(self.generator_step(c.batch_size), 1 / c.g_steps)
        self._count += 1
        self.step += 1

    def _accumulate(self, values: dict[str, torch.Tensor], weight: float) -> None:
        for k, v in values.items():
            self._sums[k] = self._sums.get(k, 0) + v.float() * weight

    def _flush_metrics(self, seconds: float) -> dict:
        c = self.run.config
        record = {"step": self.step, "epoch": self.batches.epoch}
        record.update({k: round(float(v) / self._count, 6) for k, v in self._sums.items()})
        record["img_per_s"] = round(self._count * c.d_steps * c.batch_size / max(seconds, 1e-9), 2)
        self._sums, self._count = {}, 0
        return record

    # -- outputs ---------------------------------------------------------------------
    def save_samples(self) -> Path:
        G = self.run.generator
        G.eval()
        with torch.no_grad():
            images = G(self.fixed_z, self.fixed_labels)
        G.train()
        return save_grid(images, self.run_dir / SAMPLES_DIR / f"step-{self.step:06d}.png", self.grid_columns)

    def state_dict(self) -> dict:
        r = self.run
        return {
            "step": self.step,
            "generator": r.generator.state_dict(),
            "discriminator": r.discriminator.state_dict(),
            "g_optimizer": r.g_optimizer.state_dict(),
            "d_optimizer": r.d_optimizer.state_dict(),
            "rng": rng_state(r.device),
            "batches": self.batches.state_dict(),
            "config": dataclasses.asdict(r.config),
        }

    def load_state_dict(self, state: dict) -> None:
        r = self.run
        r.generator.load_state_dict(state["generator"])
        r.discriminator.load_state_dict(state["discriminator"])
        r.g_optimizer.load_state_dict(state["g_optimizer"])
        r.d_optimizer.load_state_dict(state["d_optimizer"])
        self.batches.load_state_dict(state["batches"])
        set_rng_state(state["rng"], r.device)
        self.step = int(state["step"])

    def resume(self) -> None:
        found = find_checkpoint(self.run_dir)
        try:
            self.load_state_dict(found.state)
        except (KeyError, TypeError, ValueError, RuntimeError) as exc:
            raise GanforgeError(f"{found.path} does not fit this run ({type(exc).__name__}: "
                                f"{str(exc).splitlines()[0][:200] if str(exc) else ''})") from None
        # Steps logged after the checkpoint are trained again: drop their old records.
        truncate_metrics(self.run_dir / METRICS_FILE, self.step)
        remove_interrupted_writes(self.run_dir)

    def checkpoint(self, periodic: bool) -> None:
        keep = getattr(self.run.config, "keep_checkpoints", DEFAULT_KEEP)
        save_checkpoint(self.run_dir, self.state_dict(), self.step, keep_periodic=periodic, keep=keep)
        info = GeneratorInfo(self.run.config.arch, self.run.spec, self.run.config.latent_prior,
                             self.run.data.class_names if self.run.spec.num_classes else None)
        export_generator(self.run.generator, info, self.run_dir / GENERATOR_FILE)

    # -- the loop ----------------------------------------------------------------------
    def train(self, progress: Optional[Progress] = None, stop: Optional[Callable[[], bool]] = None) -> dict:
        """Train to the last step; when ``stop()`` turns true, finish the current iteration,
        write a checkpoint and return early with ``self.interrupted`` set."""
        c, total = self.run.config, self.run.total_steps
        progress = progress or Progress(total, self.step, f"{c.arch}/{c.loss}")
        log = MetricsLog(self.run_dir / METRICS_FILE)
        last = None
        try:
            with progress:
                tick = time.perf_counter()
                while self.step < total:
                    self.iteration()
                    if self.step % c.log_every == 0 or self.step == total:
                        now = time.perf_counter()
                        last = self._flush_metrics(now - tick)
                        tick = now
                        log.write(last)
                        progress.update(self.step, last)
                    if self.step % c.sample_every == 0:
                        self.save_samples()
                    if self.step % c.checkpoint_every == 0 and self.step != total:
                        self.checkpoint(periodic=True)
                    if stop is not None and stop() and self.step < total:
                        self.interrupted = True
                        break
        finally:
            log.close()
        if self.interrupted:
            self.checkpoint(periodic=False)
            return last or {}
        if self.step % c.sample_every != 0 or last is None:
            self.save_samples()
        self.checkpoint(periodic=False)
        plot_losses(read_metrics(self.run_dir / METRICS_FILE), self.run_dir / LOSS_PLOT)
        return last or {}
