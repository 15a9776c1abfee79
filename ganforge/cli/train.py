"""``ganforge train``: parse the flags and call the run API (``ganforge.api``).

The flags are generated from the training options' one declaration
(``ganforge.training.setup.config.OPTIONS``): a flag left out is ``None`` and takes the value from
the config file, the plugins' defaults or ganforge's defaults, in that order.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any, List, Optional

import typer

from ..errors import GanforgeError
from ..training.setup.command_line import negative_flag, optimizer_flag
from ..training.setup.config import (ARCH_OPTIONS, NETWORK_OPTIM, OPTIMIZERS, OPTIONS, OPTIMIZER_KEYS, STEP_OPTIONS,
                               OptimizerSettings, OPTIONS_BY_NAME)
from .arguments import ValuedOption, by_flag

_OPTIMIZER_FLAGS = {
    "optimizer": (str, "{net}'s optimizer: adam, adamw, rmsprop or sgd (default: {default})."),
    "lr": (float, "{net}'s learning rate (default: {default})."),
    "betas": (str, "{net}'s Adam betas as 'b1,b2' (default: {default})."),
    "momentum": (float, "{net}'s SGD/RMSprop momentum (default: {default})."),
    "nesterov": (bool, "Nesterov momentum for {net_lower} (sgd)."),
    "weight_decay": (float, "{net}'s weight decay (default: {default})."),
}
_NET_NAMES = {"g": "The generator", "d": "The discriminator"}


def train(**values: Any) -> None:
    """Train a GAN. Example: ganforge train dcgan --steps 3000 --device cuda"""
    from .. import api

    arch, config_file, resume = values.pop("arch"), values.pop("config"), values.pop("resume")
    nproc, dist_timeout = values.pop("nproc"), values.pop("dist_timeout")
    repeats, repeat_jobs = values.pop("repeats"), values.pop("repeat_jobs")
    if repeats is not None or repeat_jobs is not None or (resume is not None and _is_repeat(resume)):
        if nproc is not None and nproc > 1:
            raise GanforgeError("--repeats trains its runs in one process each; --nproc cannot be combined with it")
        return _repeat(resume, arch, config_file, repeats, repeat_jobs, values)
    if nproc is not None and nproc < 1:
        raise GanforgeError(f"--nproc must be positive, got {nproc}")
    if nproc is not None and nproc > 1:
        if resume is None and arch is None:
            raise GanforgeError("name an architecture (e.g. `ganforge train dcgan`) or pass --resume RUN_DIR")
        _launch(nproc)
    _parse_key_values(values)
    given = {k: v for k, v in values.items() if v is not None}
    if dist_timeout is not None:
        given["dist_timeout"] = dist_timeout
    try:
        if resume is not None:
            run_dir = _resume(api, resume, arch, config_file, given)
        else:
            if arch is None:
                raise GanforgeError("name an architecture (e.g. `ganforge train dcgan`) or pass --resume RUN_DIR")
            run_dir = api.train(arch, config_file=config_file, **given)
    except api.RunInterrupted as exc:
        if not getattr(exc, "quiet", False):
            typer.echo(f"\n{exc}", err=True)
        raise typer.Exit(exc.exit_code) from None
    from ..training.parallel.distributed import is_main_process

    if is_main_process():
        typer.echo(str(run_dir))


def _is_repeat(path: Path) -> bool:
    from ..repeat import is_repeat_dir

    return is_repeat_dir(path)


def _repeat(resume: Optional[Path], arch: Optional[str], config_file: Optional[Path], repeats: Optional[int],
            repeat_jobs: Optional[int], values: dict) -> None:
    """``--repeats N`` (and ``--resume`` of a repeat directory): N seeds of one recipe, summarised."""
    from .. import api
    from ..repeat import resume_repeats, train_repeats

    _parse_key_values(values)
    given = {k: v for k, v in values.items() if v is not None}
    jobs = 1 if repeat_jobs is None else repeat_jobs  # 0 stays 0, refused by the repeat's checks
    try:
        if resume is not None:
            if repeats is not None or config_file is not None:
                raise GanforgeError("--resume continues a repeat as configured; --repeats and --config cannot be given")
            repeat_dir = resume_repeats(resume, repeat_jobs=jobs, **given)
        else:
            if arch is None:
                raise GanforgeError("name an architecture (e.g. `ganforge train dcgan --repeats 3`)")
            if repeats is None:
                raise GanforgeError("--repeat-jobs needs --repeats N")
            repeat_dir = train_repeats(arch, repeats, repeat_jobs=jobs, config_file=config_file, **given)
    except api.RunInterrupted as exc:
        typer.echo(f"\n{exc}", err=True)
        raise typer.Exit(exc.exit_code) from None
    typer.echo(str(repeat_dir))


def _launch(nproc: int) -> None:
    """Start ``nproc`` processes running this command (less --nproc) and exit with their code."""
    import sys

    from ..errors import debug_enabled
    from ..training.parallel.launch import launch_local, strip_nproc

    argv = strip_nproc(sys.argv[1:])
    if not argv or argv[0] != "train":
        raise GanforgeError("--nproc works on the command line (`ganforge train ... --nproc N`); "
                            "from Python, start your script with torchrun")
    raise typer.Exit(launch_local(nproc, argv, debug=debug_enabled()))


def _resume(api, run_dir: Path, arch: Optional[str], config_file: Optional[Path], given: dict) -> Path:
    if config_file is not None:
        raise GanforgeError("--resume continues a run as configured; --config cannot be given")
    if arch is not None:
        import json

        from ..training.loop.rundir import CONFIG_FILE, check_run_dir

        saved = json.loads((check_run_dir(run_dir) / CONFIG_FILE).read_text(encoding="utf-8")).get("arch")
        if saved != arch:
            raise GanforgeError(f"--resume {run_dir}: that run trains '{saved}', not '{arch}'")
    return api.resume(run_dir, **given)


def _parse_key_values(values: dict) -> None:
    """``-O``/``-S`` KEY=VALUE words into the options' mappings, in place."""
    for name in (ARCH_OPTIONS, STEP_OPTIONS):
        if values.get(name):
            values[name] = _key_values(values[name], OPTIONS_BY_NAME[name].flag_name)
    if values.get(NETWORK_OPTIM):
        tables: dict = {}
        for key, value in _key_values(values[NETWORK_OPTIM], "--optim").items():
            network, dot, setting = key.partition(".")
            if not dot or not network or not setting:
                raise GanforgeError(f"--optim takes NETWORK.SETTING=VALUE (e.g. G_AB.lr=1e-4), got '{key}={value}'")
            tables.setdefault(network, {})[setting] = value
        values[NETWORK_OPTIM] = tables


