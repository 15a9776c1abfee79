"""Checkpoints: both networks, both optimizers, the step, every RNG state and the config."""

from __future__ import annotations

import shutil
from pathlib import Path

import torch

from ..fileio import atomic_write
from .rundir import CHECKPOINTS_DIR, LATEST_CHECKPOINT


def save_checkpoint(run_dir: Path, state: dict, step: int, keep_periodic: bool) -> Path:
    latest = run_dir / CHECKPOINTS_DIR / LATEST_CHECKPOINT
    atomic_write(latest, lambda tmp: torch.save(state, tmp))
    if keep_periodic:
        periodic = latest.with_name(f"step-{step:06d}.pt")
        atomic_write(periodic, lambda tmp: shutil.copyfile(latest, tmp))
    return latest


def load_checkpoint(run_dir: Path) -> dict:
    # Our own files hold RNG states (tensors) and plain containers; weights_only stays safe.
    return torch.load(run_dir / CHECKPOINTS_DIR / LATEST_CHECKPOINT, map_location="cpu", weights_only=True)


def rng_state(device: torch.device) -> dict:
    state = {"torch": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def set_rng_state(state: dict, device: torch.device) -> None:
    torch.set_rng_state(state["torch"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)
