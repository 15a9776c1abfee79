"""Refusing datasets that cannot fit in memory before allocating them."""

from __future__ import annotations

import os
from typing import Optional

from ..errors import GanforgeError

GIB = 1024 ** 3
RESIZE_CHUNK = 1024  # images converted to float32 at a time while resizing


def available_memory() -> Optional[int]:
    """Bytes of memory available to a new allocation: MemAvailable from /proc/meminfo on Linux,
    else free physical pages where the OS reports them; None when unknown."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, OSError, ValueError):
        return None


def resize_bytes(n: int, channels: int, size: int, source_pixels: int) -> int:
    """Peak bytes of resizing ``n`` images to ``size`` x ``size``: the uint8 result plus one
    chunk in float32 (its input at ``source_pixels`` per channel and its output)."""
    chunk = min(n, RESIZE_CHUNK)
    return n * channels * size * size + chunk * channels * (source_pixels + size * size) * 4


def check_fits(needed: int, what: str, option: str, available: Optional[int] = None) -> None:
    """GanforgeError when ``needed`` bytes exceed the available memory (unknown: no check)."""
    available = available_memory() if available is None else available
    if available is not None and needed > available:
        raise GanforgeError(
            f"{what} needs about {needed / GIB:,.1f} GiB of memory but only {available / GIB:,.1f} GiB "
            f"is available; lower {option}"
        )
