"""The run configuration: one dataclass, assembled in one place.

Precedence, lowest first: these defaults < the architecture's defaults < the loss's
defaults < a ``--config`` TOML file < command-line flags.
"""

from __future__ import annotations

import dataclasses
import json
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Optional

from ..errors import GanforgeError, InvalidPluginError

OPTIMIZERS = ("adam", "rmsprop", "sgd")
LATENT_PRIORS = ("normal", "uniform")


@dataclass
class TrainConfig:
    arch: str = "dcgan"
    loss: Optional[str] = None  # None: the architecture's default, else "nonsaturating"
    dataset: str = "mnist-5k"
    data_root: str = "data"
    image_size: Optional[int] = None  # None: the dataset's own size
    channels: Optional[int] = None  # folder datasets: 1 (grayscale) or 3 (RGB, default)
    batch_size: int = 32
    steps: Optional[int] = 5000  # iterations; ignored when epochs is set
    epochs: Optional[float] = None
    latent_dim: int = 100
    latent_prior: str = "normal"
    d_steps: int = 1  # discriminator updates per iteration
    g_steps: int = 1  # generator updates per iteration
    g_optimizer: str = "adam"
    g_lr: float = 2e-4
    g_betas: tuple[float, float] = (0.5, 0.999)
    g_momentum: float = 0.0  # sgd and rmsprop
    g_nesterov: bool = False  # sgd
    d_optimizer: str = "adam"
    d_lr: float = 2e-4
    d_betas: tuple[float, float] = (0.5, 0.999)
    d_momentum: float = 0.0
    d_nesterov: bool = False
    arch_options: dict[str, Any] = field(default_factory=dict)
    seed: int = 0
    device: str = "auto"
    log_every: int = 10
    sample_every: int = 500
    checkpoint_every: int = 1000
    keep_checkpoints: int = 3  # periodic checkpoints kept, newest first; 0 keeps all
    runs_dir: str = "runs"
    run_name: Optional[str] = None

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> "TrainConfig":
        config = cls()
        config.update(values, source="config.json")
        return config

    def update(self, values: Mapping[str, Any], source: str) -> None:
        known = {f.name: f for f in dataclasses.fields(self)}
        for key, value in values.items():
            key = key.replace("-", "_")
            if key not in known:
                raise GanforgeError(f"{source}: unknown training option '{key}'")
            value = _checked(value, known[key].type, key, source)
            if key == "arch_options":
                value = {**self.arch_options, **value}
            setattr(self, key, value)


def _checked(value: Any, annotation: str, key: str, source: str) -> Any:
    """``value`` if it has the field's type (ints count as floats, a 2-list as betas), else a
    GanforgeError; the annotation is the field's type as written above."""
    optional = annotation.startswith("Optional[")
    base = annotation[len("Optional["):-1] if optional else annotation
    if value is None and optional:
        return None
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if base == "int" and isinstance(value, int) and not isinstance(value, bool):
        return value
    if base == "float" and number:
        return float(value)
    if base in ("str", "bool") and type(value).__name__ == base:
        return value
    if base.startswith("tuple") and isinstance(value, (list, tuple)) and len(value) == 2 and all(
            isinstance(b, (int, float)) and not isinstance(b, bool) for b in value):
        return tuple(float(b) for b in value)
    if base.startswith("dict") and isinstance(value, Mapping) and all(isinstance(k, str) for k in value):
        return dict(value)
    expected = {"int": "an integer", "float": "a number", "str": "a string", "bool": "true or false"}.get(
        base, "two numbers" if base.startswith("tuple") else "a table of KEY = VALUE")
    shown = repr(value) if len(repr(value)) <= 60 else repr(value)[:57] + "..."
    raise GanforgeError(f"{source}: training option '{key}' must be {expected}"
                        f"{' or none' if optional else ''}, got {shown}")


FIELD_NAMES = frozenset(f.name for f in dataclasses.fields(TrainConfig))


def read_toml(path: Path) -> dict[str, Any]:
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
    # Allow a [train] table or top-level keys.
    table = data.get("train", data)
    if not isinstance(table, dict):
        raise GanforgeError(f"{path}: [train] must be a table of KEY = VALUE, got {table!r:.60}")
    TrainConfig().update(table, source=str(path))  # names and types checked before anything uses them
    return dict(table)


def plugin_defaults(defaults: Mapping[str, Any], where: str) -> dict[str, Any]:
    """Check a plugin's ``defaults`` mapping names real training options."""
    unknown = sorted(set(defaults) - FIELD_NAMES)
    if unknown:
        raise InvalidPluginError(
            f"{where}: defaults name unknown training option(s) {', '.join(unknown)}"
        )
    return dict(defaults)


def validate(config: TrainConfig) -> None:
    """Reject values no run can use, before anything is written."""
    positive = ["batch_size", "latent_dim", "d_steps", "g_steps", "log_every", "sample_every",
                "checkpoint_every"]
    for name in positive:
        if int(getattr(config, name)) <= 0:
            raise GanforgeError(f"--{name.replace('_', '-')} must be positive, got {getattr(config, name)}")
    if not -2 ** 63 <= config.seed < 2 ** 63 - 1:
        raise GanforgeError(f"--seed must fit in 64 bits (-2**63 to 2**63-2), got {config.seed}")
    if config.keep_checkpoints < 0:
        raise GanforgeError(f"--keep-checkpoints must be 0 (keep all) or more, got {config.keep_checkpoints}")
    if config.epochs is None and (config.steps is None or config.steps <= 0):
        raise GanforgeError(f"--steps must be positive, got {config.steps}")
    if config.epochs is not None and not (0 < config.epochs < math.inf):
        raise GanforgeError(f"--epochs must be positive and finite, got {config.epochs}")
    if not config.run_name and config.run_name is not None:
        raise GanforgeError("--name must not be empty")
    for net in ("g", "d"):
        lr = getattr(config, f"{net}_lr")
        if not 0 < lr < math.inf:
            raise GanforgeError(f"--{net}-lr must be positive and finite, got {lr}")
        momentum, betas = getattr(config, f"{net}_momentum"), getattr(config, f"{net}_betas")
        if not 0 <= momentum < math.inf:
            raise GanforgeError(f"--{net}-momentum must be a finite number >= 0, got {momentum}")
        if not all(0 <= b < 1 for b in betas):
            raise GanforgeError(f"--{net}-betas values must be in [0, 1), got {betas}")
        opt = getattr(config, f"{net}_optimizer")
        if opt not in OPTIMIZERS:
            raise GanforgeError(f"--{net}-optimizer must be one of {', '.join(OPTIMIZERS)}, got '{opt}'")
        if getattr(config, f"{net}_nesterov") and not getattr(config, f"{net}_momentum") > 0:
            raise GanforgeError(f"--{net}-nesterov needs a positive --{net}-momentum")
    if config.latent_prior not in LATENT_PRIORS:
        raise GanforgeError(f"--latent-prior must be one of {', '.join(LATENT_PRIORS)}, got '{config.latent_prior}'")
    if config.image_size is not None and config.image_size <= 0:
        raise GanforgeError(f"--image-size must be positive, got {config.image_size}")
    if config.channels not in (None, 1, 3):
        raise GanforgeError(f"--channels must be 1 or 3, got {config.channels}")
