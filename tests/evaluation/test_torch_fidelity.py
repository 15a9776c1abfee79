"""Our Fréchet distance and KID equal torch-fidelity's on the same feature arrays."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ganforge.evaluation import metrics as M

pytest.importorskip("torch_fidelity")
from torch_fidelity.metric_fid import fid_features_to_statistics, fid_statistics_to_metric  # noqa: E402
from torch_fidelity.metric_kid import kid_features_to_metric  # noqa: E402


@pytest.mark.parametrize("n1,n2,d", [(300, 200, 8), (120, 150, 32)])
def test_frechet_distance_equals_torch_fidelity(n1, n2, d):
    rng = np.random.default_rng(n1 + d)
    a = np.abs(rng.standard_normal((n1, d)))
    b = np.abs(rng.standard_normal((n2, d)) * 1.3 + 0.2)
    theirs = fid_statistics_to_metric(fid_features_to_statistics(torch.from_numpy(a)),
                                      fid_features_to_statistics(torch.from_numpy(b)), verbose=False)
    ours = M.frechet_distance_of_features(a, b)
    assert ours == pytest.approx(theirs["frechet_inception_distance"], rel=1e-7)


@pytest.mark.parametrize("n1,n2,subset", [(200, 150, 100), (80, 80, 80)])
def test_kid_equals_torch_fidelity(n1, n2, subset):
    rng = np.random.default_rng(n1)
    a, b = rng.standard_normal((n1, 16)), rng.standard_normal((n2, 16)) + 0.3
    theirs = kid_features_to_metric(torch.from_numpy(a), torch.from_numpy(b), kid_subsets=20,
                                    kid_subset_size=subset, rng_seed=11, verbose=False)
    mean, std = M.kernel_inception_distance(a, b, subsets=20, subset_size=subset, seed=11)
    assert mean == pytest.approx(theirs["kernel_inception_distance_mean"], rel=1e-9)
    assert std == pytest.approx(theirs["kernel_inception_distance_std"], rel=1e-9)
