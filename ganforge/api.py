"""The Python run API: start a run or continue one. ``ganforge train`` only parses its flags
and calls these.

    import ganforge
    run_dir = ganforge.train("dcgan", steps=2000, batch_size=64, arch_options={"ngf": 64})
    ganforge.resume(run_dir, steps=4000)

Options are the training options of ``ganforge train --help`` with underscores (see
``ganforge.training.setup.config.OPTIONS``); the flat optimizer keys (``g_lr``, ``d_betas``...) work too.
A mistake raises ``ganforge.errors.GanforgeError`` before anything is written.
"""

from __future__ import annotations

import contextlib
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

    def __init__(self, run_dir: Path, step: int, saved: bool, exit_code: int = 130, nproc: int = 1):
        self.run_dir, self.step, self.saved, self.exit_code = run_dir, step, saved, exit_code
        if saved:
            message = f"interrupted at step {step}; checkpoint saved. Continue with: {resume_command(run_dir, nproc)}"
        elif run_dir.exists():
            message = f"stopped at once at step {step}; the last checkpoint is intact. Continue with: " \
                      f"{resume_command(run_dir, nproc)}"
        else:
            message = f"stopped at once at step {step}, before the first checkpoint; nothing was kept"
        super().__init__(message)


def resume_command(run_dir: Path, nproc: int = 1) -> str:
    import shlex

    return f"ganforge train --resume {shlex.quote(str(run_dir))}" + (f" --nproc {nproc}" if nproc > 1 else "")


def train(arch: Optional[str] = None, *, config_file: Optional[Path] = None, progress: Optional[bool] = None,
          verbose: bool = True, dist_timeout: Optional[float] = None, **options: Any) -> Path:
    """Train a new run; returns its directory. ``progress``: None = a live bar on a terminal.

    Under torchrun (WORLD_SIZE > 1) every process calls this and trains its share of each batch
    (see ``ganforge.training.parallel.distributed``); rank 0 alone writes the run directory and prints.
    ``dist_timeout``: seconds a process waits for the others before giving up (default 600)."""
    from .training.parallel.distributed import Parallel

    parallel = Parallel.start(dist_timeout)
    with _labelled_errors(parallel):
        run_dir = _train(arch, config_file, progress, verbose, parallel, options)
    if parallel is not None:
        parallel.close()
    return run_dir


def _train(arch, config_file, progress, verbose, parallel, options) -> Path:
    from .training.setup.assemble import build_run, resolve_config

    values = dict(options)
    if arch is not None:
        values["arch"] = arch

    def setup():
        config, plugins = resolve_config(values, Path(config_file) if config_file else None)
        if parallel is None:
            run = build_run(config, plugins)  # every input mistake fails here, before any file exists
        else:
            parallel.check(config)
            run = build_run(config, plugins, device=parallel.device(config.device))
        return run.config, run  # with the device's defaults filled in: what config.json records

    config, run = _together(parallel, setup)
    run_dir = _on_main(parallel, lambda: _new_run_dir(config))
    try:
        driver = _together(parallel, lambda: _driver(run, run_dir, progress, parallel))
    except BaseException:
        if _owns_run_dir(parallel):
            shutil.rmtree(run_dir, ignore_errors=True)
        raise
    if verbose and _owns_run_dir(parallel):
        batch = "" if parallel is None else \
            f", batch {config.batch_size} = {parallel.world_size} processes x {config.batch_size // parallel.world_size}"
        _say(f"training {config.arch} with {config.loss} loss on {run.data.name} ({len(run.data)} images "
             f"{'x'.join(map(str, run.data.image_shape))}) on {run.device}{batch}, {run.total_steps} steps -> {run_dir}")
        if run.data.skipped:
            _say(f"skipped {run.data.skipped} unreadable file(s)")
    return _drive(driver, fresh=True, verbose=verbose)


def _new_run_dir(config) -> Path:
    from .training.loop.rundir import create_run_dir, default_run_name, write_config

    run_dir = create_run_dir(config.runs_dir, config.run_name or default_run_name(config.arch))
    try:
        write_config(run_dir, config.to_json())
    except BaseException:
        shutil.rmtree(run_dir, ignore_errors=True)
        raise
    return run_dir


