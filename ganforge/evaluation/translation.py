"""``ganforge eval`` of an image-to-image generator: its translations of held-out condition images
against their targets (PSNR, SSIM, L1), and FID-digits of the translations where the targets are
the digits (the corruption tasks; a restyled target such as an inverted digit is not one). Floor: the
targets themselves; ceiling: the same architecture untrained; and the
identity (each condition image taken as its own translation), the number to beat.

Held-out pairs are the pairs the run did not train on: those outside its ``--subset`` (drawn as
training drew it); a run on every pair is measured on its training pairs, and the protocol says so.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Optional

import torch

from ..data import load_dataset
from ..data.dataset import to_model_range
from ..data.paired import DIGIT_TARGETS
from ..data.subset import chosen_indices
from ..errors import GanforgeError
from . import image_quality as Q

if TYPE_CHECKING:
    from .evaluator import Evaluator

BATCH = 256
DIGIT_SHAPE = (1, 28, 28)


def held_out_pairs(config: dict) -> tuple[torch.Tensor, torch.Tensor, str]:
    """(conditions, targets, description) of the pairs a run's config did not train on."""
    data = load_dataset(config["dataset"], config.get("data_root", "data"), config.get("image_size"),
                        config.get("channels"))
    if not data.paired:
        raise GanforgeError(f"the run trained on '{config['dataset']}', which has no condition images")
    subset = config.get("subset")
    if subset is None or subset >= len(data):
        return data.conditions, data.images, f"all {len(data)} pairs of {data.name} (the training pairs: no --subset)"
    trained = set(chosen_indices(len(data), subset, int(config["seed"])).tolist())
    rest = torch.tensor([i for i in range(len(data)) if i not in trained])
    return data.conditions[rest], data.images[rest], (f"the {len(rest)} pairs of {data.name} outside the training "
                                                      f"--subset {subset} (seed {config['seed']})")


def translate(generator: Callable, conditions: torch.Tensor, device: torch.device) -> torch.Tensor:
    outs = []
    with torch.no_grad():
        for chunk in conditions.split(BATCH):
            outs.append(generator(to_model_range(chunk).to(device)).float().cpu())
    return torch.cat(outs)


def quality(images: torch.Tensor, targets: torch.Tensor) -> dict:
    return {"psnr": float(Q.psnr(images, targets).mean()), "ssim": float(Q.ssim(images, targets).mean()),
            "l1": float(Q.l1(images, targets).mean())}


def translation_report(generator, info, config: Optional[dict], n: int, seed: int, device: torch.device,
                       untrained: torch.nn.Module, digit_evaluator: Callable[[], "Evaluator"]) -> dict:
    """The report of one seed (``untrained``: the ceiling's generator, initialised from the seed;
    ``digit_evaluator``: the FID-digits evaluator, asked for only where the targets are digits)."""
    if config is None:
        raise GanforgeError("an image-to-image generator is measured on its run's held-out pairs: pass the run "
                            "directory, not the generator file")
    conditions, targets_uint8, which = held_out_pairs(config)
    conditions, targets_uint8 = conditions[:n], targets_uint8[:n]
    targets = to_model_range(targets_uint8)
    outputs = translate(generator, conditions, device)
    identity = to_model_range(conditions)
    if identity.shape != targets.shape:
        identity = None  # conditions of another shape cannot stand in for the targets
    report = quality(outputs, targets)
    report["floor"] = {"psnr": None, "ssim": 1.0, "l1": 0.0}
    ceiling = translate(untrained, conditions, device)
    report["ceiling"] = quality(ceiling, targets)
    report["identity"] = None if identity is None else quality(identity, targets)
    if tuple(targets.shape[1:]) == DIGIT_SHAPE and config["dataset"] in DIGIT_TARGETS:
        _add_digit_fid(report, digit_evaluator(), outputs, ceiling, identity, len(targets), seed)
    report["protocol"] = {"pairs": which, "n_pairs": len(targets), "metrics": "psnr, ssim, l1 on [0, 1]; "
                          f"ssim window {Q.SSIM_WINDOW}", "generator": info.arch, "seed": seed}
    return report


def _add_digit_fid(report, evaluator, outputs, ceiling, identity, n, seed) -> None:
    from .evaluator import GeneratedSet

    def fid(images: torch.Tensor) -> float:
        features = evaluator.features_of(images.to(evaluator.device).split(BATCH))
        return evaluator.evaluate(GeneratedSet(features, None), seed, memorization=False)["fid_digits"]

    report["fid_digits"] = fid(outputs)
    report["floor"]["fid_digits"] = evaluator.floor(n, seed)["fid_digits"]
    report["ceiling"]["fid_digits"] = fid(ceiling)
    if identity is not None:
        report["identity"]["fid_digits"] = fid(identity)
