"""The training-health rules as plain functions of logged numbers (no torch, no files): the one
home of each problem's name, threshold and message. ``health.py`` applies them during a run; the
driver stops on the non-finite one.

Thresholds, chosen from real runs on the embedded digits (dcgan, nonsaturating, batch 32):
- a healthy run's D loss dipped to 0.20 (14% of its chance level 2 ln 2) around step 150 and
  recovered; a run whose D wins (``--d-lr 2e-3 --g-lr 1e-6``) had D loss 0.015 at step 30,
  0.0003 at step 150 and 0.00005 at step 400 while G's loss climbed 4.6 -> 10.1. "Near zero"
  is 2% of the chance level, held for a whole window of logs while G's loss did not fall;
- the mean pairwise distance of a fixed-noise batch, relative to a batch of real images, was
  0.21 at step 50 and rose to 0.95 by step 500 (a tiny ngf=4 dcgan: 0.002 at step 5, 0.10 at
  step 50, in eval mode); a generator with one output has 0.
"""

from __future__ import annotations

import math
from typing import Optional, Sequence

NON_FINITE = "non_finite"
DISCRIMINATOR_WINS = "discriminator_wins"
MODE_COLLAPSE = "mode_collapse"

#: Logged records in the window of the discriminator check.
D_WINS_WINDOW = 5
#: D's loss counts as near zero below this fraction of its loss at chance (both logits 0).
D_NEAR_ZERO_FRACTION = 0.02
#: Sample diversity (fixed-noise batch vs real batch) below this is no diversity at all.
DIVERSITY_FLOOR = 0.05
#: A drop below this fraction of the best value seen so far is a sharp drop ...
COLLAPSE_FRACTION = 0.4
#: ... once the best value had reached this much (diversity ratio; class coverage in nats).
DIVERSITY_PEAK_MIN = 0.25
COVERAGE_PEAK_MIN = 1.0
COVERAGE_UNIFORM = math.log(10)


def non_finite_values(record: dict) -> Optional[str]:
    """What became NaN or infinite in a logged record ("d_loss, g_loss became nan"), else None."""
    bad = sorted(k for k, v in record.items() if isinstance(v, float) and not math.isfinite(v))
    if not bad:
        return None
    return f"{', '.join(bad)} became {record[bad[0]]}"


def non_finite_message(record: dict) -> Optional[str]:
    """The message of a logged record with a NaN or infinite value (the run stops), else None."""
    values = non_finite_values(record)
    if values is None:
        return None
    return (f"step {record.get('step')}: {values}; the run stopped and keeps its last checkpoint (try a lower "
            f"learning rate or another loss)")


def discriminator_wins(window: Sequence[tuple[float, float]], d_loss_at_chance: Optional[float]) -> Optional[str]:
    """``window``: the last (D loss, G loss) pairs, oldest first. A message when D's loss stayed
    near zero through a full window while G's loss did not come down, else None. Losses whose
    scale is unknown (``d_loss_at_chance`` None, e.g. Wasserstein) are not judged."""
    if d_loss_at_chance is None or len(window) < D_WINS_WINDOW:
        return None
    recent = list(window)[-D_WINS_WINDOW:]
    limit = D_NEAR_ZERO_FRACTION * d_loss_at_chance
    if not all(d <= limit for d, _ in recent):
        return None
    g_first, g_last = recent[0][1], recent[-1][1]
    if g_last < g_first:
        return None
    return (f"the discriminator is winning outright: D loss {recent[-1][0]:.4g} (chance level "
            f"{d_loss_at_chance:.3g}) over the last {len(recent)} logs while G loss went {g_first:.3g} -> "
            f"{g_last:.3g}; G gets little gradient. Try a lower --d-lr, a higher --g-lr or another --loss")


def sharp_drop(value: float, peak: Optional[float], peak_min: float) -> bool:
    return peak is not None and peak >= peak_min and value < COLLAPSE_FRACTION * peak


def coverage_collapse(coverage: float, peak: Optional[float], peak_step: Optional[int]) -> Optional[str]:
    if not sharp_drop(coverage, peak, COVERAGE_PEAK_MIN):
        return None
    return (f"mode collapse: class coverage fell to {coverage:.3f} from {peak:.3f} at step {peak_step} "
            f"(ln 10 = {COVERAGE_UNIFORM:.3f}: every digit equally often)")


def diversity_collapse(ratio: float, peak: Optional[float], peak_step: Optional[int],
                       floor: float = DIVERSITY_FLOOR) -> Optional[str]:
    """``ratio``: the mean pairwise distance of a fixed-noise batch over that of real images;
    below ``floor`` the samples count as one image (the monitor passes 0 early in a run)."""
    if ratio < floor:
        return (f"mode collapse: the generator's samples are nearly identical (pairwise distance "
                f"{ratio:.1%} of real images')")
    if not sharp_drop(ratio, peak, DIVERSITY_PEAK_MIN):
        return None
    return (f"mode collapse: sample diversity fell to {ratio:.1%} of real images' from {peak:.1%} "
            f"at step {peak_step}")
