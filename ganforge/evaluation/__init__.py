"""Offline sample-quality metrics: a cached digit classifier's feature space (FID-digits, KID,
precision/recall, class coverage, label accuracy, memorization), and Inception metrics through
the optional torch-fidelity extra.

The engine's hook: build ``Evaluator`` once, then call ``evaluator.evaluate_generator(G, n, ...)``.
This package never imports ``ganforge.training`` or ``ganforge.cli``.
"""

from .evaluator import ALL_METRICS, Evaluator, GeneratedSet, parse_metrics
from .features import Features, to_digit_input

__all__ = ["ALL_METRICS", "Evaluator", "Features", "GeneratedSet", "parse_metrics", "to_digit_input"]
