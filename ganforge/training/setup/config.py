"""The run configuration, declared once.

``OPTIONS`` is the one declaration of every training option: ``TrainConfig`` (the dataclass
saved as ``config.json``), the ``ganforge train`` flags, the TOML keys and the names plugins
may use in their ``defaults`` all come from it. Precedence, lowest first: these defaults < the
architecture's defaults < the loss's defaults < a ``--config`` TOML file < the caller's values.

Each network's optimizer is one nested value (``g_optim``, ``d_optim``); the flat keys of
earlier releases (``g_lr``, ``d_betas``...) are still accepted everywhere and translated.
Imports no torch.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Optional

from ...errors import GanforgeError, InvalidPluginError
from ...options import Option, parse_scalar
from .monitor_options import (BEST_METRICS, DEFAULT_BEST_METRIC, DEFAULT_EVAL_METRICS, DEFAULT_EVAL_N, NO_BEST,
                              ON_PROBLEM_CHOICES, REMEDY_CHOICES, REMEDY_LR_FACTOR, TENSORBOARD_HINT,
                              validate_monitoring)

LATENT_PRIORS = ("normal", "uniform")
PRECISIONS = ("fp32", "bf16", "fp16")
COMPILE_CHOICES = ("none", "networks", "cudagraphs")
#: Augmentation policies applied to every image D sees; ``ganforge/augment.py`` implements them.
AUGMENT_CHOICES = ("none", "diffaugment")


@dataclass(frozen=True)
class OptimizerRecord:
    """One optimizer ganforge builds (``optim.py``): its ``torch.optim`` class, which of the
    settings it takes besides lr and weight decay, and the tensors of state it keeps per
    parameter at most (for the memory estimate before a run starts)."""

    name: str
    torch_class: str
    betas: bool = False
    momentum: bool = False
    nesterov: bool = False
    state_slots: int = 0


OPTIMIZER_RECORDS = {kind.name: kind for kind in (
    OptimizerRecord("adam", "Adam", betas=True, state_slots=2),  # two moments
    OptimizerRecord("adamw", "AdamW", betas=True, state_slots=2),
    OptimizerRecord("rmsprop", "RMSprop", momentum=True, state_slots=2),  # square average, momentum buffer
    OptimizerRecord("sgd", "SGD", momentum=True, nesterov=True, state_slots=1),  # momentum buffer
)}
OPTIMIZERS = tuple(OPTIMIZER_RECORDS)
NETWORKS = ("g", "d")
#: Above this a learning rate or weight decay is a typo, and the optimizers' float32 arithmetic
#: overflows near 1e38 with an error that names no option.
MAX_RATE = 1e3
#: More updates than this per iteration is a typo (WGAN-GP uses 5); a huge count would look like a hang.
MAX_UPDATES_PER_ITERATION = 100
#: More passes over the data than this is a typo; near 1e306 the step count is not even finite.
MAX_EPOCHS = 1e6


@dataclass(frozen=True)
class OptimizerSettings:
    """One network's optimizer: its name and the settings that name uses."""

    name: str = "adam"
    lr: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)  # adam, adamw
    momentum: float = 0.0  # sgd, rmsprop
    nesterov: bool = False  # sgd
    weight_decay: float = 0.0

    def replace(self, **changes: Any) -> "OptimizerSettings":
        return dataclasses.replace(self, **changes)


def _option(name: str, kind: Any, default: Any, help: str, **details: Any) -> Option:
    """A training option, declared as plugins' options are (``ganforge.options.Option``): ``kind`` is
    int, float, str, bool, or a structured kind below; ``details``: ``optional``, ``choices``,
    ``positive``, ``resumable``, ``flag``, ``bare``."""
    return Option(default, type=kind, help=help, name=name, **details)


ARCH_OPTIONS = "arch_options"  # kind: a mapping of architecture options (-O key=value)
STEP_OPTIONS = "step_options"  # kind: a mapping of step options (-S key=value)
NETWORK_OPTIM = "network_optim"  # kind: network name -> its optimizer settings (--optim NAME.KEY=VALUE)
NETWORK_TABLES = "network tables"  # the kind of NETWORK_OPTIM