def resume(run_dir: Path, *, progress: Optional[bool] = None, verbose: bool = True,
           dist_timeout: Optional[float] = None, **overrides: Any) -> Path:
    """Continue a run from its last checkpoint. Only options marked resumable (steps, epochs,
    device, log/sample/checkpoint cadence) may change. Under torchrun every process calls this;
    the resume is exact with the number of processes the run had."""
    from .training.parallel.distributed import Parallel

    parallel = Parallel.start(dist_timeout)
    with _labelled_errors(parallel):
        run_dir = _resume(Path(run_dir), progress, verbose, parallel, overrides)
    if parallel is not None:
        parallel.close()
    return run_dir


def _resume(run_dir: Path, progress, verbose, parallel, overrides) -> Path:
    from .options import with_legacy_values
    from .training.setup.assemble import build_run
    from .training.loop.checkpoint import find_checkpoint, verify_checkpoint
    from .training.setup.config import OPTIONS_BY_NAME, TrainConfig, validate
    from .training.hooks.metrics import truncate_metrics
    from .training.setup.plugins import load_plugins
    from .training.loop.rundir import CONFIG_FILE, METRICS_FILE, check_run_dir, remove_interrupted_writes, write_config

    given = {k: v for k, v in overrides.items() if v is not None}

    def setup():
        checked = check_run_dir(run_dir)
        fixed = sorted(k for k in given if not (k in OPTIONS_BY_NAME and OPTIONS_BY_NAME[k].resumable))
        if fixed:
            allowed = ", ".join(o.flag_name for o in OPTIONS_BY_NAME.values() if o.resumable)
            names = ", ".join(OPTIONS_BY_NAME[k].flag_name if k in OPTIONS_BY_NAME else k for k in fixed)
            raise GanforgeError(f"--resume continues a run as configured; {names} cannot change (allowed: {allowed})")
        try:
            saved = json.loads((checked / CONFIG_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise GanforgeError(f"--resume {checked}: cannot read {CONFIG_FILE} ({exc})") from None
        if not isinstance(saved, dict):
            raise GanforgeError(f"--resume {checked}: {CONFIG_FILE} does not hold a JSON object")
        config = TrainConfig.from_dict(saved)
        if "steps" in given:
            given.setdefault("epochs", None)
        config.update(given, source="resume")
        validate(config)
        plugins = load_plugins(config.arch, config.loss, config.step)  # no step saved: written before steps existed
        config.step = plugins.step_name
        config.arch_options = with_legacy_values(plugins.arch.options, config.arch_options, f"architecture '{config.arch}'")
        config.step_options = with_legacy_values(plugins.step_fn.options, config.step_options, f"step '{config.step}'")
        if parallel is None:
            run = build_run(config, plugins)
        else:
            parallel.check(config)
            run = build_run(config, plugins, device=parallel.device(config.device))
        return checked, config, _driver(run, checked, progress, parallel)

    run_dir, config, driver = _together(parallel, setup)
    found = []  # rank 0 finds the checkpoint (tidying, warnings); the others read the file it chose
    path = _on_main(parallel, lambda: found.append(find_checkpoint(run_dir)) or found[0].path)

    def load():
        state = found[0].state if found else verify_checkpoint(path)
        try:
            driver.load_state_dict(state)
        except (KeyError, TypeError, ValueError, RuntimeError) as exc:
            first_line = str(exc).splitlines()[0][:200] if str(exc) else ""
            raise GanforgeError(f"{path} does not fit this run ({type(exc).__name__}: {first_line})") from None

    _together(parallel, load)

    def tidy():
        truncate_metrics(run_dir / METRICS_FILE, driver.step)  # steps after the checkpoint are trained again
        remove_interrupted_writes(run_dir)
        if given:
            write_config(run_dir, config.to_json())

    _on_main(parallel, tidy)
    if verbose and _owns_run_dir(parallel):
        _say(f"resuming {run_dir} at step {driver.step} of {driver.total_steps}")
    return _drive(driver, fresh=False, verbose=verbose)


def _driver(run, run_dir: Path, progress: Optional[bool], parallel=None):
    from .training.loop.driver import RunDriver
    from .training.hooks.standard import standard_hooks

    hooks = standard_hooks(run.config, progress) if _owns_run_dir(parallel) else []  # rank 0 writes
    return RunDriver(run, run_dir, hooks, parallel=parallel)


def _drive(driver, fresh: bool, verbose: bool) -> Path:
    from .training.loop.driver import NonFiniteLoss
    from .training.hooks.standard import Checkpoints
    from .training.loop.interrupts import StopOnSignal

    parallel = driver.parallel
    nproc = 1 if parallel is None else parallel.world_size
    owner = _owns_run_dir(parallel)
    checkpoints = next((h for h in driver.hooks if isinstance(h, Checkpoints)), None)  # rank 0 only

    def nothing_kept() -> bool:
        return fresh and owner and checkpoints.written == 0

    start, first_step = time.perf_counter(), driver.step
    with StopOnSignal() as stop:
        driver.stop_requested = stop if parallel is None else parallel.stop_together(stop)
        try:
            final = driver.run_steps()
            if driver.interrupted:
                if checkpoints is not None:
                    checkpoints.save(driver, periodic=False)
                if parallel is not None:
                    parallel.finish_together()  # no rank exits (and is taken for failed) before the save
                raise RunInterrupted(driver.run_dir, driver.step, saved=True, exit_code=stop.exit_code or 130,
                                     nproc=nproc)
            if parallel is not None:
                parallel.finish_together()
        except RunInterrupted as exc:
            raise _quiet_unless(owner, exc)
        except KeyboardInterrupt:  # a second signal, or Ctrl-C where no handler could be set
            if nothing_kept():
                shutil.rmtree(driver.run_dir, ignore_errors=True)
            raise _quiet_unless(owner, RunInterrupted(driver.run_dir, driver.step, saved=False,
                                                      exit_code=stop.exit_code or 130, nproc=nproc)) from None
        except GanforgeError as exc:
            if isinstance(exc, NonFiniteLoss):  # decided on averaged metrics: every rank raises it
                _quiet_unless(owner, exc)
            if fresh and (checkpoints is None or checkpoints.written == 0):
                if owner:
                    shutil.rmtree(driver.run_dir, ignore_errors=True)  # nothing worth keeping yet
                raise
            exc.args = (f"{exc} (checkpoints kept; after fixing it, continue with: "
                         f"{resume_command(driver.run_dir, nproc)})",)
            raise
        except BaseException as exc:
            if nothing_kept():
                shutil.rmtree(driver.run_dir, ignore_errors=True)
            kept = not fresh or (checkpoints is not None and checkpoints.written > 0)
            hint = f"the run keeps its last checkpoint; continue with: {resume_command(driver.run_dir, nproc)}" \
                if kept or not owner else "nothing was kept"
            peer = None if parallel is None else parallel.explain(exc, hint)
            if peer is not None:
                raise peer from exc
            raise
    if verbose and owner:
        seconds = time.perf_counter() - start
        c = driver.run.config
        images = (driver.step - first_step) * c.batch_size * driver.run.real_batches_per_iteration
        summary = f"done: {driver.step} steps in {seconds:.1f} s ({images / max(seconds, 1e-9):.0f} img/s)"
        losses = [(key, value) for key, value in (final or {}).items() if key.endswith("_loss")]
        if losses:
            summary += "".join(f", {FINAL_LOSS_LABELS.get(key, key.replace('_', ' '))} {value:.3f}"
                               for key, value in losses)
        _say(summary)
    return driver.run_dir


#: How the closing line names the main phases' losses (others: their metric name, e.g. "d reg loss").
FINAL_LOSS_LABELS = {"d_loss": "D loss", "g_loss": "G loss"}


# -- one process or several ---------------------------------------------------------------------
def _owns_run_dir(parallel) -> bool:
    """Rank 0 (or the only process) creates, writes and removes the run directory."""
    return parallel is None or parallel.is_main


def _together(parallel, setup):
    return setup() if parallel is None else parallel.together(setup)


def _on_main(parallel, action):
    return action() if parallel is None else parallel.from_main(action)


def _quiet_unless(shown: bool, exc: BaseException) -> BaseException:
    if not shown:
        exc.quiet = True
    return exc


@contextlib.contextmanager
def _labelled_errors(parallel):
    """With several processes, an error that a rank other than 0 prints starts with its rank."""
    try:
        yield
    except GanforgeError as exc:
        if parallel is not None and not parallel.is_main and not getattr(exc, "quiet", False):
            exc.args = (f"rank {parallel.rank}: {exc}",)
        raise


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
