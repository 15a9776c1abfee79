"""``ganforge eval``: sample quality of an exported generator, offline, next to its floor and ceiling."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from ..errors import GanforgeError

EVAL_FILE = "eval.json"
BEST_EVAL_FILE = "eval-best.json"
DEFAULT_METRICS = "fid,kid,pr,coverage,label_accuracy,memorization"


def eval_command(
    source: Path = typer.Argument(..., help="A run directory or a generator .safetensors file."),
    metrics: str = typer.Option(
        DEFAULT_METRICS, "--metrics",
        help="Comma-separated: fid,kid,pr,coverage,label_accuracy,memorization (digit generators), "
             "or inception (RGB generators; needs the 'metrics' extra and its weights file)."),
    n: int = typer.Option(5000, "--n", help="Number of generated samples."),
    seed: int = typer.Option(0, help="Seed for the latents and the KID subsets."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON instead of a table."),
    device: str = typer.Option("cpu", help="auto, cpu, cuda, cuda:N or mps."),
    best: bool = typer.Option(False, "--best", help="Measure the run's best generator (generator-best.safetensors, "
                              "kept by --eval-every); writes eval-best.json."),
) -> None:
    """Measure a generator: FID-digits, KID, precision/recall, class coverage, label accuracy and a
    memorization check, with real-vs-real (floor) and untrained-generator (ceiling) rows. Writes
    eval.json into the run directory (or NAME.eval.json next to a .safetensors file).
    Example: ganforge eval runs/cgan-20261123-140512"""
    if n < 10:
        raise GanforgeError(f"--n must be at least 10, got {n}")
    names = [m.strip().lower() for m in metrics.split(",") if m.strip()]
    from ..devices import resolve_device
    from ..generator_file import load_generator

    from .sample import best_generator

    dev = resolve_device(device)
    generator, info = load_generator(best_generator(source) if best else source, dev)
    run_dir = source if source.is_dir() else None
    if "inception" in names:
        if len(names) > 1:
            raise GanforgeError("--metrics inception cannot be combined with the digit metrics")
        report = _inception_report(generator, info, run_dir, n, seed, dev)
    else:
        report = _digit_report(generator, info, run_dir, names, metrics != DEFAULT_METRICS, n, seed, dev)
    if run_dir is not None:
        out = run_dir / (BEST_EVAL_FILE if best else EVAL_FILE)
    else:
        out = source.with_name(source.stem + "." + EVAL_FILE)
    _write_json(out, report)
    if as_json:
        typer.echo(json.dumps(report, indent=2))
    else:
        from ..evaluation.report import format_table

        typer.echo(format_table(report))
    typer.echo(f"wrote {out}", err=True)


def _digit_report(generator, info, run_dir, names, explicit, n, seed, dev) -> dict:
    from ..evaluation.evaluator import Evaluator, parse_metrics
    from ..evaluation.report import check_digit_generator, digit_report, run_dataset

    chosen = parse_metrics(",".join(names))
    config = run_dataset(run_dir)
    check_digit_generator(info, config["dataset"] if config else None)
    if "label_accuracy" in chosen and not info.spec.num_classes and explicit:
        raise GanforgeError(f"--metrics label_accuracy: the '{info.arch}' generator is unconditional and takes no label")
    typer.echo("loading the digit classifier (trained once and cached on first use)...", err=True)
    evaluator = Evaluator(chosen, dev)
    return digit_report(evaluator, generator, info, n, seed)


def _inception_report(generator, info, run_dir, n, seed, dev) -> dict:
    import torch

    from ..data import load_dataset
    from ..data.dataset import to_uint8
    from ..evaluation.inception import inception_metrics, inception_weights_path
    from ..evaluation.report import run_dataset, untrained_generator

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
        from ..generator_file import sample_latent

        rng, parts = torch.Generator().manual_seed(seed), []
        with torch.no_grad():
            for start in range(0, n, 500):
                m = min(500, n - start)
                z = sample_latent(m, info.spec.latent_dim, info.latent_prior, rng, dev)
                labels = (torch.arange(start, start + m) % info.spec.num_classes).to(dev) if info.spec.num_classes else None
                parts.append(to_uint8(g(z, labels).cpu()))
        return torch.cat(parts)

    report = inception_metrics(samples(generator), real, dev, seed)
    report["floor"] = inception_metrics(real_other, real, dev, seed)
    report["ceiling"] = inception_metrics(samples(untrained_generator(info, seed, dev)), real, dev, seed)
    report["protocol"] = {"n_real": half, "n_fake": n, "n_floor": half, "reference": f"{config['dataset']} subset",
                          "split": f"seeded permutation (seed {seed}): reference = first {half}, floor = next {half}",
                          "feature_extractor": "torch-fidelity inception-v3-compat",
                          "weights_sha256": _sha256(inception_weights_path()), "seed": seed, "generator": info.arch}
    return report


def _sha256(path: Path) -> str:
    from ..files import sha256_file

    return sha256_file(path)


def _write_json(path: Path, report: dict) -> None:
    from ..files import atomic_write

    atomic_write(path, lambda tmp: tmp.write_text(json.dumps(report, indent=2) + "\n"))