OPTIONS: tuple[Option, ...] = (
    _option("arch", str, "dcgan", "Architecture plugin, e.g. gan, dcgan, cgan (see `ganforge plugins`)."),
    _option("loss", str, None, "Loss plugin (default: the architecture's, else nonsaturating).", optional=True),
    _option("step", str, None, "Step plugin: how an iteration updates the networks (default: the architecture's, "
           "else alternating: --d-steps D updates, then --g-steps G updates).", optional=True),
    _option("dataset", str, "mnist-5k", "mnist-5k (embedded), mnist, fashion-mnist, cifar10 or folder."),
    _option("data_root", str, "data", "Download directory, or the image directory for --dataset folder."),
    _option("subset", int, None, "Train on a seeded random subset of N images of the dataset (drawn with --seed).",
           optional=True, positive=True),
    _option("image_size", int, None, "Resize images to this square size (default: the dataset's; folder: 64).",
           optional=True, positive=True),
    _option("channels", int, None, "Image channels, 1 or 3 (default: the dataset's; folder: 3).", optional=True),
    _option("batch_size", int, 32, "Images per batch.", positive=True),
    _option("steps", int, 5000, "Training iterations (one round of D and G updates).", optional=True,
           positive=True, resumable=True),
    _option("epochs", float, None, "Train for this many passes over the data instead of --steps.",
           optional=True, positive=True, resumable=True),
    _option("latent_dim", int, 100, "Size of z.", positive=True),
    _option("latent_prior", str, "normal", "Distribution of z.", choices=LATENT_PRIORS),
    _option("d_steps", int, 1, "Discriminator updates per iteration.", positive=True),
    _option("g_steps", int, 1, "Generator updates per iteration.", positive=True),
    _option("g_optim", OptimizerSettings, OptimizerSettings(), "The generator's optimizer."),
    _option("d_optim", OptimizerSettings, OptimizerSettings(), "The discriminator's optimizer."),
    _option("ema", float, None, "Keep an exponential moving average of the generator's weights with this "
           "decay per iteration, e.g. 0.999, and sample, export and evaluate it instead of the trained "
           "generator (default: off).", optional=True),
    _option("augment", str, "none", "Augment every image the discriminator sees, real and fake, in both "
           "updates: none, or diffaugment (colour, translation, cutout; Zhao et al. 2020).",
           choices=AUGMENT_CHOICES),
    _option(ARCH_OPTIONS, dict, {}, "Architecture option KEY=VALUE (repeatable), e.g. -O ngf=64.",
           flag="--arch-option"),
    _option(NETWORK_OPTIM, NETWORK_TABLES, {}, "One named network's optimizer setting, NAME.KEY=VALUE (repeatable), "
           "e.g. --optim G_AB.lr=1e-4 or --optim D.optimizer=sgd; a network without one takes --g-* or --d-* by its role.",
           flag="--optim"),
    _option(STEP_OPTIONS, dict, {}, "Step option KEY=VALUE (repeatable), e.g. -S r1_gamma=0.1.", flag="--step-option"),
    _option("reuse_fake", bool, True, "The generator update reuses the last discriminator update's fake "
           "images (one generator forward fewer per iteration, as the plain PyTorch DCGAN script does)."),
    _option("channels_last", bool, None, "Run both networks and the data in channels_last memory format "
           "(default: on for the CPU, where it measured faster; off on other devices, where it is unmeasured).",
           optional=True),
    _option("precision", str, "fp32", "fp32, bf16 or fp16 (autocast; fp16 adds a gradient scaler).",
           choices=PRECISIONS),
    _option("compile", str, "none", "none; networks (also `--compile` alone): torch.compile G and D (start-up "
           "takes longer); cudagraphs: also capture CUDA graphs (CUDA only).", choices=COMPILE_CHOICES,
           bare="networks"),
    _option("sync_bn", bool, False, "With several processes (torchrun, --nproc): batch norm statistics over the "
           "global batch, not each process's share; the fused upsampling block then takes its reference path. "
           "No effect with one process."),
    _option("seed", int, 0, "Random seed."),
    _option("device", str, "auto", "auto, cpu, cuda, cuda:N or mps.", resumable=True),
    _option("log_every", int, 10, "Write metrics every N iterations.", positive=True, resumable=True),
    _option("sample_every", int, 500, "Save a fixed-noise sample grid every N iterations.", positive=True,
           resumable=True),
    _option("checkpoint_every", int, 1000, "Checkpoint every N iterations.", positive=True, resumable=True),
    _option("keep_checkpoints", int, 3, "Keep the last K periodic checkpoints, newest first; 0 keeps all.",
           resumable=True),
    _option("eval_every", int, None, "Measure the generator (FID-digits, coverage... see `ganforge eval`) every N "
           "iterations and at the end, into metrics.jsonl; digit datasets only (default: off).", optional=True,
           positive=True, resumable=True),
    _option("eval_n", int, DEFAULT_EVAL_N, "Generated samples per evaluation during training.", positive=True,
           resumable=True),
    _option("eval_metrics", str, DEFAULT_EVAL_METRICS, "Metrics of --eval-every, comma-separated: "
           f"{DEFAULT_EVAL_METRICS}.", resumable=True),
    _option("best_metric", str, None, f"With --eval-every: keep checkpoints/best.pt and generator-best.safetensors "
           f"for the best value of {', '.join(BEST_METRICS)} (default: {DEFAULT_BEST_METRIC}), or {NO_BEST}.",
           optional=True, resumable=True),
    _option("health", bool, True, "Warn about a discriminator that wins outright, non-finite losses and mode "
           "collapse (progress output and metrics.jsonl).", resumable=True),
    _option("on_problem", str, "warn", "What the health monitor does on a problem: warn, or rollback (restore the "
           "last checkpoint from before the problem began and go on with --remedy, at most --max-rollbacks times).",
           choices=ON_PROBLEM_CHOICES, resumable=True),
    _option("remedy", str, "auto", "With --on-problem rollback: lower-d-lr (D's learning rate x"
           f"{REMEDY_LR_FACTOR:g} per rollback), lower-lr (both networks'), or auto: lower-lr on a NaN/inf loss, "
           "else lower-d-lr.", choices=REMEDY_CHOICES, resumable=True),
    _option("max_rollbacks", int, 3, "With --on-problem rollback: roll back at most this many times, then only warn "
           "(a NaN/inf loss then stops the run).", resumable=True),
    _option("tensorboard", bool, False, "Also log scalars and sample grids for TensorBoard into RUN/tensorboard "
           f"({TENSORBOARD_HINT}).", resumable=True),
    _option("runs_dir", str, "runs", "Parent directory of run directories."),
    _option("run_name", str, None, "Run directory name (default: ARCH-DATE-TIME).", optional=True, flag="--name"),
)
OPTIONS_BY_NAME = {o.name: o for o in OPTIONS}

