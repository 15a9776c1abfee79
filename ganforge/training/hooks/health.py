"""``HealthMonitor``: a hook that applies the health rules (``health_checks.py``) while a run
trains and publishes what it finds as ``{"step", "health", "message"}`` records (metrics.jsonl,
one warning line in the progress output, TensorBoard).

A problem is said when it appears, again only when it persists for ``REPEAT_AFTER_CHECKS``
more checks or gets markedly worse, and once more (``"cleared": true``) when it goes away.
With ``--on-problem rollback`` a problem found (each rule already asks for persistence: D's
loss near zero through a whole window, diversity or coverage gone at a check, a NaN) makes the
monitor ask the driver to restore the newest checkpoint from before it began and then applies a
remedy (``rollback.py``), at most ``--max-rollbacks`` times; each action is published as
``{"step": restored step, "health", "action": "rollback", "rollback": n, "detected_step",
"remedy", ...}``. Its window, peaks, active problems and rollbacks are checkpointed with the run.
"""

from __future__ import annotations

from typing import Optional

import torch

from ...data.dataset import to_model_range
from ...generator_file import sample_latent
from ...interfaces import NOISE
from ..loop import health_checks as rules
from ..loop.checkpoint import untouched_rng
from ..loop.driver import Hook, RunDriver
from ..setup.monitor_options import rolls_back
from ..loop.rollback import RollbackRequest, apply_remedy, describe, remedy_for

#: Steps between sample-diversity checks (when evaluation, which watches class coverage, is off).
DIVERSITY_EVERY = 100
#: A generator's samples start out alike (eval-mode batch norm of a fresh network: a tiny dcgan had
#: 0.2% of real images' diversity at step 5, 10% at step 50), so "no diversity at all" is judged
#: only from this step on; a sharp drop from the peak is judged at any time.
DIVERSITY_FLOOR_AFTER = 500
DIVERSITY_SAMPLES = 64
REPEAT_AFTER_CHECKS = 20
#: A collapse is said again when its value falls below this fraction of the value last said.
WORSE_FRACTION = 0.5


def rollback_horizon(config, diversity_every: Optional[int]) -> int:
    """How far before the step a problem is found at it may have begun (the longest window of a
    rule), which the periodic checkpoints kept must reach back past."""
    windows = [rules.D_WINS_WINDOW * config.log_every, config.log_every + 1, diversity_every or 0,
               config.eval_every or 0]
    return max(windows)


def mean_pairwise_distance(images: torch.Tensor) -> float:
    flat = images.detach().float().flatten(1)
    n = flat.shape[0]
    return float(torch.cdist(flat, flat).sum() / (n * (n - 1)))


