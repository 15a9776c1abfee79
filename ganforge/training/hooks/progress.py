"""Progress: a live rich bar on a terminal, plain periodic lines otherwise."""

from __future__ import annotations

import sys
import time


#: How the summary names the main phases' losses; other phases' show as their prefix (``d_reg 0.012``).
_LOSS_LABELS = {"d_loss": "D", "g_loss": "G"}


def _summary(metrics: dict) -> str:
    losses = sorted((key not in _LOSS_LABELS, key, value) for key, value in metrics.items()
                    if key.endswith("_loss") and isinstance(value, (int, float)))  # D, G, then the others by name
    text = "".join(f"{_LOSS_LABELS.get(key, key[:-len('_loss')])} {value:.3f}  " for _, key, value in losses)
    if "d_acc_real" in metrics:
        text += f"acc real {metrics['d_acc_real']:.2f} fake {metrics['d_acc_fake']:.2f}  "
    return text + f"{metrics['img_per_s']:.0f} img/s"


class Progress:
    """Use as a context manager; call ``update(step, metrics)`` after each logged step."""

    def __init__(self, total: int, start: int, description: str, stream=None, plain_every_s: float = 10.0,
                 live: bool | None = None):
        self.total, self.start, self.description = total, start, description
        self.stream = stream or sys.stderr
        self.live = self.stream.isatty() if live is None else live
        self.plain_every_s = plain_every_s
        self._last_plain = 0.0

    def __enter__(self) -> "Progress":
        if self.live:
            from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn, \
                TimeRemainingColumn
            from rich.progress import Progress as RichProgress
            from rich.console import Console

            self._bar = RichProgress(
                TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                TimeElapsedColumn(), TextColumn("<"), TimeRemainingColumn(), TextColumn("{task.fields[info]}"),
                console=Console(file=self.stream),
            )
            self._bar.__enter__()
            self._task = self._bar.add_task(self.description, total=self.total, completed=self.start, info="")
        return self

    def update(self, step: int, metrics: dict) -> None:
        if self.live:
            self._bar.update(self._task, completed=step, info=_summary(metrics))
            return
        now = time.monotonic()
        if now - self._last_plain >= self.plain_every_s or step == self.total:
            self._last_plain = now
            print(f"{self.description} step {step}/{self.total}  {_summary(metrics)}", file=self.stream, flush=True)

    def note(self, line: str) -> None:
        """One line of its own (a warning, an evaluation), above the live bar on a terminal."""
        if self.live:
            self._bar.console.print(line, markup=False, highlight=False)
        else:
            print(line, file=self.stream, flush=True)

    def __exit__(self, *exc) -> None:
        if self.live:
            self._bar.__exit__(*exc)
