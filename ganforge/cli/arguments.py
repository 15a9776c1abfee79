"""Options that take a value, checked on the raw command line before typer parses it.

A parser gives a valued option the next word whatever it is, so ``--precision --steps 2``
sets the precision to "--steps" and then complains about a stray "2", naming the wrong
option. Here a valued option followed by nothing or by another option is reported as
missing its value, naming the option and what it takes; an option with a ``bare`` value
(``--compile`` alone means ``networks``) gets that value instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Optional, Sequence

from ..errors import GanforgeError

END_OF_OPTIONS = "--"
HELP_FLAGS = ("-h", "--help")


@dataclass(frozen=True)
class ValuedOption:
    flags: tuple[str, ...]  # e.g. ("--arch-option", "-O")
    choices: Optional[tuple[str, ...]] = None
    hint: str = ""  # what the value is, for options without choices
    bare: Optional[str] = None  # the value the option takes when it is given alone

    def missing(self, flag: str) -> GanforgeError:
        """The error for ``flag`` (as the user typed it) given without its value."""
        if self.choices:
            return GanforgeError(f"`{flag}` needs one of {', '.join(self.choices)}")
        return GanforgeError(f"`{flag}` needs a value" + (f": {self.hint.rstrip('.')}" if self.hint else ""))


def by_flag(options: Sequence[ValuedOption]) -> dict[str, ValuedOption]:
    return {flag: option for option in options for flag in option.flags}


def fill_values(args: Sequence[str], options: Mapping[str, ValuedOption]) -> list[str]:
    """``args`` with every bare option's value filled in; raises GanforgeError for a valued
    option whose value is missing. ``--flag=value`` and words after ``--`` are left alone."""
    out: list[str] = []
    i = 0
    while i < len(args):
        word = args[i]
        out.append(word)
        i += 1
        if word == END_OF_OPTIONS:
            out.extend(args[i:])
            break
        option = options.get(word)
        if option is None:
            continue
        if i == len(args) or _is_option(args[i], options):
            if option.bare is None:
                raise option.missing(word)
            out.append(option.bare)
            continue
        out.append(args[i])
        i += 1
    return out


def _is_option(word: str, options: Mapping[str, ValuedOption]) -> bool:
    """A long option, or one of the known short ones (a negative number is a value)."""
    return word.startswith("--") or word in options or word in HELP_FLAGS
