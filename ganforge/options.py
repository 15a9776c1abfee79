"""Options: typed declarations (of plugins, and of training itself), and the one rule that parses a value.

An architecture's ``options`` maps names to either a plain default (``"ngf": 64``: the type
is the default's, one of int, float, bool, str) or an ``Option`` that also carries choices,
a range and a help line. ``declarations`` checks them when the plugin loads;
``resolve_options`` turns a user's values (``-O key=value`` strings, TOML or JSON values)
into the checked values the networks are built from. Imports only the standard library.
"""

from __future__ import annotations

import builtins
import difflib
import math
from dataclasses import dataclass
from typing import Any, Mapping, Optional

from .errors import InvalidOptionError, InvalidPluginError
from .words import bool_word

#: The types an option may have; anything else (lists, tuples, dicts) is refused at load.
SCALAR_TYPES = (bool, int, float, str)
NONE_WORDS = frozenset({"none", "null"})


class _NoLegacy:
    def __repr__(self) -> str:
        return "NO_LEGACY"


#: ``Option.legacy`` when runs saved before the option existed need nothing special.
NO_LEGACY = _NoLegacy()


@dataclass(frozen=True)
class Option:
    """A declared option: of a plugin (architecture or step, ``-O``/``-S``) or of training itself
    (``ganforge.training.setup.config.OPTIONS``, which also names it and says how its flag works).

    ``type`` is one of int, float, bool, str (default: the default's type). ``choices``
    limits the values; ``min`` and ``max`` bound a number (both inclusive). A default of
    None needs an explicit ``type`` and means "not set": the user may set a value of that
    type, or ``none``. ``legacy`` is the value a run saved before the option existed must
    keep when it is resumed (when a new option changes what the old behaviour was).

    The fields after ``legacy`` are ganforge's own training options' (plugins leave them): its
    ``name``; ``optional`` (None is a value); ``positive`` (above 0); ``resumable`` (may change on
    ``--resume``); ``flag`` (the command-line flag, else ``--name-with-dashes``) and ``bare`` (the
    value of a flag given alone). A training option's ``type`` may also be a structured kind
    (an optimizer's settings, a table of options).
    """

    default: Any
    type: Optional[Any] = None
    choices: Optional[tuple] = None
    min: Optional[float] = None
    max: Optional[float] = None
    help: str = ""
    legacy: Any = NO_LEGACY
    name: str = ""
    optional: bool = False
    positive: bool = False
    resumable: bool = False
    flag: Optional[str] = None
    bare: Optional[str] = None

    @property
    def flag_name(self) -> str:
        return self.flag or "--" + self.name.replace("_", "-")


def declarations(options: Any, where: str) -> dict[str, Option]:
    """Every option as a complete ``Option`` (type filled in), or InvalidPluginError naming
    the option whose declaration is not usable. ``where`` names the plugin."""
    if not isinstance(options, Mapping):
        raise InvalidPluginError(f"{where}: options must be a mapping of option names to defaults, "
                                 f"got {builtins.type(options).__name__}")
    return {key: _declaration(key, value, where) for key, value in options.items()}


def resolve_options(options: Any, given: Optional[Mapping[str, Any]], owner: str) -> dict[str, Any]:
    """The declared defaults overridden by ``given``, each value of its declared type.

    Strings (from ``-O key=value``) are parsed to the type; other values (TOML, JSON) must
    already have it (an int is accepted for a float). Values are checked against choices
    and range; unknown keys are refused with the list of known ones. ``owner`` starts every
    message, e.g. ``architecture 'dcgan'``. Raises InvalidOptionError (a GanforgeError).
    """
    declared = declarations(options, owner)
    given = dict(given or {})
    unknown = sorted(set(given) - set(declared))
    if unknown:
        known = ", ".join(sorted(declared)) or "none"
        close = difflib.get_close_matches(unknown[0], list(declared), n=1)
        hint = f"; did you mean '{close[0]}'?" if len(unknown) == 1 and close else ""
        raise InvalidOptionError(f"{owner} has no option {', '.join(unknown)}{hint} (options: {known})")
    resolved = {key: option.default for key, option in declared.items()}
    for key, value in given.items():
        problem, resolved[key] = _convert(value, declared[key])
        if problem:
            raise InvalidOptionError(f"{owner}: option {key}={_show(value)}: {problem}")
    return resolved


def with_legacy_values(options: Any, saved: Mapping[str, Any], owner: str) -> dict[str, Any]:
    """A saved run's option values, plus the ``legacy`` value of every declared option the
    run was saved without (it predates the option), so that resuming rebuilds its networks."""
    declared = declarations(options, owner)
    added = {key: option.legacy for key, option in declared.items()
             if key not in saved and option.legacy is not NO_LEGACY}
    return {**saved, **added}


def describe(option: Option) -> str:
    """One line for listings: type, default, choices and range."""
    text = f"{option.type.__name__} = {_show(option.default)}"
    if option.choices is not None:
        text += f", one of {_or_list([_show(c) for c in option.choices])}"
    if option.min is not None or option.max is not None:
        text += f", {_range(option)}"
    return text


