"""``TensorBoardLog``: the run's scalars (training logs, evaluations) and sample grids through
``torch.utils.tensorboard`` into ``RUN/tensorboard/`` (the optional ``tensorboard`` extra).

Grids are read back from the PNG files the sample hook wrote, so no generator runs twice. A
resumed or rolled-back run purges the events after its checkpoint's step, as metrics.jsonl is
truncated.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from ..loop.driver import PeriodicHook, RunDriver
from ..loop.rundir import SAMPLES_DIR, TENSORBOARD_DIR

NOT_SCALARS = {"step", "epoch"}


class TensorBoardLog(PeriodicHook):
    """Scalars of every log and evaluation record, health warnings as text, and a sample grid
    every ``sample_every`` steps and at the end."""

    def __init__(self, sample_every: int):
        super().__init__(sample_every)
        self.writer = None

    def on_start(self, driver: RunDriver) -> None:
        self._open(driver, purge=driver.step > 0)

    def on_rollback(self, driver: RunDriver, record: dict) -> None:
        self.close()
        self._open(driver, purge=True)  # the abandoned steps' events go, as from metrics.jsonl
        self.on_record(driver, record)

    def _open(self, driver: RunDriver, purge: bool) -> None:
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(str(driver.run_dir / TENSORBOARD_DIR), purge_step=driver.step + 1 if purge else None)

    def on_log(self, driver: RunDriver, record: dict) -> None:
        self._scalars("train", record)

    def on_record(self, driver: RunDriver, record: dict) -> None:
        if "health" in record:
            self.writer.add_text("health", f"step {record['step']}: {record['message']}", record["step"])
        else:
            self._scalars("eval", record)

    def on_end(self, driver: RunDriver) -> None:
        super().on_end(driver)
        self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None

    def _scalars(self, group: str, record: dict) -> None:
        step = record["step"]
        for key, value in record.items():
            if key not in NOT_SCALARS and isinstance(value, (int, float)) and not isinstance(value, bool):
                self.writer.add_scalar(f"{group}/{key}", value, step)

    def act(self, driver: RunDriver) -> Optional[Path]:
        import numpy as np
        from PIL import Image

        path = driver.run_dir / SAMPLES_DIR / f"step-{driver.step:06d}.png"
        if not path.is_file():
            return None
        with Image.open(path) as image:
            pixels = np.asarray(image.convert("RGB"))
        self.writer.add_image("samples", pixels, driver.step, dataformats="HWC")
        return path
