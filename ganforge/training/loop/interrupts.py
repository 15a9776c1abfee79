"""Graceful stops: the first Ctrl-C (SIGINT) or SIGTERM asks the run to stop after the current
step; a second one stops at once by raising KeyboardInterrupt.

A stop at once never corrupts the run directory: every file that matters is written atomically,
so the last complete checkpoint stays loadable.
"""

from __future__ import annotations

import signal
import threading
from typing import Optional

HANDLED = (signal.SIGINT, signal.SIGTERM)


class StopOnSignal:
    """Context manager; while active, ``requested`` turns true at the first SIGINT/SIGTERM.

    Outside the main thread (where Python cannot install handlers) it does nothing.
    """

    def __init__(self, signals: tuple[int, ...] = HANDLED):
        self.signals = signals
        self.signum: Optional[int] = None
        self._previous: dict[int, object] = {}

    @property
    def requested(self) -> bool:
        return self.signum is not None

    def __call__(self) -> bool:
        return self.requested

    @property
    def exit_code(self) -> int:
        """The shell's code for death by that signal: 130 for SIGINT, 143 for SIGTERM."""
        return 128 + int(self.signum) if self.signum is not None else 0

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name if self.signum is not None else ""

    def _handle(self, signum, frame) -> None:
        if self.signum is not None:
            raise KeyboardInterrupt(f"second {signal.Signals(signum).name}")
        self.signum = signum

    def __enter__(self) -> "StopOnSignal":
        if threading.current_thread() is threading.main_thread():
            for sig in self.signals:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()
