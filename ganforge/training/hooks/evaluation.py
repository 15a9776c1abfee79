"""``EvaluationHook``: measures the run's generator every N steps and at the end with one
``Evaluator`` (``ganforge eval``'s metrics, classifier cached), publishes the flattened metrics
as records of their own (``{"step", "eval_fid_digits", "eval_class_coverage", ...}``) and keeps
the best checkpoint (``checkpoints/best.pt``, ``generator-best.safetensors``) by one metric.

Evaluation draws its latents from its own seeded generator and runs inside ``untouched_rng``,
so a run with evaluation trains exactly as one without it, and resumes exactly.
"""

from __future__ import annotations

import math
import sys
from typing import Optional

from ...generator_file import export_generator
from ..loop.checkpoint import untouched_rng, write_checkpoint
from ..loop.driver import PeriodicHook, RunDriver
from ..setup.monitor_options import digit_classes, is_better, parse_eval_metrics
from ..loop.rundir import BEST_CHECKPOINT, BEST_GENERATOR_FILE, CHECKPOINTS_DIR

PREFIX = "eval_"


def flatten_metrics(metrics: dict, prefix: str = PREFIX) -> dict:
    """``{"fid_digits": 41.2, "memorization": {"ratio": 0.9}}`` -> ``{"eval_fid_digits": 41.2,
    "eval_memorization_ratio": 0.9}``; None values are left out, numbers become floats."""
    out: dict = {}
    for key, value in metrics.items():
        if isinstance(value, dict):
            out.update(flatten_metrics(value, f"{prefix}{key}_"))
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            number = float(value)
            out[prefix + key] = round(number, 6) if math.isfinite(number) else number
    return out


class EvaluationHook(PeriodicHook):
    name = "evaluation"

    def __init__(self, every: int, n: int, metrics: str, best_metric: Optional[str], cache_root=None):
        super().__init__(every)
        self.n = n
        self.metrics = parse_eval_metrics(metrics)
        self.best_metric = best_metric
        self.cache_root = cache_root
        self.best: Optional[dict] = None  # {"metric", "step", "value"}
        self.evaluator = None
        self.last: dict = {}

    def on_start(self, driver: RunDriver) -> None:
        from ...evaluation import Evaluator
        from ...evaluation.classifier import classifier_path
        from ...evaluation.cache import verified_digest

        if verified_digest(classifier_path(self.cache_root)) is None:
            print("training the digit classifier for --eval-every (once; it is cached)...", file=sys.stderr,
                  flush=True)
        with untouched_rng(driver.run.device):
            self.evaluator = Evaluator(self.metrics, driver.run.device, cache_root=self.cache_root)

    def act(self, driver: RunDriver) -> dict:
        run = driver.run
        spec = run.spec
        classes = digit_classes(spec.num_classes, run.data.class_names if spec.num_classes else None)
        with untouched_rng(run.device):
            metrics = self.evaluator.evaluate_generator(
                driver.output_generator, self.n, spec.latent_dim, run.config.latent_prior,
                num_classes=spec.num_classes if classes else None, seed=run.config.seed)
        if spec.num_classes and not classes:
            metrics.pop("label_accuracy", None)
        record = {"step": driver.step, **flatten_metrics(metrics)}
        if self.best_metric is not None:
            record["eval_best"] = self._keep_best(driver, record.get(PREFIX + self.best_metric))
        self.last = record
        driver.publish(record)
        return record

    def _keep_best(self, driver: RunDriver, value: Optional[float]) -> bool:
        """Write best.pt and generator-best.safetensors when ``value`` is the best so far."""
        if value is None or not math.isfinite(value):
            return False
        previous = None if self.best is None else self.best["value"]
        if not is_better(self.best_metric, value, previous):
            return False
        driver.check_finite()  # a diverged generator is never the best one
        self.best = {"metric": self.best_metric, "step": driver.step, "value": value}
        write_checkpoint(driver.run_dir / CHECKPOINTS_DIR / BEST_CHECKPOINT, driver.state_dict())
        export_generator(driver.output_generator, driver.run.generator_info(), driver.run_dir / BEST_GENERATOR_FILE)
        return True

    # -- checkpointed state -----------------------------------------------------------------
    def state_dict(self) -> Optional[dict]:
        return {"best": None if self.best is None else dict(self.best)}

    def load_state_dict(self, state: dict) -> None:
        best = state.get("best")
        # A run resumed with another --best-metric starts that record afresh.
        self.best = dict(best) if best and best.get("metric") == self.best_metric else None