#: The optimizer settings' flag/flat-key suffixes: g_lr -> g_optim.lr, g_optimizer -> g_optim.name.
OPTIMIZER_KEYS = {"optimizer": "name", "lr": "lr", "betas": "betas", "momentum": "momentum",
                  "nesterov": "nesterov", "weight_decay": "weight_decay"}
OPTIMIZER_KINDS = {"name": str, "lr": float, "betas": tuple, "momentum": float, "nesterov": bool,
                   "weight_decay": float}
FLAT_OPTIMIZER_KEYS = {f"{net}_{suffix}": (f"{net}_optim", setting)
                       for net in NETWORKS for suffix, setting in OPTIMIZER_KEYS.items()}


def _methods() -> dict[str, Any]:
    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def update(self, values: Mapping[str, Any], source: str) -> None:
        """Set options from ``values`` (option names, flat optimizer keys, or dashed names),
        each checked against its declaration; ``source`` names where they came from in errors."""
        for key, value in values.items():
            key = str(key).replace("-", "_")
            if key in FLAT_OPTIMIZER_KEYS:
                net_field, setting = FLAT_OPTIMIZER_KEYS[key]
                current = getattr(self, net_field)
                setattr(self, net_field, current.replace(**{setting: _coerce_setting(setting, value, key, source)}))
            elif key in OPTIONS_BY_NAME:
                option = OPTIONS_BY_NAME[key]
                current = getattr(self, key)
                setattr(self, key, coerce(option, value, source, current))
            else:
                raise GanforgeError(f"{source}: unknown training option '{key}'")

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> Any:
        config = cls()
        config.update(values, source="config.json")
        return config

    return {"to_json": to_json, "to_dict": to_dict, "update": update, "from_dict": from_dict,
            "__module__": __name__}


TrainConfig = dataclasses.make_dataclass(
    "TrainConfig",
    [(o.name, Any, field(default_factory=(lambda d=o.default: dataclasses.replace(d) if dataclasses.is_dataclass(d)
                                           else type(d)(d) if isinstance(d, (dict, list)) else d)))
     for o in OPTIONS],
    namespace=_methods(),
)
TrainConfig.__doc__ = "Every training option of a run (see OPTIONS); saved as config.json."

#: The names a plugin's ``defaults`` and a TOML file may use.
OPTION_NAMES = frozenset(OPTIONS_BY_NAME) | frozenset(FLAT_OPTIMIZER_KEYS)


COMMAND_LINE = "command line"


def _label(name: str, source: str) -> str:
    """How an error names an option: as its flag for the command line, else as ``source: name``."""
    if source == COMMAND_LINE:
        option = OPTIONS_BY_NAME.get(name)
        return option.flag_name if option else "--" + name.replace("_", "-").replace(".", "-")
    return f"{source}: {name}"