def _key_values(items: List[str], flag: str) -> dict:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise GanforgeError(f"{flag} takes KEY=VALUE, got '{item}'")
        out[key.strip()] = value.strip()
    return out


def _default_text(value: Any) -> str:
    if isinstance(value, tuple):
        return ",".join(str(v) for v in value)
    return str(value).lower() if isinstance(value, bool) else str(value)


#: Every valued flag of ``ganforge train`` (bool switches take none), for ``arguments.fill_values``.
VALUED_OPTIONS: list[ValuedOption] = []


def _parameter(name: str, kind: Any, flags: list[str], help: str, choices: Optional[tuple[str, ...]] = None,
               bare: Optional[str] = None) -> inspect.Parameter:
    if kind is bool:
        flags = [f"{flags[0]}/{negative_flag(flags[0])}"]
    else:
        VALUED_OPTIONS.append(ValuedOption(tuple(flags), choices, help, bare))
    annotation = List[str] if kind is list else Optional[kind]
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=annotation,
                             default=typer.Option(None, *flags, help=help, show_default=False))


def _signature() -> inspect.Signature:
    """One typer parameter per training option (the optimizer settings: one per network and setting)."""
    params = [inspect.Parameter("arch", inspect.Parameter.KEYWORD_ONLY, annotation=Optional[str],
                                default=typer.Argument(None, help=OPTIONS_BY_NAME["arch"].help, show_default=False))]
    for option in OPTIONS:
        if option.name == "arch":
            continue
        if option.type is OptimizerSettings:
            net = option.name[0]
            for suffix, setting in OPTIMIZER_KEYS.items():
                kind, text = _OPTIMIZER_FLAGS[suffix]
                default = _default_text(getattr(option.default, setting))
                params.append(_parameter(f"{net}_{suffix}", kind, [optimizer_flag(net, suffix)],
                                         text.format(net=_NET_NAMES[net], net_lower=_NET_NAMES[net].lower(),
                                                     default=default),
                                         choices=OPTIMIZERS if suffix == "optimizer" else None))
            continue
        if option.name in (ARCH_OPTIONS, STEP_OPTIONS):
            short = "-O" if option.name == ARCH_OPTIONS else "-S"
            params.append(_parameter(option.name, list, [option.flag_name, short], option.help))
            continue
        if option.name == NETWORK_OPTIM:
            params.append(_parameter(option.name, list, [option.flag_name], option.help))
            continue
        help = option.help
        if option.default is not None and option.type is not bool:
            help = help.rstrip(".") + f" (default: {_default_text(option.default)}"
            help += ", or the plugins')." if option.name in ("batch_size", "steps", "d_steps") else ")."
        elif option.type is bool and option.default is not None:  # None: the help says what happens
            help = help.rstrip(".") + f" (default: {'on' if option.default else 'off'})."
        params.append(_parameter(option.name, option.type, [option.flag_name], help, option.choices, option.bare))
    params.append(_parameter("config", Path, ["--config"], "TOML file of training options (flags override it)."))
    params.append(_parameter("resume", Path, ["--resume"], "Continue the run in this run directory from its last checkpoint."))
    params.append(_parameter("nproc", int, ["--nproc"], "Train with N processes on this machine (one per GPU, "
                             "or CPU processes with gloo); --batch-size is the global batch. "
                             "The same as torchrun --nproc_per_node N -m ganforge train."))
    params.append(_parameter("dist_timeout", float, ["--dist-timeout"], "With several processes: seconds one waits "
                             "for the others before it stops with an error (default: 600)."))
    params.append(_parameter("repeats", int, ["--repeats"], "Train N runs of this recipe, seeds --seed .. --seed+N-1, "
                             "into one repeat directory, evaluate each and summarise every metric's mean and 95% "
                             "interval across the seeds (summary.json); --resume of that directory continues it."))
    params.append(_parameter("repeat_jobs", int, ["--repeat-jobs"], "With --repeats: train K runs at a time in "
                             "separate processes (at most the machine's cores; default 1: one after the other)."))
    return inspect.Signature(params)


train.__signature__ = _signature()
#: ``arguments.fill_values``'s table for ``ganforge train``.
VALUED_FLAGS = by_flag(VALUED_OPTIONS)
