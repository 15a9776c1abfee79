"""The run driver: owns time. It repeats the update step, keeps the metrics on the device
between log steps, calls its hooks (metrics file, progress, samples, checkpoints, plots) and
holds everything a checkpoint must restore. Nothing here knows the architecture or the loss.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Callable, Optional, Sequence

import torch

from ...data import InMemoryBatches
from ...errors import GanforgeError
from ..setup.assemble import Run
from .checkpoint import check_networks, checkpoint_at_or_before, rng_state, set_rng_state
from .failures import explain
from .health_checks import NON_FINITE, non_finite_message
from .rollback import RollbackRequest
from ..step.engine import UpdateStep


class NonFiniteLoss(GanforgeError):
    """A logged metric became NaN or infinite: the run stops, its last checkpoint is kept."""


class Hook:
    """Called by the driver. Override what you need; ``name`` keys the hook's checkpointed state."""

    name = ""

    def on_start(self, driver: "RunDriver") -> None: ...

    def on_step(self, driver: "RunDriver") -> None: ...

    def on_log(self, driver: "RunDriver", record: dict) -> None: ...

    def on_record(self, driver: "RunDriver", record: dict) -> None:
        """A record another hook published (an evaluation, a health warning), not a training log."""

    def on_end(self, driver: "RunDriver") -> None: ...

    def on_rollback(self, driver: "RunDriver", record: dict) -> None:
        """The run was just restored from a checkpoint (``driver.step`` went back) and changed by a
        remedy; ``record`` says so. By default handled like any published record."""
        self.on_record(driver, record)

    def close(self) -> None:
        """Always called last, also when the run fails or is interrupted."""

    def output_generator(self) -> Optional[torch.nn.Module]:
        """A generator to sample, evaluate and export instead of the trained one (e.g. an
        average of it), or None."""
        return None

    def state_dict(self) -> Optional[dict]:
        return None

    def load_state_dict(self, state: dict) -> None: ...


class PeriodicHook(Hook):
    """A hook that acts every ``every`` steps, and once more at the end unless the last step
    was one of those."""

    def __init__(self, every: int):
        self.every = every

    def act(self, driver: "RunDriver") -> None:
        raise NotImplementedError

    def on_step(self, driver: "RunDriver") -> None:
        if driver.step % self.every == 0:
            self.act(driver)

    def on_end(self, driver: "RunDriver") -> None:
        if driver.step % self.every != 0:
            self.act(driver)


