"""A run's configuration as the ``ganforge train`` command line that trains it again.

The command is ``ganforge train ARCH`` plus one flag per option whose value differs from what
that bare command would use: ganforge's defaults under the architecture's and the loss's own
(``assemble.resolve_config``; likewise the step's), so an option the run set back to ganforge's default against a
plugin's default is still given. Where the run was written (``--runs-dir``, ``--name``) is left
out: the command makes a new run directory. Also the one home of the flag names the CLI
generates for the optimizer settings and the ``--no-`` switches.
"""

from __future__ import annotations

import dataclasses
import shlex
from typing import Any, Sequence

from ...options import Option
from .config import ARCH_OPTIONS, NETWORK_OPTIM, OPTIMIZER_KEYS, STEP_OPTIONS, OPTIONS, OptimizerSettings, TrainConfig

#: Options that say where a run is written, not what it trains (``arch`` is the command's argument).
NOT_FLAGS = ("arch", "runs_dir", "run_name")


def optimizer_flag(net: str, suffix: str) -> str:
    """The flag of one network's optimizer setting: ``--g-lr``, ``--d-weight-decay``..."""
    return f"--{net}-{suffix.replace('_', '-')}"


def negative_flag(flag: str) -> str:
    """The switch that turns a boolean option off: ``--reuse-fake`` -> ``--no-reuse-fake``."""
    return "--no-" + flag[2:]


def train_command(config: TrainConfig, extra: Sequence[str] = ()) -> str:
    """``ganforge train ARCH --flag value ...`` (then ``extra``), quoted for a POSIX shell.
    Loads the run's plugins; raises GanforgeError when they cannot be loaded here."""
    from .assemble import resolve_config

    with_arch_plugins, _ = resolve_config({"arch": config.arch})
    with_run_plugins, _ = resolve_config({"arch": config.arch, "loss": config.loss, "step": config.step})
    defaults = dataclasses.replace(with_run_plugins, loss=with_arch_plugins.loss, step=with_arch_plugins.step)
    words = ["ganforge", "train", config.arch]
    for option in OPTIONS:
        if option.name not in NOT_FLAGS:
            words += option_flags(option, getattr(config, option.name), getattr(defaults, option.name))
    return " ".join(shlex.quote(word) for word in [*words, *extra])


def option_flags(option: Option, value: Any, default: Any) -> list[str]:
    """The words that set ``option`` to ``value`` on the command line (none when it is ``default``;
    none for None, which no flag can say)."""
    if value is None or value == default:
        return []
    if option.type is OptimizerSettings:
        net = option.name[0]
        return [word for suffix, setting in OPTIMIZER_KEYS.items()
                if getattr(value, setting) != getattr(default, setting)
                for word in _setting(optimizer_flag(net, suffix), getattr(value, setting))]
    if option.name == NETWORK_OPTIM:
        flags = {setting: suffix for suffix, setting in OPTIMIZER_KEYS.items()}
        return [word for network, table in value.items() for setting, item in table.items()
                if default.get(network, {}).get(setting) != item
                for word in (option.flag_name, f"{network}.{flags[setting]}={_text(item)}")]
    if option.name in (ARCH_OPTIONS, STEP_OPTIONS):
        return [word for key, item in value.items() if key not in default or default[key] != item
                for word in (option.flag_name, f"{key}={_text(item)}")]
    return _setting(option.flag_name, value)


def _setting(flag: str, value: Any) -> list[str]:
    if isinstance(value, bool):
        return [flag if value else negative_flag(flag)]
    return [flag, _text(value)]


def _text(value: Any) -> str:
    """A value as the CLI parses it back: true/false, none, ``b1,b2`` for Adam's betas."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "none"
    if isinstance(value, (tuple, list)):
        return ",".join(map(_text, value))
    return str(value)
