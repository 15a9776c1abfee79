"""Refusing what cannot fit in memory: estimates checked before allocating, and allocation
failures turned into one line naming the option to lower."""

from __future__ import annotations

import os
from typing import Optional

from .errors import GanforgeError

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


def is_out_of_memory(exc: BaseException) -> bool:
    """An allocation failure: MemoryError, torch's OutOfMemoryError, the CPU allocator's
    RuntimeError ("can't allocate memory"), or a size too large to even compute."""
    if isinstance(exc, (MemoryError, OverflowError)) or type(exc).__name__ == "OutOfMemoryError":
        return True
    text = str(exc)
    return isinstance(exc, RuntimeError) and any(
        s in text for s in ("can't allocate memory", "out of memory", "Storage size calculation overflowed"))


class network_memory_guard:
    """Context manager: an allocation failure inside becomes a one-line GanforgeError saying
    what ran out of memory and which options make it smaller."""

    def __init__(self, what: str, options: str):
        self.what, self.options = what, options

    def __enter__(self) -> "network_memory_guard":
        return self

    def __exit__(self, kind, exc, tb) -> bool:
        if exc is not None and is_out_of_memory(exc):
            import re

            asked = re.search(r"allocate (\d+) bytes", str(exc))
            size = f"tried to allocate {int(asked.group(1)) / GIB:,.1f} GiB" if asked else type(exc).__name__
            raise GanforgeError(f"{self.what} ran out of memory ({size}); lower {self.options}") from exc
        return False
