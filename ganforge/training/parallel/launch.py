"""``ganforge train --nproc N``: start N training processes on this machine through torch's
elastic launcher (the engine behind torchrun, ``torch.distributed.launcher.api``), as
``torchrun --standalone --nproc_per_node N -m ganforge train ...`` would.

Each process runs ``python -m ganforge train`` with the same arguments (less ``--nproc``);
the launcher sets RANK, WORLD_SIZE, LOCAL_RANK and the rendezvous. When one process fails,
the launcher stops the others; a Ctrl-C reaches every process once (they stop after the same
step and rank 0 saves a checkpoint).
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import uuid
from typing import Sequence

from ...errors import GanforgeError

#: Exit codes with which a process has already said why (one-line error, interrupted run).
REPORTED_EXIT_CODES = {2, 130, 143}
#: How the launcher stops the other processes once one failed (a consequence, not a cause).
STOPPED_BY_LAUNCHER = {-signal.SIGTERM}


def strip_nproc(argv: Sequence[str]) -> list[str]:
    """``argv`` without ``--nproc N`` / ``--nproc=N``."""
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--nproc":
            skip = True
        elif not arg.startswith("--nproc="):
            out.append(arg)
    return out


def launch_local(nproc: int, argv: Sequence[str], debug: bool = False) -> int:
    """Run ``python -m ganforge ARGV`` in ``nproc`` processes; returns the exit code to use."""
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    if os.environ.get("WORLD_SIZE", "1") not in ("", "1"):
        raise GanforgeError("--nproc starts the processes itself; under torchrun leave it out")
    if "OMP_NUM_THREADS" not in os.environ:  # torchrun sets 1; share this machine's cores instead
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        os.environ["OMP_NUM_THREADS"] = str(max(1, cores // nproc))
    if not debug:  # its warnings ("Received 2 death signal...") repeat what the processes say
        prefix = "torch.distributed.elastic"
        for name in [prefix, *[n for n in logging.root.manager.loggerDict if n.startswith(prefix + ".")]]:
            logging.getLogger(name).setLevel(logging.CRITICAL)
    config = LaunchConfig(min_nodes=1, max_nodes=1, nproc_per_node=nproc, run_id=str(uuid.uuid4()),
                          rdzv_backend="c10d", rdzv_endpoint="localhost:0", max_restarts=0, monitor_interval=0.1)
    try:
        elastic_launch(config, sys.executable)("-m", "ganforge", *argv)
    except ChildFailedError as exc:
        return _report(exc.failures)
    except SignalException as exc:  # the launcher stopped the processes; rank 0 said what was kept
        return 128 + int(exc.sigval)
    return 0


def _report(failures: dict) -> int:
    """One line for processes that ended without saying why; their exit code."""
    codes = {rank: failure.exitcode for rank, failure in sorted(failures.items())}
    unexplained = {rank: code for rank, code in codes.items()
                   if code not in REPORTED_EXIT_CODES and code not in STOPPED_BY_LAUNCHER}
    if unexplained:
        parts = [f"rank {rank} " + (f"was killed by {_signal_name(-code)}" if code < 0 else f"exited with code {code}")
                 for rank, code in unexplained.items()]
        print(f"error: {', '.join(parts)} without a message; the other processes were stopped", file=sys.stderr,
              flush=True)
        return 1
    reported = [code for code in codes.values() if code in REPORTED_EXIT_CODES]
    return min(reported) if reported else 128 + signal.SIGTERM


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"
