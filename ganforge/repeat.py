"""Repeated training: one recipe trained with N seeds into sibling run directories, each
evaluated, summarised as each metric's mean and interval across the training seeds.

    repeat_dir = ganforge.train("dcgan", repeats=3, steps=2000)   # seeds 0, 1, 2
    ganforge.resume(repeat_dir)                                    # after an interrupt
    ganforge train dcgan --repeats 3 --steps 2000 [--repeat-jobs 2]

The repeat directory holds ``repeat.json`` (the recipe, the seeds, which runs finished) and one
run directory per seed (``seed-0``, ``seed-1``...), trained one after the other, or ``jobs`` at a
time in separate processes. Interrupted, it resumes where it stopped: finished runs are not
trained again, the interrupted one continues from its checkpoint (exactly, as any run does),
the rest start. When every run has finished, each final generator is evaluated with
``ganforge eval``'s protocol (its ``eval.json`` written as ``ganforge eval RUN`` would) and
``summary.json`` gathers the per-run rows and, per metric, the mean and a 95% interval over the
runs. Lives beside ``api.py``, which it drives.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any, Optional

from .errors import GanforgeError
from .files import read_json_object
from .result_files import EVAL_FILE, REPEAT_FILE, SUMMARY_FILE

KIND = "ganforge-repeat"
VERSION = 1
#: The evaluation of each final generator when the recipe gives no --eval-n: ``ganforge eval``'s n.
SUMMARY_EVAL_N = 5000
MAX_REPEATS = 1000


def run_name(seed: int) -> str:
    return f"seed-{seed}"


def is_repeat_dir(path: Path) -> bool:
    return (Path(path) / REPEAT_FILE).is_file()


def train_repeats(arch: Optional[str], repeats: int, *, repeat_jobs: int = 1, config_file: Optional[Path] = None,
                  progress: Optional[bool] = None, verbose: bool = True, **options: Any) -> Path:
    """Train ``repeats`` seeds of one recipe (``--seed`` and the next ones) and summarise them;
    returns the repeat directory. Every input mistake fails before anything is written."""
    from .training.setup.assemble import resolve_config
    from .training.setup.config import validate
    from .training.loop.rundir import create_run_dir, default_run_name

    _check_counts(repeats, repeat_jobs)
    values = dict(options, **({"arch": arch} if arch is not None else {}))
    config, _ = resolve_config(values, Path(config_file) if config_file else None)
    validate(config)
    seeds = [config.seed + i for i in range(repeats)]
    repeat_dir = create_run_dir(config.runs_dir, config.run_name or f"{default_run_name(config.arch)}-x{repeats}")
    recipe = {k: v for k, v in values.items() if k not in ("arch", "seed", "runs_dir", "run_name")}
    state = {"kind": KIND, "version": VERSION, "arch": config.arch, "options": _jsonable(recipe),
             "config_file": str(Path(config_file).resolve()) if config_file else None, "seeds": seeds,
             "runs": [run_name(s) for s in seeds], "finished": []}
    _write_state(repeat_dir, state)
    try:
        return _continue(repeat_dir, state, repeat_jobs, progress, verbose)
    except GanforgeError:
        if not any((repeat_dir / name).exists() for name in state["runs"]):
            shutil.rmtree(repeat_dir, ignore_errors=True)  # the first run failed before its first checkpoint
        raise


def resume_repeats(repeat_dir: Path, *, repeat_jobs: int = 1, progress: Optional[bool] = None, verbose: bool = True,
                   **overrides: Any) -> Path:
    """Continue an interrupted repeat: finished runs stay, the interrupted one resumes, the rest start."""
    given = {k: v for k, v in overrides.items() if v is not None}
    if given:
        raise GanforgeError(f"--resume {repeat_dir}: a repeat continues as configured; "
                            f"{', '.join(sorted(given))} cannot be given")
    _check_counts(1, repeat_jobs)
    return _continue(Path(repeat_dir), read_state(Path(repeat_dir)), repeat_jobs, progress, verbose)


def read_state(repeat_dir: Path) -> dict:
    path = repeat_dir / REPEAT_FILE
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise GanforgeError(f"{path}: cannot read it ({exc})") from None
    if not isinstance(state, dict) or state.get("kind") != KIND or not isinstance(state.get("seeds"), list):
        raise GanforgeError(f"{path}: not a ganforge repeat file")
    return state


# -- training -------------------------------------------------------------------------------

def _continue(repeat_dir: Path, state: dict, jobs: int, progress, verbose) -> Path:
    pending = [s for s in state["seeds"] if run_name(s) not in state["finished"]]
    if verbose:
        done = len(state["seeds"]) - len(pending)
        _say(f"repeat of {len(state['seeds'])} seeds -> {repeat_dir}"
             + (f": {done} finished, continuing with seed {pending[0]}" if done and pending else ""))
    if jobs == 1 or len(pending) <= 1:
        for seed in pending:
            _train_one(repeat_dir, state, seed, progress, verbose)
            _mark_finished(repeat_dir, state, seed)
    else:
        _train_in_processes(repeat_dir, state, pending, jobs)
    return summarize(repeat_dir, state, verbose)


def _train_one(repeat_dir: Path, state: dict, seed: int, progress, verbose) -> None:
    from . import api

    run_dir = repeat_dir / run_name(seed)
    try:
        if run_dir.exists():
            api.resume(run_dir, progress=progress, verbose=verbose)
        else:
            api.train(state["arch"], config_file=Path(state["config_file"]) if state["config_file"] else None,
                      progress=progress, verbose=verbose, seed=seed, runs_dir=str(repeat_dir),
                      run_name=run_name(seed), **state["options"])
    except api.RunInterrupted as exc:
        exc.args = (f"{exc.args[0].split(' Continue with:')[0]} in run {run_dir.name} of the repeat. "
                    f"Continue with: {api.resume_command(repeat_dir)}",)
        raise


def _worker(repeat_dir: str, state: dict, seed: int, threads: int) -> Optional[str]:
    """One run in a process of its own: None, or the error that ended it, as one line."""
    import torch

    torch.set_num_threads(threads)
    try:
        _train_one(Path(repeat_dir), state, seed, progress=False, verbose=False)
    except (GanforgeError, Exception) as exc:  # returned, not raised: exceptions do not all pickle
        return f"{type(exc).__name__}: {exc}"
    except KeyboardInterrupt:
        return "interrupted"
    return None


def _train_in_processes(repeat_dir: Path, state: dict, pending: list[int], jobs: int) -> None:
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    threads = max(1, (os.cpu_count() or 1) // jobs)
    _say(f"training {len(pending)} runs, {jobs} at a time in separate processes ({threads} thread(s) each)")
    errors = []
    with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = {seed: pool.submit(_worker, str(repeat_dir), state, seed, threads) for seed in pending}
        for seed, future in futures.items():
            error = future.result()
            if error is None:
                _mark_finished(repeat_dir, state, seed)
                _say(f"finished {run_name(seed)}")
            else:
                errors.append(f"{run_name(seed)}: {error.splitlines()[0]}")
    if errors:
        from .api import resume_command

        raise GanforgeError(f"{len(errors)} of {len(pending)} runs did not finish ({'; '.join(errors)}); "
                            f"continue with: {resume_command(repeat_dir)}")


def _mark_finished(repeat_dir: Path, state: dict, seed: int) -> None:
    state["finished"] = sorted(set(state["finished"]) | {run_name(seed)}, key=state["runs"].index)
    _write_state(repeat_dir, state)


# -- the summary ----------------------------------------------------------------------------

def summarize(repeat_dir: Path, state: dict, verbose: bool = True) -> Path:
    """Evaluate each finished run that has no evaluation of this protocol yet and write
    ``summary.json``: the per-run rows and each metric's mean and interval over the runs."""
    rows = []
    for seed, name in zip(state["seeds"], state["runs"]):
        run_dir = repeat_dir / name
        if not run_dir.is_dir():
            raise GanforgeError(f"{repeat_dir / REPEAT_FILE} lists {name}, but {run_dir} is gone")
        rows.append({"run": name, "seed": seed, **_evaluation(run_dir, state)})
    summary = {"kind": "ganforge-repeat-summary", "version": VERSION, "arch": state["arch"],
               "runs": state["runs"], "rows": rows, "metrics": _across_runs(rows)}
    from .files import atomic_write

    path = repeat_dir / SUMMARY_FILE
    atomic_write(path, lambda tmp: tmp.write_text(json.dumps(summary, indent=2) + "\n"))
    if verbose:
        _say(format_summary(summary))
    return repeat_dir


