"""ganforge: a plugin-based toolkit for training GANs on PyTorch.

Importing this package is cheap: it imports neither torch nor any plugin. ``train`` and
``resume`` are the run API (``ganforge.api``), ``evaluate`` and ``compare`` the evaluation API
(``ganforge.eval_api``), each imported on first call.
"""

from pathlib import Path
from typing import Any

__version__ = "0.1.0"


def train(arch: "str | None" = None, *, repeats: "int | None" = None, **options: Any) -> Path:
    """Train a new run and return its directory; see ``ganforge.api.train``. With ``repeats=N``:
    N runs of the recipe (seeds ``seed`` .. ``seed + N - 1``, ``repeat_jobs`` at a time), each
    evaluated and summarised; returns the repeat directory (see ``ganforge.repeat``)."""
    if repeats is not None:
        from .repeat import train_repeats

        return train_repeats(arch, repeats, **options)
    from .api import train as _train

    return _train(arch, **options)


def resume(run_dir: "str | Path", **overrides: Any) -> Path:
    """Continue a run (or a repeat of runs) from its last checkpoint; see ``ganforge.api.resume``."""
    from .repeat import is_repeat_dir

    if is_repeat_dir(Path(run_dir)):
        from .repeat import resume_repeats

        return resume_repeats(Path(run_dir), **overrides)
    from .api import resume as _resume

    return _resume(run_dir, **overrides)


def evaluate(source: "str | Path", **options: Any) -> dict:
    """The report ``ganforge eval`` writes, as a dict; see ``ganforge.eval_api.evaluate``."""
    from .eval_api import evaluate as _evaluate

    return _evaluate(source, **options)


def compare(a: Any, b: Any) -> dict:
    """``ganforge compare A B`` as a dict; see ``ganforge.eval_api.compare``."""
    from .eval_api import compare as _compare

    return _compare(a, b)
