"""Several processes, one run: torch.distributed under torchrun (or ``ganforge train --nproc N``,
which starts the same through torch's elastic launcher, see ``launch.py``).

``Parallel.start()`` reads the environment torchrun sets (RANK, WORLD_SIZE, LOCAL_RANK,
MASTER_ADDR/PORT) and, when there is more than one process, creates the process group: gloo
for CPU tensors and, where CUDA is available, NCCL for CUDA tensors (one device per rank,
``cuda:LOCAL_RANK``), with a timeout so that no rank waits forever for one that stopped
answering. With one process it returns None and nothing here runs: the single-process path
has no extra synchronisation.

What a run does differently with several processes, all decided here:

- ``--batch-size`` is the global batch. Every rank walks the same shuffled order of the data
  (same seed) in global batches and trains on its own slice of each (``InMemoryBatches(part=...)``),
  so the ranks' batches put together are exactly the one-process batch, and one epoch is the
  same number of steps whatever the number of processes.
- G and D are wrapped in DistributedDataParallel. The D update runs the wrapped D; the G
  update runs D's own module (its weights are frozen there, so a wrapper would wait for
  gradients that never come); G always runs through its wrapper. ``broadcast_buffers`` is off:
  a rank's batch-norm running statistics come from its own batches (or from the global batch
  with ``--sync-bn``); only rank 0's are saved and used for samples.
- Each rank draws its own noise: the global RNG is reseeded before every step from the run's
  seed, the rank and the step, so a resumed run continues exactly without storing any rank's
  RNG state, and the data order is rank 0's checkpointed state (the same on every rank).
- Logged metrics are averaged over the ranks (one all-reduce per log step); a stop request on
  any rank stops every rank after the same step (one small all-reduce per step).
- A failure while setting up (any rank) stops every rank with one message; a failure while
  training breaks the collectives, which the other ranks report as a one-line error.
"""

from __future__ import annotations

import gc
import hashlib
import os
import re
import signal
import time
from datetime import timedelta
from typing import Callable, Optional, TypeVar

import torch
import torch.distributed as dist
from torch import nn

from ...devices import resolve_device
from ...errors import GanforgeError
from ..setup.monitor_options import rolls_back
from ..step.engine import UpdateStep
from .sync_batchnorm import convert_sync_batchnorm

DEFAULT_TIMEOUT_S = 600.0
#: Test only: ``RANK:STEP:HOW`` makes that rank fail while training that (1-based) step;
#: HOW is ``raise`` (a GanforgeError), ``exit`` (os._exit(3), no message) or ``hang``.
FAIL_AT_ENV = "GANFORGE_TEST_FAIL_AT"

T = TypeVar("T")


class PeerFailed(GanforgeError):
    """Another process of the run stopped, or stopped answering, so this one cannot go on."""


def world_size_from_env() -> int:
    try:
        return int(os.environ.get("WORLD_SIZE", "1"))
    except ValueError:
        raise GanforgeError(f"WORLD_SIZE must be a whole number, got {os.environ['WORLD_SIZE']!r}") from None


def is_main_process() -> bool:
    """Rank 0, or the only process: the one that prints results and writes the run directory."""
    return os.environ.get("RANK", "0").strip() in ("", "0")


def quiet(exc: BaseException) -> BaseException:
    """Mark an error another rank reports: the CLI exits with its code without printing it."""
    exc.quiet = True
    return exc