def coerce(option: Option, value: Any, source: str, current: Any = None) -> Any:
    """``value`` as the option's kind, or a one-line error naming the option and ``source``."""
    where = _label(option.name, source)
    if value is None:
        if option.optional:
            return None
        raise GanforgeError(f"{where} cannot be empty")
    kind = option.type
    if kind is OptimizerSettings:
        return _coerce_optimizer(value, option.name, source, current or option.default)
    if kind == NETWORK_TABLES:
        return _coerce_network_tables(value, option.name, source, current or {})
    if kind is dict:
        if not isinstance(value, Mapping):
            raise GanforgeError(f"{where} must be a table of KEY = VALUE, got {value!r}")
        return {**(current or {}), **{str(k): v for k, v in value.items()}}
    result = _coerce_scalar(kind, value, where)
    if option.choices and result not in option.choices:
        raise GanforgeError(f"{where} must be one of {', '.join(option.choices)}, got '{result}'")
    return result


#: How a training option's error names what it takes.
_KIND_WORDS = {int: "a whole number", float: "a number", bool: "true or false", str: "a string"}


def _coerce_scalar(kind: Any, value: Any, where: str) -> Any:
    if kind is tuple:  # Adam's betas: two numbers, or "b1,b2"
        parts = value.split(",") if isinstance(value, str) else value
        try:
            b1, b2 = (_coerce_scalar(float, b, where) for b in parts)
        except (TypeError, ValueError):
            raise GanforgeError(f"{where} takes two numbers like 0.5,0.999, got {value!r}") from None
        return (b1, b2)
    if kind not in _KIND_WORDS:
        raise TypeError(f"unknown option kind {kind!r}")
    problem, result = parse_scalar(value, kind)  # the one rule, shared with the plugins' options
    if problem:
        what = "a finite number" if "finite" in problem else _KIND_WORDS[kind]
        raise GanforgeError(f"{where} must be {what}, got {value!r}")
    return result


def _coerce_setting(setting: str, value: Any, key: str, source: str) -> Any:
    if setting == "name" and isinstance(value, str):
        value = value.strip().lower()
    return _coerce_scalar(OPTIMIZER_KINDS[setting], value, _label(key, source))


def _coerce_optimizer(value: Any, name: str, source: str, current: OptimizerSettings) -> OptimizerSettings:
    where = _label(name, source)
    if isinstance(value, OptimizerSettings):
        return value
    if not isinstance(value, Mapping):
        raise GanforgeError(f"{where} must be a table like {{name = \"adam\", lr = 2e-4}}, got {value!r}")
    changes = {}
    for key, item in value.items():
        setting = OPTIMIZER_KEYS.get(key, key)
        if setting not in OPTIMIZER_KINDS:
            raise GanforgeError(f"{where} has no setting '{key}' (settings: {', '.join(OPTIMIZER_KINDS)})")
        changes[setting] = _coerce_setting(setting, item, f"{name}.{key}", source)
    return current.replace(**changes)


def _coerce_network_tables(value: Any, name: str, source: str, current: Mapping[str, Any]) -> dict[str, dict]:
    """``{network: {setting: value}}`` with each setting checked (``optimizer`` or ``name``, ``lr``...),
    merged over ``current``; the networks' names are checked against the step when the run is built."""
    where = _label(name, source)
    if not isinstance(value, Mapping) or not all(isinstance(v, Mapping) for v in value.values()):
        raise GanforgeError(f"{where} must be a table of networks, each a table like {{lr = 1e-4}}, got {value!r}")
    merged = {str(k): dict(v) for k, v in current.items()}
    for network, table in value.items():
        for key, item in table.items():
            setting = OPTIMIZER_KEYS.get(key, key)
            if setting not in OPTIMIZER_KINDS:
                raise GanforgeError(f"{where}: {network}.{key} is no optimizer setting (settings: "
                                    f"{', '.join(OPTIMIZER_KEYS)})")
            merged.setdefault(str(network), {})[setting] = _coerce_setting(setting, item, f"{name}.{network}.{key}",
                                                                           source)
    return merged


def network_settings(config: Any, name: str, role_settings: OptimizerSettings) -> OptimizerSettings:
    """The optimizer settings of network ``name``: its role's (``--g-*``/``--d-*``) with its own
    ``--optim NAME.KEY=VALUE`` on top."""
    own = config.network_optim.get(name, {})
    settings = role_settings.replace(**{k: tuple(v) if k == "betas" else v for k, v in own.items()})
    check_optimizer(settings, f"--optim {name}." if own else None)
    return settings