def _evaluation(run_dir: Path, state: dict) -> dict:
    """The run's final generator measured as ``ganforge eval RUN`` measures it (n: the recipe's
    --eval-n, else 5,000; metrics: its --eval-metrics, else all), its eval.json written; an
    eval.json of that protocol is reused. An image-to-image generator gets its translation report; a
    generator the digit metrics do not apply to gets ``{"not_evaluated": why}``."""
    from .eval_api import evaluate
    from .evaluation.evaluator import ALL_METRICS, parse_metrics
    from .evaluation.report import check_digit_generator, run_dataset
    from .generator_file import load_generator
    from .interfaces import CONDITION

    import torch

    _, info = load_generator(run_dir, torch.device("cpu"))
    if info.generator_input == CONDITION:  # image-to-image: its own report (PSNR, SSIM, L1...), on held-out pairs
        n = int(state["options"].get("eval_n") or SUMMARY_EVAL_N)
        return _scalars(evaluate(run_dir, n=n, seeds=[0], write=True))
    try:
        check_digit_generator(info, (run_dataset(run_dir) or {}).get("dataset"))
    except GanforgeError as exc:
        return {"not_evaluated": str(exc)}
    options = state["options"]
    n = int(options.get("eval_n") or SUMMARY_EVAL_N)
    chosen = parse_metrics(options.get("eval_metrics") or ",".join(ALL_METRICS))
    if not info.spec.num_classes:  # an unconditional generator takes no label to check
        chosen = tuple(m for m in chosen if m != "label_accuracy")
    saved = read_json_object(run_dir / EVAL_FILE)
    protocol = (saved or {}).get("protocol") or {}
    if protocol.get("n_fake") == n and protocol.get("seeds") == [0] and protocol.get("metrics") == list(chosen):
        return _scalars(saved)
    return _scalars(evaluate(run_dir, metrics=",".join(chosen), n=n, seeds=[0], write=True))