class RunDriver:
    def __init__(self, run: Run, run_dir: Path, hooks: Sequence[Hook] = (), parallel=None):
        self.run = run
        self.run_dir = run_dir
        c = run.config
        self.step = 0
        self.total_steps = run.total_steps
        # parallel: training/distributed.Parallel when this is one process of several, else None
        self.parallel = parallel
        part = (0, 1) if parallel is None else (parallel.rank, parallel.world_size)
        self.batches = InMemoryBatches(run.data, c.batch_size, run.device, torch.Generator().manual_seed(c.seed),
                                       part=part)
        self.update = UpdateStep.for_run(run) if parallel is None else parallel.update_step(run)
        self.hooks = list(hooks)
        self.stop_requested: Callable[[], bool] = lambda: False  # true: stop after the current step
        self.interrupted = False  # run_steps returned early on a stop request
        self.last_record: dict = {}
        self.pending_rollback: Optional[RollbackRequest] = None  # carried out after the current step
        self._sums: dict[str, torch.Tensor] = {}
        self._counts: dict[str, int] = {}  # per metric: a phase that runs every N steps has its own mean
        self._count = 0
        self._tick = 0.0

    # -- the loop --------------------------------------------------------------------------
    def run_steps(self) -> dict:
        """Train up to ``total_steps`` (or until ``stop_requested()`` turns true after a step, with
        ``interrupted`` set); returns the last logged record."""
        c = self.run.config
        try:
            for hook in self.hooks:
                hook.on_start(self)
            self._tick = time.perf_counter()
            while self.step < self.total_steps:
                values = self._update()
                for key, value in values.items():
                    self._sums[key] = self._sums[key] + value if key in self._sums else value
                    self._counts[key] = self._counts.get(key, 0) + 1
                self._count += 1
                self.step += 1
                if self.step % c.log_every == 0 or self.step == self.total_steps:
                    self._log()
                if self.pending_rollback is None:  # a problem found in the log: no hook sees its step
                    for hook in self.hooks:
                        hook.on_step(self)
                if self.pending_rollback is not None:
                    self._roll_back()
                if self.step < self.total_steps and self.stop_requested():
                    self.interrupted = True
                    return self.last_record
            for hook in self.hooks:
                hook.on_end(self)
        finally:
            for hook in self.hooks:
                hook.close()
        return self.last_record

    def _update(self) -> dict:
        try:
            return self.update(self.batches, self.step)
        except Exception as exc:  # noqa: BLE001 - named when it is a plugin's or memory's
            if self.parallel is not None and self.parallel.is_collective_failure(exc):
                raise  # another process went away: not the plugin's fault (api.py reports it)
            plugins = self.run.plugins
            # The built-in step is the engine's own code: what it calls (a loss, a network) is named instead.
            culprits = (plugins.architecture, plugins.loss) + (() if plugins.step.found.builtin else (plugins.step,))
            error = explain(exc, self.step, culprits)
            if error is None:
                raise
            raise error from exc

    def _log(self, local: bool = False) -> None:
        now = time.perf_counter()
        c = self.run.config
        record = {"step": self.step, "epoch": self.batches.epoch}
        sums = self._sums if self.parallel is None or local else self.parallel.mean(self._sums)
        record.update({k: round(float(v) / self._counts[k], 6) for k, v in sums.items()})
        real_images = self._count * self.run.real_batches_per_iteration * c.batch_size
        record["img_per_s"] = round(real_images / max(now - self._tick, 1e-9), 2)
        self._sums, self._counts, self._count, self._tick = {}, {}, 0, now
        self.last_record = record
        for hook in self.hooks:
            hook.on_log(self, record)
        problem = non_finite_message(record)
        if problem and self.pending_rollback is None:
            raise NonFiniteLoss(problem)

    def request_rollback(self, request: RollbackRequest) -> None:
        """Ask for the run to be restored to before a problem; done once the current step's hooks
        ran (checkpoints are not written meanwhile)."""
        self.pending_rollback = request

    def _roll_back(self) -> None:
        request, self.pending_rollback = self.pending_rollback, None
        found = checkpoint_at_or_before(self.run_dir, request.began)
        if found is None:
            self.publish({"step": self.step, "health": request.kind, "message": f"{request.message} (no rollback: "
                          f"no intact checkpoint from step {request.began} or before)"})
            if request.kind == NON_FINITE:
                raise NonFiniteLoss(request.message)
            return
        self.load_state_dict(found.state)
        self._sums, self._counts, self._count, self._tick = {}, {}, 0, time.perf_counter()
        record = request.after_restore(self)
        for hook in self.hooks:
            hook.on_rollback(self, record)

    def publish(self, record: dict) -> None:
        """Hand a hook's own record (it carries "step") to every hook: the metrics file writes it,
        the progress output shows warnings, TensorBoard logs it."""
        for hook in self.hooks:
            hook.on_record(self, record)

    def check_finite(self) -> None:
        """Raise NonFiniteLoss when a metric accumulated since the last log is not finite (one
        host synchronisation; the checkpoint hook calls it before writing)."""
        if not self._sums:
            return
        finite = torch.stack([torch.isfinite(v).all() for v in self._sums.values()]).all()
        if not bool(finite):
            self._log(local=True)  # rank 0 alone checks before a checkpoint: no collective here

    @property
    def output_generator(self) -> torch.nn.Module:
        """The generator that samples, evaluation and the exported file use (the trained one;
        an averaged copy where a hook provides one)."""
        for hook in self.hooks:
            generator = hook.output_generator()
            if generator is not None:
                return generator
        return self.run.generator

    # -- checkpointed state ------------------------------------------------------------------
    def state_dict(self) -> dict:
        r = self.run
        return {
            "step": self.step,
            "networks": {name: module.state_dict() for name, module in r.networks.items()},
            "optimizers": {name: optimizer.state_dict() for name, optimizer in r.optimizers.items()},
            "update": self.update.state_dict(),
            "rng": rng_state(r.device),
            "batches": self.batches.state_dict(),
            "hooks": {h.name: state for h in self.hooks if h.name and (state := h.state_dict()) is not None},
            "config": dataclasses.asdict(r.config),
        }

    def load_state_dict(self, state: dict) -> None:
        """Restore a checkpoint's state (one written before named networks is migrated on load,
        ``checkpoint.migrated``)."""
        r = self.run
        check_networks(state, r.networks, self.run_dir)
        for name, module in r.networks.items():
            module.load_state_dict(state["networks"][name])
        for name, optimizer in r.optimizers.items():
            optimizer.load_state_dict(state["optimizers"][name])
        self.update.load_state_dict(state.get("update", {}))
        self.batches.load_state_dict(state["batches"])
        hook_states = state.get("hooks", {})
        for hook in self.hooks:
            if hook.name in hook_states:
                hook.load_state_dict(hook_states[hook.name])
        set_rng_state(state["rng"], r.device)
        self.step = int(state["step"])

