"""The user cache directory and checksummed files in it.

Where: ``$GANFORGE_CACHE_DIR``, else ``$XDG_CACHE_HOME/ganforge``, else ``~/.cache/ganforge``.
A cached file ``NAME`` has a sidecar ``NAME.sha256`` holding its hex digest; a file whose digest
does not match (truncated, edited, half-written by a killed process) counts as missing.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Optional

from ..files import atomic_write, checksum_path, sha256_file

CACHE_ENV = "GANFORGE_CACHE_DIR"


def cache_dir() -> Path:
    explicit = os.environ.get(CACHE_ENV, "").strip()
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME", "").strip()
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "ganforge"


def verified_digest(path: Path) -> Optional[str]:
    """The file's sha256 if it exists and matches its sidecar checksum, else None."""
    try:
        expected = checksum_path(path).read_text().split()[0].strip().lower()
        actual = sha256_file(path)
    except (OSError, IndexError, UnicodeDecodeError):
        return None
    return actual if actual == expected else None


def write_with_checksum(path: Path, write: Callable[[Path], None]) -> str:
    """Write ``path`` atomically, then its checksum sidecar; returns the sha256.

    The data file goes first: a crash between the two leaves a stale or missing checksum, which
    reads as a corrupt entry and is rebuilt, never as a wrong file accepted."""
    atomic_write(path, write, make_parents=True)
    digest = sha256_file(path)
    atomic_write(checksum_path(path), lambda tmp: tmp.write_text(digest + "\n"))
    return digest