def read_toml(path: Path) -> dict[str, Any]:
    """The training options of a TOML file: top-level keys, or a ``[train]`` table."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib
    if not path.is_file():
        raise GanforgeError(f"config file not found: {path}")
    try:
        with path.open("rb") as f:
            data = tomllib.load(f)
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise GanforgeError(f"{path} is not valid TOML: {exc}") from None
    except OSError as exc:
        raise GanforgeError(f"cannot read config file {path}: {exc.strerror or exc}") from None
    table = data.get("train", data)
    if not isinstance(table, dict):
        raise GanforgeError(f"{path}: [train] must be a table of training options")
    return dict(table)


def plugin_defaults(defaults: Mapping[str, Any], where: str) -> dict[str, Any]:
    """A plugin's ``defaults`` mapping, after checking it names real training options."""
    if not isinstance(defaults, Mapping):
        raise InvalidPluginError(f"{where}: defaults must be a mapping of training option names to values")
    unknown = sorted(set(defaults) - OPTION_NAMES)
    if unknown:
        raise InvalidPluginError(f"{where}: defaults name unknown training option(s) {', '.join(unknown)}")
    return dict(defaults)


def check_optimizer(settings: OptimizerSettings, flag: Optional[str]) -> None:
    """One optimizer's settings, named in errors by ``flag`` + setting (``--g-lr``, ``--optim G_AB.lr``)."""
    if flag is None:
        return
    name = lambda setting: f"{flag}{setting}" if flag.startswith("--optim") else f"{flag}{setting.replace('_', '-')}"
    if settings.name not in OPTIMIZERS:
        raise GanforgeError(f"{name('optimizer')} must be one of {', '.join(OPTIMIZERS)}, got '{settings.name}'")
    if not settings.lr > 0:
        raise GanforgeError(f"{name('lr')} must be positive, got {settings.lr}")
    if not settings.lr <= MAX_RATE or not settings.weight_decay <= MAX_RATE:
        raise GanforgeError(f"{name('lr')} and {name('weight_decay')} must be at most {MAX_RATE:g} "
                            f"(got {settings.lr:g} and {settings.weight_decay:g})")
    if not settings.momentum < 1:
        raise GanforgeError(f"{name('momentum')} must be below 1, got {settings.momentum:g}")
    if not all(0 <= b < 1 for b in settings.betas):
        raise GanforgeError(f"{name('betas')} values must be in [0, 1), got {settings.betas}")
    if settings.momentum < 0 or settings.weight_decay < 0:
        raise GanforgeError(f"{name('momentum')} and {name('weight_decay')} must not be negative")
    if settings.nesterov and not settings.momentum > 0:
        raise GanforgeError(f"{name('nesterov')} needs a positive {name('momentum')}")


def validate(config: Any) -> None:
    """Reject combinations no run can use, before anything is written (single values were
    checked by ``coerce`` as they were set)."""
    for option in OPTIONS:
        value = getattr(config, option.name)
        if option.positive and value is not None and not value > 0:
            raise GanforgeError(f"{option.flag_name} must be positive, got {value}")
    if config.epochs is None and config.steps is None:
        raise GanforgeError("set --steps or --epochs")
    if config.epochs is not None and not config.epochs <= MAX_EPOCHS:
        raise GanforgeError(f"--epochs must be at most {MAX_EPOCHS:,.0f}, got {config.epochs:g}")
    for net in NETWORKS:
        updates = getattr(config, f"{net}_steps")
        if updates > MAX_UPDATES_PER_ITERATION:
            raise GanforgeError(f"--{net}-steps must be at most {MAX_UPDATES_PER_ITERATION} updates per iteration, "
                                f"got {updates}")
    for net in NETWORKS:
        check_optimizer(getattr(config, f"{net}_optim"), f"--{net}-")
    if config.keep_checkpoints < 0:
        raise GanforgeError(f"--keep-checkpoints must be 0 (keep all) or more, got {config.keep_checkpoints}")
    if not -2 ** 63 <= config.seed < 2 ** 63 - 1:
        raise GanforgeError(f"--seed must fit in 64 bits (-2**63 to 2**63-2), got {config.seed}")
    if config.run_name is not None and not config.run_name:
        raise GanforgeError("--name must not be empty")
    if config.ema is not None and not 0 < config.ema < 1:
        raise GanforgeError(f"--ema takes a decay between 0 and 1 (exclusive), e.g. 0.999, got {config.ema}")
    if config.channels not in (None, 1, 3):
        raise GanforgeError(f"--channels must be 1 or 3, got {config.channels}")
    validate_monitoring(config)
