"""Comparing checkpointed states bit for bit: what an exact-resume test of a plugin asserts."""

from __future__ import annotations

from typing import Any

import torch


def state_differences(a: Any, b: Any, where: str = "") -> list[str]:
    """The paths at which two nested states (dicts, lists, tensors, numbers) differ; tensors must be
    equal in dtype, shape and every bit. Empty when they are the same."""
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        same = isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and a.dtype == b.dtype \
            and a.shape == b.shape and torch.equal(a, b)
        return [] if same else [where]
    if isinstance(a, dict) and isinstance(b, dict):
        if set(a) != set(b):
            return [f"{where} keys"]
        return [d for k in a for d in state_differences(a[k], b[k], f"{where}/{k}")]
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        if len(a) != len(b):
            return [f"{where} length"]
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in state_differences(x, y, f"{where}[{i}]")]
    return [] if a == b else [where]
