"""The Python run API: start a run or continue one. ``ganforge train`` only parses its flags
and calls these.

    import ganforge
    run_dir = ganforge.train("dcgan", steps=2000, batch_size=64, arch_options={"ngf": 64})
    ganforge.resume(run_dir, steps=4000)

Options are the training options of ``ganforge train --help`` with underscores (see
``ganforge.training.config.OPTIONS``); the flat optimizer keys (``g_lr``, ``d_betas``...) work too.
A mistake raises ``ganforge.errors.GanforgeError`` before anything is written.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any, Optional

from .errors import GanforgeError


class RunInterrupted(Exception):
    """A signal ended a run early. The first Ctrl-C (SIGINT) or SIGTERM lets the current step
    finish and saves a checkpoint; a second one stops at once, leaving the last checkpoint."""

    def __init__(self, run_dir: Path, step: int, saved: bool, exit_code: int = 130):
        self.run_dir, self.step, self.saved, self.exit_code = run_dir, step, saved, exit_code
        if saved:
            message = f"interrupted at step {step}; checkpoint saved. Continue with: {resume_command(run_dir)}"
        elif run_dir.exists():
            message = f"stopped at once at step {step}; the last checkpoint is intact. Continue with: " \
                      f"{resume_command(run_dir)}"
        else:
            message = f"stopped at once at step {step}, before the first checkpoint; nothing was kept"
        super().__init__(message)


def resume_command(run_dir: Path) -> str:
    import shlex

    return f"ganforge train --resume {shlex.quote(str(run_dir))}"


def train(arch: Optional[str] = None, *, config_file: Optional[Path] = None, progress: Optional[bool] = None,
          verbose: bool = True, **options: Any) -> Path:
    """Train a new run; returns its directory. ``progress``: None = a live bar on a terminal."""
    from .training.assemble import build_run, resolve_config
    from .training.rundir import create_run_dir, default_run_name, write_config

    values = dict(options)
    if arch is not None:
        values["arch"] = arch
    config, plugins = resolve_config(values, Path(config_file) if config_file else None)
    run = build_run(config, plugins)  # every input mistake fails here, before any file exists
    run_dir = create_run_dir(config.runs_dir, config.run_name or default_run_name(config.arch))
    try:
        write_config(run_dir, config.to_json())
        driver = _driver(run, run_dir, progress)
    except BaseException:
        shutil.rmtree(run_dir, ignore_errors=True)
        raise
    if verbose:
        _say(f"training {config.arch} with {config.loss} loss on {run.data.name} ({len(run.data)} images "
             f"{'x'.join(map(str, run.data.image_shape))}) on {run.device}, {run.total_steps} steps -> {run_dir}")
        if run.data.skipped:
            _say(f"skipped {run.data.skipped} unreadable file(s)")
    return _drive(driver, fresh=True, verbose=verbose)


def resume(run_dir: Path, *, progress: Optional[bool] = None, verbose: bool = True, **overrides: Any) -> Path:
    """Continue a run from its last checkpoint. Only options marked resumable (steps, epochs,
    device, log/sample/checkpoint cadence) may change."""
    from .training.assemble import build_run
    from .training.checkpoint import find_checkpoint
    from .training.config import OPTIONS_BY_NAME, TrainConfig, validate
    from .training.metrics import truncate_metrics
    from .training.plugins import load_plugins
    from .training.rundir import CONFIG_FILE, METRICS_FILE, check_run_dir, remove_interrupted_writes, write_config

    run_dir = check_run_dir(Path(run_dir))
    given = {k: v for k, v in overrides.items() if v is not None}
    fixed = sorted(k for k in given if not (k in OPTIONS_BY_NAME and OPTIONS_BY_NAME[k].resumable))
    if fixed:
        allowed = ", ".join(o.flag_name for o in OPTIONS_BY_NAME.values() if o.resumable)
        names = ", ".join(OPTIONS_BY_NAME[k].flag_name if k in OPTIONS_BY_NAME else k for k in fixed)
        raise GanforgeError(f"--resume continues a run as configured; {names} cannot change (allowed: {allowed})")
    try:
        saved = json.loads((run_dir / CONFIG_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise GanforgeError(f"--resume {run_dir}: cannot read {CONFIG_FILE} ({exc})") from None
    if not isinstance(saved, dict):
        raise GanforgeError(f"--resume {run_dir}: {CONFIG_FILE} does not hold a JSON object")
    config = TrainConfig.from_dict(saved)
    if "steps" in given:
        given.setdefault("epochs", None)
    config.update(given, source="resume")
    validate(config)
    run = build_run(config, load_plugins(config.arch, config.loss))
    driver = _driver(run, run_dir, progress)
    found = find_checkpoint(run_dir)  # latest.pt, or the newest intact periodic one (with a warning)
    try:
        driver.load_state_dict(found.state)
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        first_line = str(exc).splitlines()[0][:200] if str(exc) else ""
        raise GanforgeError(f"{found.path} does not fit this run ({type(exc).__name__}: {first_line})") from None
    truncate_metrics(run_dir / METRICS_FILE, driver.step)  # steps after the checkpoint are trained again
    remove_interrupted_writes(run_dir)
    if given:
        write_config(run_dir, config.to_json())
    if verbose:
        _say(f"resuming {run_dir} at step {driver.step} of {driver.total_steps}")
    return _drive(driver, fresh=False, verbose=verbose)


def _driver(run, run_dir: Path, progress: Optional[bool]):
    from .training.driver import RunDriver
    from .training.hooks import standard_hooks

    return RunDriver(run, run_dir, standard_hooks(run.config, progress))


def _drive(driver, fresh: bool, verbose: bool) -> Path:
    from .training.hooks import Checkpoints
    from .training.interrupts import StopOnSignal

    checkpoints = next(h for h in driver.hooks if isinstance(h, Checkpoints))
    start, first_step = time.perf_counter(), driver.step
    with StopOnSignal() as stop:
        driver.stop_requested = stop
        try:
            final = driver.run_steps()
            if driver.interrupted:
                checkpoints.save(driver, periodic=False)
                raise RunInterrupted(driver.run_dir, driver.step, saved=True, exit_code=stop.exit_code)
        except RunInterrupted:
            raise
        except KeyboardInterrupt:  # a second signal, or Ctrl-C where no handler could be set
            if fresh and checkpoints.written == 0:
                shutil.rmtree(driver.run_dir, ignore_errors=True)
            raise RunInterrupted(driver.run_dir, driver.step, saved=False, exit_code=stop.exit_code or 130) from None
        except GanforgeError as exc:
            if fresh and checkpoints.written == 0:
                shutil.rmtree(driver.run_dir, ignore_errors=True)  # nothing worth keeping yet
                raise
            exc.args = (f"{exc} (checkpoints kept; after fixing it, continue with: "
                         f"{resume_command(driver.run_dir)})",)
            raise
        except BaseException:
            if fresh and checkpoints.written == 0:
                shutil.rmtree(driver.run_dir, ignore_errors=True)
            raise
    if verbose:
        seconds = time.perf_counter() - start
        c = driver.run.config
        images = (driver.step - first_step) * c.batch_size * c.d_steps
        summary = f"done: {driver.step} steps in {seconds:.1f} s ({images / max(seconds, 1e-9):.0f} img/s)"
        if final:
            summary += f", D loss {final['d_loss']:.3f}, G loss {final['g_loss']:.3f}"
        _say(summary)
    return driver.run_dir


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
