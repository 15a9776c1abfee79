"""The one rule for true/false words, wherever text becomes a bool: ``-O key=value``, training
options from the command line or TOML, and the ``GANFORGE_*`` switches in the environment.
Imports nothing of ganforge."""

from __future__ import annotations

import os
from typing import Optional

TRUE_WORDS = frozenset({"true", "1", "yes", "on"})
FALSE_WORDS = frozenset({"false", "0", "no", "off"})


def bool_word(text: str) -> Optional[bool]:
    """True or False for a true/false word (any case, surrounding blanks ignored), else None."""
    word = text.strip().lower()
    return True if word in TRUE_WORDS else False if word in FALSE_WORDS else None


def env_switch(name: str) -> bool:
    """An environment switch: on when the variable holds a true word."""
    return bool_word(os.environ.get(name, "")) is True
