"""The protocol card of a report and the one rule for when two reports may be compared.

A report's ``protocol`` says how its numbers were measured. The fields that change what the
numbers mean (feature network and its weights, sample sizes, split, conditional sampling, KID and
precision/recall settings, the dtype) must be equal for two reports to be compared; seeds, device,
versions and the generator's architecture only become notes. Reports written before these fields
existed lack some of them: a field missing on either side is not checked.
"""

from __future__ import annotations

from typing import Sequence

from ..errors import GanforgeError

#: Fields that must be equal, in the order they are checked (the first difference is named).
MUST_MATCH = ("feature_extractor", "weights_sha256", "reference", "split", "n_real", "n_fake", "conditional",
              "precision", "kid_subsets", "kid_subset_size", "pr_k", "pr_n")
#: Fields that may differ; a difference is reported as a note.
NOTED = ("seeds", "generator", "device", "ganforge_version", "torch_version")
PRECISION = "fp32"  # evaluation runs the generator and the classifier in float32 (features: float64)


def card(seeds: Sequence[int], device, conditional: bool, metrics: Sequence[str], interval_method: str) -> dict:
    """The fields added to every report's protocol (beside the extractor's own fields)."""
    import torch

    from .. import __version__

    return {"seeds": list(seeds), "ganforge_version": __version__, "torch_version": torch.__version__,
            "device": str(device), "precision": PRECISION, "conditional": bool(conditional),
            "metrics": list(metrics), "interval_method": interval_method}


def seeds_of(protocol: dict) -> list:
    """``seeds``, or ``[seed]`` for a report written before ``seeds`` existed."""
    if "seeds" in protocol:
        return list(protocol["seeds"])
    return [protocol["seed"]] if "seed" in protocol else []


def check_comparable(a: dict, b: dict) -> list[str]:
    """Raise GanforgeError naming the first protocol field that differs between A and B (e.g.
    ``cannot compare: A's n_fake is 5000, B's is 2000``); return notes on the fields that may
    differ (seeds, device, versions, architecture)."""
    for key in MUST_MATCH:
        if key in a and key in b and a[key] != b[key]:
            if key == "conditional":
                which = ("A", "B") if a[key] else ("B", "A")
                raise GanforgeError(f"cannot compare: {which[0]}'s generator is conditional (asked for labels in "
                                    f"turn, label accuracy measured), {which[1]}'s is not")
            raise GanforgeError(f"cannot compare: A's {key} is {a[key]!r}, B's is {b[key]!r}"
                                if isinstance(a[key], str) else f"cannot compare: A's {key} is {a[key]}, B's is {b[key]}")
    notes = []
    for key in NOTED:
        va, vb = (seeds_of(a), seeds_of(b)) if key == "seeds" else (a.get(key), b.get(key))
        if va is not None and vb is not None and va != vb:
            notes.append(f"{key} differ: A {va}, B {vb}")
    return notes
