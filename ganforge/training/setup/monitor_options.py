"""The options of evaluation during training, the best checkpoint, the health monitor and
TensorBoard: which metrics exist, which direction is better, and the checks that refuse a
combination before anything is written. Imports no torch.
"""

from __future__ import annotations

import importlib.util
from typing import Any, Optional

from ...errors import GanforgeError

#: The digit metrics (``ganforge.evaluation.ALL_METRICS``; a test keeps the two equal).
EVAL_METRICS = ("fid", "kid", "pr", "coverage", "label_accuracy", "memorization")
DEFAULT_EVAL_METRICS = ",".join(EVAL_METRICS)
#: One evaluation of 1,000 samples takes about 3 s on 2 CPU cores (README, "Metrics during training").
DEFAULT_EVAL_N = 1000
MIN_EVAL_N = 20  # precision/recall need more samples than their k neighbours

#: Metric usable by --best-metric -> (the --eval-metrics entry that computes it, "min" or "max" is better).
BEST_METRICS: dict[str, tuple[str, str]] = {
    "fid_digits": ("fid", "min"),
    "kid_digits": ("kid", "min"),
    "precision": ("pr", "max"),
    "recall": ("pr", "max"),
    "class_coverage": ("coverage", "max"),
    "label_accuracy": ("label_accuracy", "max"),
}
DEFAULT_BEST_METRIC = "fid_digits"
NO_BEST = "none"

#: The evaluator's classifier knows handwritten digits, 28x28, one channel.
DIGIT_DATASETS = ("mnist-5k", "mnist")
DIGIT_IMAGE_SHAPE = (1, 28, 28)

TENSORBOARD_HINT = "pip install 'ganforge[tensorboard]'"

#: --on-problem: the health monitor warns, or rolls back and applies a remedy (``training/loop/rollback.py``).
WARN, ROLLBACK = "warn", "rollback"
ON_PROBLEM_CHOICES = (WARN, ROLLBACK)
#: --remedy: what a rollback changes before training goes on; auto picks one per problem.
LOWER_D_LR, LOWER_LR, AUTO = "lower-d-lr", "lower-lr", "auto"
REMEDY_CHOICES = (AUTO, LOWER_D_LR, LOWER_LR)
#: A learning-rate remedy multiplies the configured rate by this once per rollback it was used in.
REMEDY_LR_FACTOR = 0.5


def parse_eval_metrics(text: str) -> tuple[str, ...]:
    names = tuple(dict.fromkeys(m.strip().lower() for m in str(text).split(",") if m.strip()))
    unknown = [m for m in names if m not in EVAL_METRICS]
    if unknown or not names:
        raise GanforgeError(f"--eval-metrics: unknown metric '{unknown[0] if unknown else text}' "
                            f"(choose from {','.join(EVAL_METRICS)})")
    return names


def best_metric(config: Any) -> Optional[str]:
    """The metric the best checkpoint follows, or None (no evaluation, or --best-metric none)."""
    if config.eval_every is None:
        return None
    chosen = config.best_metric or DEFAULT_BEST_METRIC
    return None if chosen == NO_BEST else chosen


def rolls_back(config: Any) -> bool:
    """The health monitor restores a checkpoint on a problem (``--on-problem rollback``)."""
    return bool(config.health) and config.on_problem == ROLLBACK and config.max_rollbacks > 0


def is_better(metric: str, value: float, best: Optional[float]) -> bool:
    if best is None:
        return True
    return value < best if BEST_METRICS[metric][1] == "min" else value > best


def validate_monitoring(config: Any) -> None:
    """Checks that need only the config (called by ``config.validate``)."""
    if config.eval_every is None:
        for name, flag in (("best_metric", "--best-metric"),):
            if getattr(config, name) is not None:
                raise GanforgeError(f"{flag} needs --eval-every N (the best checkpoint follows the evaluations)")
    else:
        if config.dataset not in DIGIT_DATASETS or config.channels not in (None, 1) \
                or config.image_size not in (None, 28):
            raise GanforgeError(
                f"--eval-every measures 28x28 one-channel digit generators (--dataset {' or '.join(DIGIT_DATASETS)}, "
                f"without --image-size/--channels changes); this run trains on '{config.dataset}'"
                + (f" at {config.image_size}x{config.image_size}" if config.image_size not in (None, 28) else "")
                + (f" with {config.channels} channels" if config.channels not in (None, 1) else ""))
        if config.eval_n < MIN_EVAL_N:
            raise GanforgeError(f"--eval-n must be at least {MIN_EVAL_N}, got {config.eval_n}")
        metrics = parse_eval_metrics(config.eval_metrics)
        chosen = config.best_metric
        if chosen is not None and chosen != NO_BEST:
            if chosen not in BEST_METRICS:
                raise GanforgeError(f"--best-metric must be one of {', '.join([*BEST_METRICS, NO_BEST])}, "
                                    f"got '{chosen}'")
            if BEST_METRICS[chosen][0] not in metrics:
                raise GanforgeError(f"--best-metric {chosen} needs '{BEST_METRICS[chosen][0]}' in --eval-metrics")
        elif chosen is None and BEST_METRICS[DEFAULT_BEST_METRIC][0] not in metrics:
            raise GanforgeError(f"the best checkpoint follows {DEFAULT_BEST_METRIC} by default, which needs 'fid' "
                                f"in --eval-metrics; choose another --best-metric, or --best-metric {NO_BEST}")
    if config.on_problem == ROLLBACK and not config.health:
        raise GanforgeError("--on-problem rollback acts on the health monitor's findings; it needs --health")
    if config.max_rollbacks < 0:
        raise GanforgeError(f"--max-rollbacks must be 0 or more, got {config.max_rollbacks}")
    if config.tensorboard and importlib.util.find_spec("tensorboard") is None:
        raise GanforgeError(f"--tensorboard needs the tensorboard package: {TENSORBOARD_HINT}")


def validate_monitoring_spec(config: Any, num_classes: Optional[int], class_names: Optional[list]) -> None:
    """Checks that need the built networks' spec (called by ``assemble.build_run``)."""
    if config.eval_every is None:
        return
    wants_labels = "label_accuracy" in parse_eval_metrics(config.eval_metrics) and config.eval_metrics != \
        DEFAULT_EVAL_METRICS
    if config.best_metric == "label_accuracy" or wants_labels:
        if not num_classes:
            raise GanforgeError(f"label_accuracy: the '{config.arch}' generator is unconditional and takes no label")
        if digit_classes(num_classes, class_names) is None:
            raise GanforgeError(f"label_accuracy: the generator's {num_classes} classes are not the digits 0-9")


def digit_classes(num_classes: Optional[int], class_names: Optional[list]) -> Optional[int]:
    """10 when a conditional generator's classes are the digits 0-9, else None."""
    if num_classes == 10 and (class_names is None or list(class_names) == [str(i) for i in range(10)]):
        return 10
    return None
