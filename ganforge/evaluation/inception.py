"""Inception-based FID, KID and IS through torch-fidelity (the optional ``metrics`` extra), for
RGB generators. Offline only: the Inception weights file must already be on disk."""

from __future__ import annotations

import os
from pathlib import Path

import torch

from ..errors import GanforgeError
from .cache import cache_dir

WEIGHTS_ENV = "GANFORGE_INCEPTION_WEIGHTS"
WEIGHTS_FILE = "weights-inception-2015-12-05-6726825d.pth"
WEIGHTS_URL = "https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/" + WEIGHTS_FILE


def inception_weights_path() -> Path:
    """``$GANFORGE_INCEPTION_WEIGHTS``, else ``<cache dir>/weights-inception-2015-12-05-6726825d.pth``;
    raises (one line: where to put it) when the file is not there."""
    explicit = os.environ.get(WEIGHTS_ENV, "").strip()
    path = Path(explicit).expanduser() if explicit else cache_dir() / WEIGHTS_FILE
    if not path.is_file():
        raise GanforgeError(
            f"Inception metrics need torch-fidelity's weights file, not found at {path}: download {WEIGHTS_URL} "
            f"on a networked machine and copy it there (or set {WEIGHTS_ENV} to its path)")
    return path


def _require_torch_fidelity():
    try:
        import torch_fidelity
    except ImportError:
        raise GanforgeError("Inception metrics need torch-fidelity: pip install 'ganforge[metrics]'") from None
    return torch_fidelity


class _Uint8Images(torch.utils.data.Dataset):
    def __init__(self, images: torch.Tensor) -> None:
        self.images = images

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def __getitem__(self, i: int) -> torch.Tensor:
        return self.images[i]


def inception_metrics(fake: torch.Tensor, real: torch.Tensor, device: torch.device, seed: int = 0) -> dict:
    """FID, KID (mean, std) and IS of uint8 RGB images (N, 3, H, W), fake against real."""
    if fake.shape[1] != 3 or real.shape[1] != 3:
        raise GanforgeError("Inception metrics apply to RGB (3-channel) images only; use the digit metrics "
                            "for 1-channel digit generators")
    weights = inception_weights_path()
    torch_fidelity = _require_torch_fidelity()
    subset = min(1000, len(fake), len(real))
    result = torch_fidelity.calculate_metrics(
        input1=_Uint8Images(fake), input2=_Uint8Images(real), fid=True, kid=True, isc=True,
        feature_extractor_weights_path=str(weights), cuda=device.type == "cuda", kid_subset_size=subset,
        rng_seed=seed, verbose=False, save_cpu_ram=True, cache=False)
    return {
        "fid_inception": result["frechet_inception_distance"],
        "kid_inception": result["kernel_inception_distance_mean"],
        "kid_inception_std": result["kernel_inception_distance_std"],
        "inception_score": result["inception_score_mean"],
        "inception_score_std": result["inception_score_std"],
    }