def _scalars(report: dict) -> dict:
    """The report's top-level numbers (fid_digits, precision...), without floor, ceiling or protocol."""
    return {k: v for k, v in report.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}


def _across_runs(rows: list[dict]) -> dict:
    """Per metric present in every row: the values, their mean, standard deviation and 95% interval."""
    from .evaluation.intervals import mean_interval

    keys = [k for k in rows[0] if k not in ("run", "seed") and all(isinstance(r.get(k), (int, float)) for r in rows)]
    return {k: mean_interval([r[k] for r in rows]) for k in keys}


SUMMARY_HEADER = ("metric", "mean", "std", "95% interval", "per run")


def summary_rows(summary: dict) -> list[tuple[str, str, str, str, str]]:
    """One row of text cells per metric of the summary: mean, std, 95% interval, the per-run values."""
    rows = []
    for key, m in summary["metrics"].items():
        spread = ("-", "one run: no interval") if m["std"] is None else \
            (f"{m['std']:.3g}", f"[{m['low']:.4g}, {m['high']:.4g}]")
        rows.append((key, f"{m['mean']:.4g}", *spread, " ".join(f"{v:.4g}" for v in m["values"])))
    return rows


def why_not_evaluated(summary: dict) -> str:
    """Why a summary has no metrics (the first run's reason)."""
    return next((r["not_evaluated"] for r in summary["rows"] if "not_evaluated" in r), "no metrics")


def format_summary(summary: dict) -> str:
    """The summary as plain aligned text: one row per metric."""
    if not summary["metrics"]:
        return f"{len(summary['rows'])} runs; not evaluated: {why_not_evaluated(summary)}"
    rows = [SUMMARY_HEADER, *summary_rows(summary)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    return "\n".join([f"{len(summary['rows'])} runs ({', '.join(summary['runs'])}), across training seeds:", *lines])


# -- small helpers --------------------------------------------------------------------------

def _check_counts(repeats: int, jobs: int) -> None:
    if not 1 <= repeats <= MAX_REPEATS:
        raise GanforgeError(f"--repeats must be between 1 and {MAX_REPEATS}, got {repeats}")
    cores = os.cpu_count() or 1
    if not 1 <= jobs <= cores:
        raise GanforgeError(f"--repeat-jobs must be between 1 and this machine's {cores} cores, got {jobs}")


def _jsonable(values: dict) -> dict:
    return json.loads(json.dumps(values, default=lambda v: list(v) if isinstance(v, tuple) else str(v)))


def _write_state(repeat_dir: Path, state: dict) -> None:
    from .files import atomic_write

    atomic_write(repeat_dir / REPEAT_FILE, lambda tmp: tmp.write_text(json.dumps(state, indent=2) + "\n"))


def _say(message: str) -> None:
    import sys

    print(message, file=sys.stderr, flush=True)