class Parallel:
    """This process's place in a multi-process run, and the collectives the engine uses."""

    def __init__(self, rank: int, world_size: int, local_rank: int, timeout_s: float, created: bool = False):
        self.rank, self.world_size, self.local_rank, self.timeout_s = rank, world_size, local_rank, timeout_s
        self.created = created  # this object created the process group, so it destroys it

    @classmethod
    def start(cls, timeout_s: Optional[float] = None) -> Optional["Parallel"]:
        """Join the process group described by the environment; None with one process."""
        world_size = world_size_from_env()
        if world_size <= 1:
            return None
        timeout_s = DEFAULT_TIMEOUT_S if timeout_s is None else float(timeout_s)
        if not timeout_s > 0:
            raise GanforgeError(f"--dist-timeout must be positive, got {timeout_s}")
        rank, local_rank = int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))
        backend = "gloo"
        if torch.cuda.is_available() and dist.is_nccl_available():
            backend = "cpu:gloo,cuda:nccl"  # the tensors' device picks the backend
            if local_rank < torch.cuda.device_count():
                torch.cuda.set_device(local_rank)
        created = not dist.is_initialized()  # a script may have joined the group itself
        if created:
            try:
                dist.init_process_group(backend, init_method="env://", timeout=timedelta(seconds=timeout_s))
            except (RuntimeError, ValueError) as exc:
                raise GanforgeError(f"rank {rank}: could not join the other {world_size - 1} process(es) "
                                    f"({_first_line(exc)})") from exc
        return cls(rank, world_size, local_rank, timeout_s, created)

    def close(self) -> None:
        """Leave the group after a run that ended well. The DistributedDataParallel wrappers hold
        the group too, often in reference cycles that would otherwise be freed only while the
        interpreter shuts down (when the group's threads can no longer be torn down safely), so
        they are collected first; then every rank waits for the others, so that none closes its
        connections while another still uses them."""
        if self.created and dist.is_initialized():
            gc.collect()
            dist.barrier()
            dist.destroy_process_group()

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    # -- setup -----------------------------------------------------------------------------
    def device(self, requested: str) -> torch.device:
        """This rank's device: the CPU, or ``cuda:LOCAL_RANK``."""
        device = resolve_device(requested)
        if device.type == "cpu":
            return device
        if device.type != "cuda":
            raise GanforgeError(f"--device {requested}: several processes train on cpu (gloo) or cuda (NCCL), "
                                f"not {device.type}")
        if requested.strip().lower() not in ("auto", "cuda"):
            raise GanforgeError(f"--device {requested}: with several processes each one uses cuda:LOCAL_RANK; "
                                f"pass --device cuda (choose GPUs with CUDA_VISIBLE_DEVICES)")
        if self.local_rank >= torch.cuda.device_count():
            raise GanforgeError(f"local rank {self.local_rank} has no GPU of its own ({torch.cuda.device_count()} "
                                f"visible); start at most that many processes per machine, or use --device cpu")
        return torch.device("cuda", self.local_rank)

    def check(self, config) -> None:
        if config.batch_size % self.world_size:
            raise GanforgeError(f"--batch-size {config.batch_size} is the global batch and must split evenly "
                                f"over {self.world_size} processes")
        if rolls_back(config):
            raise GanforgeError("--on-problem rollback works in one process (the health monitor runs on rank 0 "
                                "only and cannot restore the other ranks); use --on-problem warn with several")

    def together(self, setup: Callable[[], T]) -> T:
        """Run ``setup`` on every rank; when it fails on any rank, every rank raises: the lowest
        failing rank its own error, the others a quiet one (so the user reads one line)."""
        error: Optional[BaseException] = None
        result = None
        try:
            result = setup()
        except BaseException as exc:  # noqa: BLE001 - reported to the other ranks, then raised
            error = exc
        reports: list = [None] * self.world_size
        dist.all_gather_object(reports, None if error is None else f"{type(error).__name__}: {_first_line(error)}")
        failed = [r for r, report in enumerate(reports) if report is not None]
        if not failed:
            return result
        if error is not None:
            if failed[0] != self.rank:
                quiet(error)
            raise error
        raise quiet(PeerFailed(f"rank {failed[0]} failed while setting up: {reports[failed[0]]}"))

    def from_main(self, action: Callable[[], T]) -> T:
        """Run ``action`` on rank 0 only (e.g. writing the run directory) and give its result to
        every rank; when it fails, every rank raises (``together``)."""
        box = [self.together(lambda: action() if self.is_main else None)]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    # -- training --------------------------------------------------------------------------
    def update_step(self, run) -> UpdateStep:
        if run.config.sync_bn:
            for name in run.networks:
                run.networks[name] = convert_sync_batchnorm(run.networks[name])
        # The step's own draws (noise and labels for a G update of its own) are this rank's share.
        step = RankUpdateStep.for_run(run, wrap=self.wrap, batch_size=run.config.batch_size // self.world_size)
        step.seed, step.rank, step.world_size = run.config.seed, self.rank, self.world_size
        step.fail_at = _failure_plan(self.rank)
        return step

    def wrap(self, module: nn.Module) -> nn.Module:
        from torch.nn.parallel import DistributedDataParallel

        device = next(module.parameters()).device
        device_ids = [device.index] if device.type == "cuda" else None
        try:  # torch >= 2.14 names it; buffers are still made equal once, at init
            return DistributedDataParallel(module, device_ids=device_ids, forward_sync_buffers=False)
        except TypeError:
            return DistributedDataParallel(module, device_ids=device_ids, broadcast_buffers=False)

    def mean(self, values: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Each value averaged over the ranks (one all-reduce)."""
        keys = sorted(values)
        stacked = torch.stack([values[k].float() for k in keys])
        dist.all_reduce(stacked)
        stacked /= self.world_size
        return dict(zip(keys, stacked.unbind()))

    def any(self, flag: bool) -> bool:
        """True on every rank when ``flag`` is true on any (a CPU tensor: gloo, no GPU sync)."""
        value = torch.tensor([1 if flag else 0], dtype=torch.int32)
        dist.all_reduce(value, op=dist.ReduceOp.MAX)
        return bool(value.item())

    def stop_together(self, requested: Callable[[], bool]) -> Callable[[], bool]:
        return lambda: self.any(requested())

    def finish_together(self) -> None:
        """Every rank waits here until all finished (rank 0 writes the last files first)."""
        self.any(False)

    def explain(self, exc: BaseException, resume_hint: str) -> Optional[GanforgeError]:
        """A one-line error for a collective that failed because another rank went away or
        stopped answering; None for anything else."""
        if not is_collective_failure(exc):
            return None
        text = re.sub(r"^\[[^\]]*\]\s*", "", _first_line(exc)).split(". This is typically")[0]  # gloo's source path
        why = "stopped answering" if "timed out" in text.lower() or "timeout" in text.lower() else "stopped"
        return PeerFailed(f"another process of this run {why} ({text[:160]}); {resume_hint}")

    @staticmethod
    def is_collective_failure(exc: BaseException) -> bool:
        return is_collective_failure(exc)


class RankUpdateStep(UpdateStep):
    """The update step with DDP-wrapped networks and per-rank noise reseeded every step
    (``Parallel.update_step`` sets ``seed``, ``rank``, ``world_size`` and ``fail_at``)."""

    seed, rank, world_size, fail_at = 0, 0, 1, None

    def __call__(self, batches, step: int) -> dict[str, torch.Tensor]:
        if self.fail_at is not None and step + 1 == self.fail_at[0]:
            _fail(self.fail_at[1], self.rank, step + 1)
        torch.manual_seed(rank_seed(self.seed, self.rank, step))
        return super().__call__(batches, step)

    def state_dict(self) -> dict:
        return {**super().state_dict(), "world_size": self.world_size}


def rank_seed(seed: int, rank: int, step: int) -> int:
    """A 63-bit seed for one rank's step, from a hash (nearby seeds, ranks and steps share nothing)."""
    digest = hashlib.blake2b(f"ganforge:{seed}:{rank}:{step}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


def _failure_plan(rank: int) -> Optional[tuple[int, str]]:
    plan = os.environ.get(FAIL_AT_ENV, "").strip()
    if not plan:
        return None
    try:
        which, step, how = plan.split(":")
        if how not in ("raise", "exit", "hang"):
            raise ValueError(how)
        return (int(step), how) if int(which) == rank else None
    except ValueError:
        raise GanforgeError(f"{FAIL_AT_ENV} takes RANK:STEP:raise|exit|hang, got {plan!r}") from None


def _fail(how: str, rank: int, step: int) -> None:
    if how == "exit":
        os._exit(3)
    if how == "hang":  # stuck, yet killable as a stuck process is: SIGTERM's default action
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        while True:
            time.sleep(1)
    raise GanforgeError(f"injected failure at step {step} ({FAIL_AT_ENV})")


def is_collective_failure(exc: BaseException) -> bool:
    if isinstance(exc, getattr(dist, "DistError", ())):
        return True
    text = str(exc).lower()
    return isinstance(exc, RuntimeError) and any(
        marker in text for marker in ("gloo", "nccl", "connection closed", "connection reset", "broken pipe"))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
