"""The evaluation API, ``ganforge.evaluate(...)`` / ``ganforge.compare(...)``: what ``ganforge eval``
and ``ganforge compare`` compute, without the printing.

    import ganforge
    report = ganforge.evaluate("runs/dcgan-20261123-140512", seeds=[0, 1, 2], n=2000)
    ganforge.compare("runs/dcgan-a", "runs/dcgan-b")["metrics"]["fid_digits"]["verdict"]

A mistake raises ``ganforge.errors.GanforgeError`` before anything is measured or written.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional, Sequence, Union

from .errors import GanforgeError

DEFAULT_METRICS = "fid,kid,pr,coverage,label_accuracy,memorization"


def evaluate(source: Union[str, Path], *, metrics: Optional[str] = None, n: int = 5000,
             seeds: Sequence[int] = (0,), device: str = "cpu", best: bool = False, write: bool = False,
             verbose: bool = False) -> dict:
    """The report of ``ganforge eval SOURCE``: ``source`` is a run directory or a generator
    .safetensors file; ``metrics`` a comma-separated list (default: every digit metric; or
    "inception"); one report over ``seeds`` (with two or more: means and ``intervals``).
    ``best``: the run's generator-best.safetensors. ``write``: also write the report where the
    CLI does (``ganforge.evaluation.report.report_path``)."""
    from .evaluation.repeats import check_seeds

    source = Path(source)
    seeds = check_seeds(seeds)
    if n < 10:
        raise GanforgeError(f"--n must be at least 10, got {n}")
    names = [m.strip().lower() for m in (metrics or DEFAULT_METRICS).split(",") if m.strip()]
    if "inception" in names and len(names) > 1:
        raise GanforgeError("--metrics inception cannot be combined with the digit metrics")
    from .devices import resolve_device
    from .evaluation import protocol
    from .evaluation.repeats import interval_method, over_seeds
    from .evaluation.report import report_path
    from .generator_file import load_generator
    from .interfaces import CONDITION
    from .training.loop.rundir import best_generator

    dev = resolve_device(device)
    generator, info = load_generator(best_generator(source) if best else source, dev)
    run_dir = source if source.is_dir() else None
    if info.generator_input == CONDITION:
        if metrics is not None:
            raise GanforgeError("--metrics: an image-to-image generator is measured by PSNR, SSIM, L1 and, on the "
                                "digits, FID-digits of its translations; leave --metrics out")
        measure, chosen = _translation_measure(generator, info, run_dir, n, dev)
    elif names == ["inception"]:
        from .evaluation.report import inception_report

        measure, chosen = (lambda s: inception_report(generator, info, run_dir, n, s, dev)), names
    else:
        measure, chosen = _digit_measure(generator, info, run_dir, names, metrics is not None, n, dev, verbose)
    card = protocol.card(seeds, dev, bool(info.spec.num_classes), chosen, interval_method(seeds))
    report = over_seeds(measure, seeds, card)
    if write:
        write_report(report_path(source, best), report)
    return report


def _translation_measure(generator, info, run_dir, n, dev):
    """The translation report of one seed, as a function of the seed; the FID-digits evaluator (digit
    targets only) is built once, on first use."""
    from functools import lru_cache

    from .evaluation.evaluator import Evaluator
    from .evaluation.report import run_dataset, untrained_generator
    from .evaluation.translation import translation_report

    config = run_dataset(run_dir)
    digit_evaluator = lru_cache(maxsize=1)(lambda: Evaluator(("fid",), dev))
    return (lambda seed: translation_report(generator, info, config, n, seed, dev,
                                            untrained_generator(info, seed, dev), digit_evaluator)), \
        ["psnr", "ssim", "l1"]


def _digit_measure(generator, info, run_dir, names, explicit, n, dev, verbose):
    """The digit report of one seed, as a function of the seed, over one ``Evaluator`` (the
    classifier and the real digits' features are loaded once for every seed)."""
    from .evaluation.evaluator import Evaluator, parse_metrics
    from .evaluation.report import check_digit_generator, digit_report, run_dataset

    chosen = parse_metrics(",".join(names))
    config = run_dataset(run_dir)
    check_digit_generator(info, config["dataset"] if config else None)
    if "label_accuracy" in chosen and not info.spec.num_classes and explicit:
        raise GanforgeError(f"--metrics label_accuracy: the '{info.arch}' generator is unconditional and takes no label")
    if verbose:
        print("loading the digit classifier (trained once and cached on first use)...", file=sys.stderr, flush=True)
    evaluator = Evaluator(chosen, dev)
    return (lambda seed: digit_report(evaluator, generator, info, n, seed)), list(chosen)


def write_report(path: Path, report: dict) -> None:
    import json

    from .files import atomic_write

    atomic_write(path, lambda tmp: tmp.write_text(json.dumps(report, indent=2) + "\n"))


def compare(a, b) -> dict:
    """``ganforge compare A B`` as a dict; A and B are run directories, eval report files,
    repeat summaries, or report dicts. See ``ganforge.evaluation.compare.compare``."""
    from .evaluation.compare import compare as _compare, load_result

    return _compare(load_result(a, "A"), load_result(b, "B"))