class HealthMonitor(Hook):
    name = "health"

    def __init__(self, diversity_every: Optional[int] = DIVERSITY_EVERY, samples: int = DIVERSITY_SAMPLES,
                 floor_after: int = DIVERSITY_FLOOR_AFTER):
        self.diversity_every = diversity_every  # None: off
        self.floor_after = floor_after
        self.samples = samples
        self.window: list[tuple[float, float]] = []
        self.active: dict[str, dict] = {}
        self.peaks: dict[str, tuple[float, int]] = {}  # "coverage" / "diversity" -> (value, step)
        self.d_loss_at_chance: Optional[float] = None
        self.z = self.labels = None
        self.real_distance = 0.0
        self.rollbacks: list[dict] = []  # the action records of the rollbacks done, oldest first

    # -- hook calls -------------------------------------------------------------------------
    def on_start(self, driver: RunDriver) -> None:
        run = driver.run
        self.d_loss_at_chance = getattr(run.loss, "discriminator_loss_at_chance", None)
        if run.step.generator_input != NOISE:
            self.diversity_every = None  # sample diversity from noise: not for an image-to-image generator
        if self.diversity_every:
            rng = torch.Generator().manual_seed(run.config.seed + 2)  # its own stream, not training's
            spec = run.spec
            self.z = sample_latent(self.samples, spec.latent_dim, run.config.latent_prior, rng, run.device)
            if spec.num_classes:
                self.labels = (torch.arange(self.samples) % spec.num_classes).to(run.device)
            pick = torch.randperm(len(run.data), generator=rng)[:self.samples]
            self.real_distance = mean_pairwise_distance(to_model_range(run.data.images[pick]))

    def on_log(self, driver: RunDriver, record: dict) -> None:
        problem = rules.non_finite_message(record)
        if problem:
            began = driver.step - driver.run.config.log_every - 1
            if self._roll_back(driver, rules.NON_FINITE, rules.non_finite_values(record), began):
                return  # (the checkpoint of the last finite log may hold the update that diverged)
            # the driver stops the run with this message right after the hooks
            driver.publish({"step": driver.step, "health": rules.NON_FINITE, "message": problem, "stopped": True})
            return
        if "d_loss" in record and "g_loss" in record:
            self.window = [*self.window, (float(record["d_loss"]), float(record["g_loss"]))][-rules.D_WINS_WINDOW:]
            began = driver.step - rules.D_WINS_WINDOW * driver.run.config.log_every
            self._judge(driver, rules.DISCRIMINATOR_WINS, rules.discriminator_wins(self.window, self.d_loss_at_chance),
                        began=began)

    def on_step(self, driver: RunDriver) -> None:
        if self.diversity_every and driver.step % self.diversity_every == 0 and self.real_distance > 0:
            ratio = self.diversity(driver.output_generator) / self.real_distance
            floor = rules.DIVERSITY_FLOOR if driver.step >= self.floor_after else 0.0
            self._watch_collapse(driver, "diversity", ratio,
                                 lambda value, peak, step: rules.diversity_collapse(value, peak, step, floor),
                                 began=driver.step - self.diversity_every)

    def on_record(self, driver: RunDriver, record: dict) -> None:
        coverage = record.get("eval_class_coverage")
        if isinstance(coverage, (int, float)) and driver.pending_rollback is None:
            began = driver.step - (driver.run.config.eval_every or driver.step)
            self._watch_collapse(driver, "coverage", float(coverage), rules.coverage_collapse, began=began)

    # -- checks -----------------------------------------------------------------------------
    @torch.no_grad()
    def diversity(self, generator: torch.nn.Module) -> float:
        was_training = generator.training
        generator.eval()
        try:
            with untouched_rng(self.z.device):
                images = generator(self.z, self.labels)
        finally:
            generator.train(was_training)
        return mean_pairwise_distance(images)

    def _watch_collapse(self, driver: RunDriver, signal: str, value: float, rule, began: int) -> None:
        peak, peak_step = self.peaks.get(signal, (None, None))
        self._judge(driver, rules.MODE_COLLAPSE, rule(value, peak, peak_step), value, began)
        if peak is None or value > peak:
            self.peaks[signal] = (value, driver.step)

    def _judge(self, driver: RunDriver, kind: str, message: Optional[str], value: Optional[float] = None,
               began: int = 0) -> None:
        state = self.active.get(kind)
        step = driver.step
        if message is None:
            if state is not None:
                del self.active[kind]
                driver.publish({"step": step, "health": kind, "cleared": True,
                                "message": f"{kind.replace('_', ' ')} no longer detected (since step {state['since']})"})
            return
        if state is None:
            self.active[kind] = {"since": step, "checks": 0, "value": value}
            if not self._roll_back(driver, kind, message, began):  # (a rollback says it in its own record)
                driver.publish({"step": step, "health": kind, "message": message})
            return
        state["checks"] += 1
        worse = value is not None and state["value"] is not None and value < WORSE_FRACTION * state["value"]
        if state["checks"] >= REPEAT_AFTER_CHECKS or worse:
            state.update(checks=0, value=value)
            driver.publish({"step": step, "health": kind, "message": f"{message} (since step {state['since']})"})

    # -- acting ------------------------------------------------------------------------------
    def _roll_back(self, driver: RunDriver, kind: str, message: str, began: int) -> bool:
        """Ask the driver for a rollback when the run allows one more; True when asked."""
        config = driver.run.config
        if not rolls_back(config) or len(self.rollbacks) >= config.max_rollbacks \
                or driver.pending_rollback is not None:
            return False
        # A later problem never undoes an earlier rollback's remedy: its state is the oldest target.
        began = max(began, self.rollbacks[-1]["step"] if self.rollbacks else 0)
        done, detected = list(self.rollbacks), driver.step

        def after_restore(restored: RunDriver) -> dict:
            remedy = remedy_for(kind, config.remedy)
            changes = apply_remedy(restored.run, remedy)
            record = {"step": restored.step, "health": kind, "action": "rollback", "rollback": len(done) + 1,
                      "detected_step": detected, "remedy": remedy, **changes, "problem": message,
                      "message": f"rolled back to step {restored.step} (rollback {len(done) + 1} of at most "
                                 f"{config.max_rollbacks}; found at step {detected}: {message}); "
                                 f"{describe(changes)}"}
            self.rollbacks = [*done, record]  # the restored state predates this rollback
            self.window, self.active = [], {}
            return record

        driver.request_rollback(RollbackRequest(kind, message, began, after_restore))
        return True

    # -- checkpointed state -----------------------------------------------------------------
    def state_dict(self) -> dict:
        return {"window": [list(p) for p in self.window], "active": {k: dict(v) for k, v in self.active.items()},
                "peaks": {k: list(v) for k, v in self.peaks.items()}, "rollbacks": [dict(r) for r in self.rollbacks]}

    def load_state_dict(self, state: dict) -> None:
        self.window = [(float(d), float(g)) for d, g in state.get("window", [])]
        self.active = {k: dict(v) for k, v in state.get("active", {}).items()}
        self.peaks = {k: (float(v[0]), int(v[1])) for k, v in state.get("peaks", {}).items()}
        self.rollbacks = [dict(r) for r in state.get("rollbacks", [])]
