"""``ganforge train``: train an architecture on a dataset."""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import List, Optional

import typer

from ..errors import GanforgeError

# Options that may change when a run is resumed; the rest define the run.
RESUMABLE = {"steps", "epochs", "device", "log_every", "sample_every", "checkpoint_every", "keep_checkpoints"}


def train(
    arch: Optional[str] = typer.Argument(None, help="Architecture plugin, e.g. gan, dcgan, cgan (see `ganforge plugins`)."),
    loss: Optional[str] = typer.Option(None, help="Loss plugin (default: the architecture's, else nonsaturating)."),
    dataset: Optional[str] = typer.Option(None, help="mnist-5k (embedded, default), mnist, fashion-mnist, cifar10 or folder."),
    data_root: Optional[str] = typer.Option(None, help="Download directory, or the image directory for --dataset folder."),
    image_size: Optional[int] = typer.Option(None, help="Resize images to this square size (default: the dataset's; folder: 64)."),
    channels: Optional[int] = typer.Option(None, help="Image channels, 1 or 3 (default: the dataset's; folder: 3)."),
    batch_size: Optional[int] = typer.Option(None, help="Images per batch (default: 32)."),
    steps: Optional[int] = typer.Option(None, help="Training iterations (one round of D and G updates) (default: 5000)."),
    epochs: Optional[float] = typer.Option(None, help="Train for this many passes over the data instead of --steps."),
    latent_dim: Optional[int] = typer.Option(None, help="Size of z (default: 100)."),
    latent_prior: Optional[str] = typer.Option(None, help="normal or uniform (default: normal)."),
    d_steps: Optional[int] = typer.Option(None, help="Discriminator updates per iteration (default: 1, or the loss's)."),
    g_steps: Optional[int] = typer.Option(None, help="Generator updates per iteration (default: 1)."),
    g_optimizer: Optional[str] = typer.Option(None, help="adam, rmsprop or sgd (default: adam)."),
    g_lr: Optional[float] = typer.Option(None, help="Generator learning rate (default: 2e-4)."),
    g_betas: Optional[str] = typer.Option(None, help="Adam betas for G as 'b1,b2' (default: 0.5,0.999)."),
    g_momentum: Optional[float] = typer.Option(None, help="SGD/RMSprop momentum for G (default: 0)."),
    g_nesterov: Optional[bool] = typer.Option(None, "--g-nesterov/--no-g-nesterov", help="Nesterov momentum for G (sgd)."),
    d_optimizer: Optional[str] = typer.Option(None, help="adam, rmsprop or sgd (default: adam)."),
    d_lr: Optional[float] = typer.Option(None, help="Discriminator learning rate (default: 2e-4)."),
    d_betas: Optional[str] = typer.Option(None, help="Adam betas for D as 'b1,b2' (default: 0.5,0.999)."),
    d_momentum: Optional[float] = typer.Option(None, help="SGD/RMSprop momentum for D (default: 0)."),
    d_nesterov: Optional[bool] = typer.Option(None, "--d-nesterov/--no-d-nesterov", help="Nesterov momentum for D (sgd)."),
    arch_option: Optional[List[str]] = typer.Option(None, "--arch-option", "-O", help="Architecture option KEY=VALUE (repeatable), e.g. -O ngf=64."),
    seed: Optional[int] = typer.Option(None, help="Random seed (default: 0)."),
    device: Optional[str] = typer.Option(None, help="auto, cpu, cuda, cuda:N or mps (default: auto)."),
    log_every: Optional[int] = typer.Option(None, help="Write metrics every N iterations (default: 10)."),
    sample_every: Optional[int] = typer.Option(None, help="Save a fixed-noise sample grid every N iterations (default: 500)."),
    checkpoint_every: Optional[int] = typer.Option(None, help="Checkpoint every N iterations (default: 1000)."),
    keep_checkpoints: Optional[int] = typer.Option(None, help="Keep the last K periodic checkpoints, 0 = all (default: 3)."),
    runs_dir: Optional[str] = typer.Option(None, help="Parent directory of run directories (default: runs)."),
    name: Optional[str] = typer.Option(None, help="Run directory name (default: ARCH-DATE-TIME)."),
    config: Optional[Path] = typer.Option(None, help="TOML file of training options (flags override it)."),
    resume: Optional[Path] = typer.Option(None, help="Continue the run in this run directory from its last checkpoint."),
) -> None:
    """Train a GAN. Example: ganforge train dcgan --steps 3000 --device cuda"""
    flags = {
        "arch": arch, "loss": loss, "dataset": dataset, "data_root": data_root, "image_size": image_size,
        "channels": channels, "batch_size": batch_size, "steps": steps, "epochs": epochs,
        "latent_dim": latent_dim, "latent_prior": latent_prior, "d_steps": d_steps, "g_steps": g_steps,
        "g_optimizer": g_optimizer, "g_lr": g_lr, "g_betas": _betas(g_betas, "--g-betas"),
        "g_momentum": g_momentum, "g_nesterov": g_nesterov, "d_optimizer": d_optimizer, "d_lr": d_lr,
        "d_betas": _betas(d_betas, "--d-betas"), "d_momentum": d_momentum, "d_nesterov": d_nesterov,
        "arch_options": _key_values(arch_option) if arch_option else None, "seed": seed, "device": device,
        "log_every": log_every, "sample_every": sample_every, "checkpoint_every": checkpoint_every,
        "keep_checkpoints": keep_checkpoints, "runs_dir": runs_dir, "run_name": name,
    }
    if resume is not None:
        _resume(resume, flags, config)
    else:
        if arch is None:
            raise GanforgeError("name an architecture (e.g. `ganforge train dcgan`) or pass --resume RUN_DIR")
        _train_new(flags, config)


