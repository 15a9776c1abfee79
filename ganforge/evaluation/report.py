"""A full report for an exported generator: its metrics next to the floor (real vs real) and the
ceiling (an untrained generator of the same spec), with the protocol stamp, for the digit metrics
and for Inception's; where it is written; and its text table."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Optional

import torch

from ..errors import GanforgeError
from ..result_files import BEST_EVAL_FILE, EVAL_FILE
from .evaluator import Evaluator

DIGIT_DATASETS = ("mnist-5k", "mnist")
INCEPTION_HINT = "pip install 'ganforge[metrics]' and use --metrics inception"


def report_path(source: Path, best: bool = False) -> Path:
    """Where ``ganforge eval`` writes the report of ``source``: ``eval.json`` (``eval-best.json``
    with ``best``) in a run directory, ``NAME.eval.json`` next to a ``NAME.safetensors`` file."""
    if source.is_dir():
        return source / (BEST_EVAL_FILE if best else EVAL_FILE)
    return source.with_name(source.stem + "." + EVAL_FILE)


def run_dataset(run_dir: Optional[Path]) -> Optional[dict]:
    """The dataset settings recorded in a run directory's config.json (None without one)."""
    if run_dir is None or not (run_dir / "config.json").is_file():
        return None
    try:
        config = json.loads((run_dir / "config.json").read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(config, dict) or not isinstance(config.get("dataset"), str):
        return None
    return config


def check_digit_generator(info, dataset: Optional[str]) -> None:
    """Raise unless the digit metrics mean something for this generator: 1-channel output (any
    size is resized to 28x28) trained on a digit dataset, when the dataset is known."""
    c, h, w = info.spec.image_shape
    if c != 1:
        raise GanforgeError(
            f"the digit metrics apply only to 1-channel digit generators; this '{info.arch}' generator makes "
            f"{c}x{h}x{w} images. For RGB datasets: {INCEPTION_HINT}")
    if dataset is not None and dataset not in DIGIT_DATASETS:
        raise GanforgeError(
            f"the digit metrics measure handwritten digits; this run trained on '{dataset}' "
            f"(digit datasets: {', '.join(DIGIT_DATASETS)})")


def digit_classes(info) -> Optional[int]:
    """10 for a conditional generator whose classes are the digits 0-9, else None."""
    classes = info.spec.num_classes
    if not classes:
        return None
    names = info.class_names
    if classes == 10 and (names is None or list(names) == [str(i) for i in range(10)]):
        return 10
    return None


def untrained_generator(info, seed: int, device: torch.device) -> torch.nn.Module:
    """The ceiling's generator: the same architecture and spec, freshly initialised from ``seed``."""
    from .. import registry
    from ..plugin_calls import build_generator

    loaded = registry.load("architecture", info.arch)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        generator = build_generator(loaded.obj, info.spec, loaded.found.where, info.network)  # failures name it
    return generator.to(device).eval()


def digit_report(evaluator: Evaluator, generator, info, n: int, seed: int) -> dict:
    """The generator's metrics plus ``floor``, ``ceiling`` and ``protocol``."""
    classes = digit_classes(info)
    if "label_accuracy" in evaluator.metrics and classes is None and info.spec.num_classes:
        raise GanforgeError(f"label_accuracy: the generator's {info.spec.num_classes} classes are not the digits 0-9")
    kw = dict(latent_dim=info.spec.latent_dim, latent_prior=info.latent_prior, seed=seed,
              num_classes=info.spec.num_classes)
    report = evaluator.evaluate_generator(generator, n, **kw)
    report["floor"] = evaluator.floor(n, seed)
    if classes is None:
        # The floor's real digits have labels; an unconditional generator has none to compare.
        report["floor"] = {k: v for k, v in report["floor"].items() if k != "label_accuracy"}
    report["ceiling"] = evaluator.evaluate_generator(untrained_generator(info, seed, evaluator.device), n, **kw)
    report["protocol"] = {**evaluator.protocol(n, seed), "generator": info.arch}
    return report


def inception_report(generator, info, run_dir: Optional[Path], n: int, seed: int, device: torch.device) -> dict:
    """Inception FID/KID/IS of an RGB generator against a seeded subset of its run's dataset, with
    the floor (the next subset of the same size) and the ceiling (an untrained generator)."""
    from ..data import load_dataset
    from ..data.dataset import to_uint8
    from ..files import sha256_file
    from ..generator_file import sample_latent
    from .inception import inception_metrics, inception_weights_path

    if info.spec.image_shape[0] != 3:
        raise GanforgeError("--metrics inception applies to RGB generators; this one makes 1-channel images "
                            "(use the digit metrics)")
    inception_weights_path()  # fail before any work when the weights are missing
    config = run_dataset(run_dir)
    if config is None:
        raise GanforgeError("--metrics inception needs a run directory (its config.json names the real dataset)")
    data = load_dataset(config["dataset"], config.get("data_root") or "data", config.get("image_size"),
                        config.get("channels"))
    order = torch.randperm(len(data), generator=torch.Generator().manual_seed(seed))
    half = min(n, len(data) // 2)
    real, real_other = data.images[order[:half]], data.images[order[half:2 * half]]

    def samples(g):
        rng, parts = torch.Generator().manual_seed(seed), []
        with torch.no_grad():
            for start in range(0, n, 500):
                m = min(500, n - start)
                z = sample_latent(m, info.spec.latent_dim, info.latent_prior, rng, device)
                labels = (torch.arange(start, start + m) % info.spec.num_classes).to(device) if info.spec.num_classes else None
                parts.append(to_uint8(g(z, labels).cpu()))
        return torch.cat(parts)

    report = inception_metrics(samples(generator), real, device, seed)
    report["floor"] = inception_metrics(real_other, real, device, seed)
    report["ceiling"] = inception_metrics(samples(untrained_generator(info, seed, device)), real, device, seed)
    report["protocol"] = {"n_real": half, "n_fake": n, "n_floor": half, "reference": f"{config['dataset']} subset",
                          "split": f"seeded permutation (seed {seed}): reference = first {half}, floor = next {half}",
                          "feature_extractor": "torch-fidelity inception-v3-compat",
                          "weights_sha256": sha256_file(inception_weights_path()), "seed": seed, "generator": info.arch}
    return report


_ROWS = [
    ("fid_digits", "FID-digits", "lower is better"),
    ("kid_digits", "KID-digits", "lower is better"),
    ("precision", "precision", "higher is better"),
    ("recall", "recall", "higher is better"),
    ("class_coverage", "class coverage", f"ln 10 = {math.log(10):.3f} is uniform"),
    ("label_accuracy", "label accuracy", "higher is better"),
    ("psnr", "PSNR (dB)", "higher is better"),
    ("ssim", "SSIM", "higher is better"),
    ("l1", "L1 to target", "lower is better"),
    ("fid_inception", "FID (Inception)", "lower is better"),
    ("kid_inception", "KID (Inception)", "lower is better"),
    ("inception_score", "Inception score", "higher is better"),
]
_SPREAD = {"kid_digits": "kid_digits_std", "kid_inception": "kid_inception_std",
           "inception_score": "inception_score_std"}
_MEMO_ROWS = [
    ("fid_train_half", "FID vs train half", "memorization check"),
    ("fid_held_out_half", "FID vs held-out half", ""),
    ("difference", "held-out minus train", "> 0: closer to the train half"),
]


def format_number(value) -> str:
    """A table cell: 4 decimals below 10, 2 above; lists (seeds, metrics) comma-separated."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) < 10 else f"{value:.2f}"
    if isinstance(value, list):
        return ", ".join(map(format_number, value))
    return str(value)


def _cell(row: dict, value, interval_key: str, spread=None) -> str:
    """``mean ± std [low, high]`` when the row has an interval for this number (several seeds),
    else the value (± its within-seed spread, as KID's)."""
    interval = (row.get("intervals") or {}).get(interval_key)
    if interval is not None and interval["std"] is not None:
        return f"{format_number(interval['mean'])} ± {format_number(interval['std'])} [{format_number(interval['low'])}, {format_number(interval['high'])}]"
    return format_number(value) if spread is None else f"{format_number(value)} ± {format_number(spread)}"


TABLE_HEADER = ("metric", "generator", "floor (real)", "ceiling (untrained)", "")
IDENTITY_HEADER = "identity (input)"  # an image-to-image report's baseline: each condition image as its output


def table_header(report: dict) -> tuple[str, ...]:
    """The columns of ``report``'s table (``metric_rows``): an image-to-image report adds the identity's."""
    return TABLE_HEADER[:4] + ((IDENTITY_HEADER,) if report.get("identity") else ()) + TABLE_HEADER[4:]


def metric_rows(report: dict) -> list[tuple[str, ...]]:
    """One row per metric of ``report``: its label, the generator's, floor's and ceiling's (and the
    identity's) cells (``mean ± std [95% interval]`` over several seeds) and a note on what is better."""
    cols = [report, report.get("floor", {}), report.get("ceiling", {})] + ([report["identity"]] if report.get("identity")
                                                                          else [])
    rows = []
    for key, label, note in _ROWS:
        if key in report:
            rows.append((label, *[_cell(c, c.get(key), key, c.get(_SPREAD[key]) if key in _SPREAD else None)
                                  for c in cols], note))
    if "memorization" in report:
        for key, label, note in _MEMO_ROWS:
            rows.append((label, *[_cell(c, (c.get("memorization") or {}).get(key), f"memorization_{key}")
                                  for c in cols], note))
    return rows


def seeds_note(report: dict) -> Optional[str]:
    """What each number of a report over several seeds is (None for one seed)."""
    if "seeds" not in report:
        return None
    return (f"each number: mean ± std [95% interval] over seeds {', '.join(map(str, report['seeds']))}; "
            f"interval: {report.get('protocol', {}).get('interval_method', '')}")


def format_table(report: dict) -> str:
    """Plain aligned text: one row per metric; generator, floor and ceiling columns; protocol below.
    A report over several seeds shows each number as ``mean ± std [95% interval]``."""
    rows = [table_header(report), *metric_rows(report)]
    last = len(rows[0]) - 1
    widths = [max(len(r[i]) for r in rows) for i in range(last + 1)]
    lines = ["  ".join(cell.ljust(w) if i == 0 or i == last else cell.rjust(w)
                       for i, (cell, w) in enumerate(zip(row, widths))).rstrip() for row in rows]
    p = report.get("protocol", {})
    note = seeds_note(report)
    if note:
        lines += ["", note]
    if p:
        width = max(len(k) for k in p)
        lines += ["", "protocol"] + [f"  {k.ljust(width)}  {format_number(v)}" for k, v in p.items()]
    return "\n".join(lines)