def _declaration(key: Any, value: Any, where: str) -> Option:
    if not isinstance(key, str) or not key:
        raise InvalidPluginError(f"{where}: option names must be non-empty strings, got {key!r}")
    option = value if isinstance(value, Option) else Option(value)
    kind = option.type
    if kind is None:
        kind = _scalar_type(option.default)
        if kind is None:
            if option.default is None:
                raise InvalidPluginError(f"{where}: option '{key}' has default None and no type; declare it "
                                         f"as Option(None, type=int) (or float, bool, str)")
            raise InvalidPluginError(
                f"{where}: option '{key}' has default {option.default!r}, a "
                f"{builtins.type(option.default).__name__}; option defaults must be int, float, bool or str "
                f"(for a list, use a string such as \"64,128\" and split it yourself)")
    elif kind not in SCALAR_TYPES:
        raise InvalidPluginError(f"{where}: option '{key}' declares type {getattr(kind, '__name__', kind)}; "
                                 f"the type must be int, float, bool or str")
    def bad(message: str) -> InvalidPluginError:
        return InvalidPluginError(f"{where}: option '{key}': {message}")

    default = option.default
    if default is not None:
        problem, default = _typed(default, kind)
        if problem:
            raise bad(f"default {option.default!r} {problem}")
    choices = option.choices
    if choices is not None:
        if isinstance(choices, (str, bytes)) or not hasattr(choices, "__iter__"):
            raise bad(f"choices must be a tuple of values, got {choices!r}")
        typed = []
        for choice in choices:
            problem, choice = _typed(choice, kind)
            if problem:
                raise bad(f"choice {choice!r} {problem}")
            typed.append(choice)
        if not typed:
            raise bad("choices is empty")
        choices = tuple(typed)
    for name in ("min", "max"):
        bound = getattr(option, name)
        if bound is not None and (kind not in (int, float) or isinstance(bound, bool)
                                  or not isinstance(bound, (int, float))):
            raise bad(f"{name} is {bound!r}; min and max bound int and float options with numbers")
    if option.min is not None and option.max is not None and option.min > option.max:
        raise bad(f"min {option.min} is greater than max {option.max}")
    if not isinstance(option.help, str):
        raise bad("help must be a string")
    legacy = option.legacy
    if legacy is not NO_LEGACY:
        problem, legacy = _typed(legacy, kind)
        if problem:
            raise bad(f"legacy {option.legacy!r} {problem}")
    complete = Option(default, kind, choices, option.min, option.max, option.help, legacy)
    if default is not None:
        problem = _outside(default, complete)
        if problem:
            raise bad(f"default {_show(default)} {problem}")
    return complete


def _scalar_type(value: Any) -> Optional[type]:
    for kind in SCALAR_TYPES:  # bool before int: True is an int too
        if isinstance(value, kind):
            return kind
    return None


def _typed(value: Any, kind: type) -> tuple[str, Any]:
    """(problem, value): a non-string value checked against ``kind`` (int widens to float)."""
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if kind is not bool and isinstance(value, bool) or not isinstance(value, kind):
        return f"is not {_a(kind)}", value
    if kind is float and not math.isfinite(value):
        return "is not a finite number", value
    return "", value


def parse_scalar(value: Any, kind: type) -> tuple[str, Any]:
    """The one rule for a user's value of an int, float, bool or str option, whoever declared it
    (a plugin's ``-O``/``-S`` option or a training option): a string (command line, ``KEY=VALUE``)
    is parsed, a TOML/JSON value must already be of the kind (an int widens to float; bools take
    the words of ``ganforge.words``). Returns (problem, value); the problem is "" when it is fine,
    else "expected int" / "expected a finite float" / ..., which each caller words in its own line."""
    if isinstance(value, str) and kind is not str:
        text = value.strip()
        try:
            if kind is bool:
                if bool_word(text) is None:
                    return "expected bool (true/false, yes/no, on/off or 1/0)", value
                value = bool_word(text)
            else:
                value = kind(text)
        except ValueError:
            return f"expected {kind.__name__}", value
    problem, value = _typed(value, kind)
    if problem:
        return ("expected a finite float" if "finite" in problem else f"expected {kind.__name__}"), value
    return "", value


def _convert(value: Any, option: Option) -> tuple[str, Any]:
    """(problem, value) for one user value: parsed when a string, then checked."""
    kind = option.type
    if value is None or (isinstance(value, str) and option.default is None
                         and value.strip().lower() in NONE_WORDS):
        return ("", None) if option.default is None else (f"expected {kind.__name__}", value)
    problem, value = parse_scalar(value, kind)
    if problem:
        return problem, value
    return _outside(value, option), value


def _outside(value: Any, option: Option) -> str:
    if option.choices is not None and value not in option.choices:
        return f"must be one of {_or_list([_plain(c) for c in option.choices])}"
    low, high = option.min, option.max
    if (low is not None and value < low) or (high is not None and value > high):
        return f"must be {_range(option)}"
    return ""


def _range(option: Option) -> str:
    if option.min is not None and option.max is not None:
        return f"between {option.min} and {option.max}"
    return f"at least {option.min}" if option.min is not None else f"at most {option.max}"


def _show(value: Any) -> str:
    return repr(value) if isinstance(value, str) else str(value)


def _plain(value: Any) -> str:
    return str(value)


def _a(kind: type) -> str:
    return f"an {kind.__name__}" if kind is int else f"a {kind.__name__}"


def _or_list(values: list[str]) -> str:
    return values[0] if len(values) == 1 else ", ".join(values[:-1]) + " or " + values[-1]


__all__ = ["Option", "declarations", "resolve_options", "describe", "parse_scalar", "SCALAR_TYPES"]