def _train_new(flags: dict, config_file: Optional[Path]) -> None:
    from ..training.assemble import build_run, resolve_config
    from ..training.loop import Trainer
    from ..training.rundir import create_run_dir, default_run_name, write_config

    config = resolve_config(flags, config_file)
    run = build_run(config)  # everything that can fail on bad input fails here, before any file
    run_dir = create_run_dir(config.runs_dir, config.run_name or default_run_name(config.arch))
    try:
        write_config(run_dir, config.to_json())
        trainer = Trainer(run, run_dir)
    except BaseException:
        shutil.rmtree(run_dir, ignore_errors=True)
        raise
    _announce(run, run_dir)
    _run(trainer)


def _resume(run_dir: Path, flags: dict, config_file: Optional[Path]) -> None:
    from ..training.assemble import build_run
    from ..training.config import TrainConfig, validate
    from ..training.loop import Trainer
    from ..training.rundir import CONFIG_FILE, check_run_dir, write_config

    check_run_dir(run_dir)
    given = {k: v for k, v in flags.items() if v is not None}
    fixed = sorted(set(given) - RESUMABLE - {"arch"})
    if config_file is not None or fixed:
        names = ", ".join(f"--{k.replace('_', '-')}" for k in fixed) or "--config"
        raise GanforgeError(f"--resume continues a run as configured; {names} cannot change "
                            f"(allowed: {', '.join(sorted(RESUMABLE))})")
    import json

    try:
        saved = json.loads((run_dir / CONFIG_FILE).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise GanforgeError(f"--resume {run_dir}: cannot read {CONFIG_FILE} ({exc})") from None
    if not isinstance(saved, dict):
        raise GanforgeError(f"--resume {run_dir}: {CONFIG_FILE} does not hold a JSON object")
    config = TrainConfig.from_dict(saved)
    if given.get("arch") not in (None, config.arch):
        raise GanforgeError(f"--resume {run_dir}: that run trains '{config.arch}', not '{given['arch']}'")
    given.pop("arch", None)
    if "steps" in given:
        given.setdefault("epochs", None)
    config.update(given, source="command line")
    validate(config)
    run = build_run(config)
    trainer = Trainer(run, run_dir)
    trainer.resume()
    if given:
        write_config(run_dir, config.to_json())
    typer.echo(f"resuming {run_dir} at step {trainer.step} of {run.total_steps}", err=True)
    _run(trainer)


def _announce(run, run_dir: Path) -> None:
    c = run.config
    typer.echo(
        f"training {c.arch} with {c.loss} loss on {run.data.name} ({len(run.data)} images "
        f"{'x'.join(map(str, run.data.image_shape))}) on {run.device}, {run.total_steps} steps -> {run_dir}",
        err=True,
    )
    if run.data.skipped:
        typer.echo(f"skipped {run.data.skipped} unreadable file(s)", err=True)


def _run(trainer) -> None:
    import shlex

    from ..training.interrupts import StopOnSignal
    from ..training.rundir import CHECKPOINTS_DIR

    start = time.perf_counter()
    first_step = trainer.step
    again = f"ganforge train --resume {shlex.quote(str(trainer.run_dir))}"
    with StopOnSignal() as stop:
        try:
            final = trainer.train(stop=stop)
        except KeyboardInterrupt:  # a second signal (or Ctrl-C where no handler could be set)
            typer.echo(f"\nstopped at once at step {trainer.step}; the last checkpoint is intact. "
                       f"Continue with: {again}", err=True)
            raise typer.Exit(stop.exit_code or 130) from None
        except GanforgeError as exc:
            if any((trainer.run_dir / CHECKPOINTS_DIR).glob("*.pt")):
                raise GanforgeError(f"{exc} (checkpoints kept; after fixing it, continue with: {again})") from exc
            raise
    if trainer.interrupted:
        typer.echo(f"\ninterrupted at step {trainer.step}; checkpoint saved. Continue with: {again}", err=True)
        raise typer.Exit(stop.exit_code)
    seconds = time.perf_counter() - start
    c = trainer.run.config
    images = (trainer.step - first_step) * c.batch_size * c.d_steps
    summary = f"done: {trainer.step} steps in {seconds:.1f} s ({images / max(seconds, 1e-9):.0f} img/s)"
    if final:
        summary += f", D loss {final['d_loss']:.3f}, G loss {final['g_loss']:.3f}"
    typer.echo(summary, err=True)
    typer.echo(str(trainer.run_dir))


def _betas(text: Optional[str], flag: str):
    if text is None:
        return None
    try:
        b1, b2 = (float(x) for x in text.split(","))
    except ValueError:
        raise GanforgeError(f"{flag} takes two numbers like 0.5,0.999, got '{text}'") from None
    if not (0 <= b1 < 1 and 0 <= b2 < 1):
        raise GanforgeError(f"{flag} values must be in [0, 1), got '{text}'")
    return (b1, b2)


def _key_values(items: List[str]) -> dict:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise GanforgeError(f"--arch-option takes KEY=VALUE, got '{item}'")
        out[key.strip()] = value.strip()
    return out
