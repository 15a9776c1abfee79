"""Sample-quality metrics as pure functions of feature arrays and predicted classes (float64).

No network, no model: ``Evaluator`` computes the features; these functions only compare them.
"""

from __future__ import annotations

import numpy as np
import torch

KID_SUBSETS = 100
KID_SUBSET_SIZE = 1000
PR_NEIGHBOURS = 3
KID_MAX_KERNEL_ENTRIES = 40_000_000  # 320 MB of float64 kernel values


def feature_statistics(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and (unbiased, N-1) covariance of (N, D) features."""
    x = np.asarray(features, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 2:
        raise ValueError(f"need an (N >= 2, D) feature array, got shape {x.shape}")
    return x.mean(0), np.cov(x, rowvar=False)


def _sqrt_psd(matrix: np.ndarray) -> np.ndarray:
    values, vectors = np.linalg.eigh((matrix + matrix.T) / 2)
    return (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """|mu1 - mu2|^2 + tr(S1 + S2 - 2 (S1 S2)^(1/2)), the Fréchet distance of two Gaussians.

    tr((S1 S2)^(1/2)) is computed as the sum of square roots of the eigenvalues of the symmetric
    positive semi-definite S1^(1/2) S2 S1^(1/2) (same spectrum as S1 S2), which stays real and
    stable when a covariance is singular (dead ReLU units give zero variances)."""
    root1 = _sqrt_psd(sigma1)
    middle = root1 @ sigma2 @ root1
    tr_covmean = np.sqrt(np.clip(np.linalg.eigvalsh((middle + middle.T) / 2), 0, None)).sum()
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * tr_covmean)


def frechet_distance_of_features(a: np.ndarray, b: np.ndarray) -> float:
    return frechet_distance(*feature_statistics(a), *feature_statistics(b))


def polynomial_kernel(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """k(x, y) = (x.y / D + 1)^3, the KID kernel."""
    k = x @ y.T
    k /= x.shape[1]
    k += 1.0
    return k * k * k


def mmd2_unbiased(x: np.ndarray, y: np.ndarray) -> float:
    """The unbiased MMD^2 estimate of Bińkowski et al. 2018 for two sets of the same size m:
    off-diagonal means of k(x, x') and k(y, y'), minus twice the full mean of k(x, y)."""
    m = x.shape[0]
    kxx, kyy, kxy = polynomial_kernel(x, x), polynomial_kernel(y, y), polynomial_kernel(x, y)
    within = (kxx.sum() - np.trace(kxx) + kyy.sum() - np.trace(kyy)) / (m * (m - 1))
    return float(within - 2 * kxy.sum() / (m * m))


def kid_subset_size(n1: int, n2: int, preferred: int = KID_SUBSET_SIZE) -> int:
    """The subset size: ``preferred`` (1000), or the smaller set's size when that is smaller."""
    return max(2, min(preferred, n1, n2))


def kernel_inception_distance(a: np.ndarray, b: np.ndarray, subsets: int = KID_SUBSETS,
                              subset_size: int = KID_SUBSET_SIZE, seed: int = 0,
                              max_kernel_entries: int = KID_MAX_KERNEL_ENTRIES) -> tuple[float, float]:
    """KID: mean and standard deviation of the unbiased MMD^2 over ``subsets`` random pairs of
    subsets (drawn without replacement, size adapted with ``kid_subset_size``).

    When the three full kernel matrices fit in ``max_kernel_entries`` float64 values they are
    computed once, and every subset's kernel sums come from two matrix products with the
    subsets' 0/1 indicator columns (v^T K v sums K over a subset); otherwise each subset's
    kernels are computed afresh. Both give the same numbers; the first is ~10x faster for 5,000
    vs 1,000 samples."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    m = kid_subset_size(len(a), len(b), subset_size)
    rng = np.random.RandomState(seed)
    draws = [(rng.choice(len(a), m, replace=False), rng.choice(len(b), m, replace=False)) for _ in range(subsets)]
    if len(a) ** 2 + len(b) ** 2 + len(a) * len(b) <= max_kernel_entries:
        va, vb = np.zeros((len(a), subsets)), np.zeros((len(b), subsets))
        for s, (ia, ib) in enumerate(draws):
            va[ia, s] = 1.0
            vb[ib, s] = 1.0

        def subset_sums(k, left, right):
            return np.einsum("is,is->s", left, k @ right)

        kaa, kbb = polynomial_kernel(a, a), polynomial_kernel(b, b)
        within = (subset_sums(kaa, va, va) - np.diagonal(kaa) @ va
                  + subset_sums(kbb, vb, vb) - np.diagonal(kbb) @ vb)
        del kaa, kbb
        between = subset_sums(polynomial_kernel(a, b), va, vb)
        values = within / (m * (m - 1)) - 2 * between / (m * m)
    else:
        values = np.array([mmd2_unbiased(a[ia], b[ib]) for ia, ib in draws])
    return float(values.mean()), float(values.std())


def _kth_neighbour_radii(x: torch.Tensor, k: int, chunk: int = 1024) -> torch.Tensor:
    """Distance from each point to its k-th nearest other point of the same set."""
    radii = []
    for rows in x.split(chunk):
        d = torch.cdist(rows, x)
        radii.append(d.kthvalue(k + 1, dim=1).values)  # +1: the point itself is at distance 0
    return torch.cat(radii)


def _inside_manifold(points: torch.Tensor, centres: torch.Tensor, radii: torch.Tensor, chunk: int = 1024) -> torch.Tensor:
    """For each point: does it lie within radius of some centre (in one of the k-NN balls)?"""
    inside = []
    for rows in points.split(chunk):
        inside.append((torch.cdist(rows, centres) <= radii[None, :]).any(1))
    return torch.cat(inside)


def precision_recall(real: np.ndarray, fake: np.ndarray, k: int = PR_NEIGHBOURS) -> tuple[float, float]:
    """Improved precision and recall (Kynkäänniemi et al. 2019): each set's manifold is the union
    of balls around its points reaching their k-th nearest neighbour. Precision is the fraction
    of fake points inside the real manifold, recall the fraction of real points inside the fake one."""
    r = torch.as_tensor(np.asarray(real, dtype=np.float64))
    f = torch.as_tensor(np.asarray(fake, dtype=np.float64))
    if min(len(r), len(f)) <= k:
        raise ValueError(f"precision/recall with k={k} needs more than {k} points per set")
    precision = _inside_manifold(f, r, _kth_neighbour_radii(r, k)).double().mean()
    recall = _inside_manifold(r, f, _kth_neighbour_radii(f, k)).double().mean()
    return float(precision), float(recall)


def class_coverage(predictions: np.ndarray, num_classes: int = 10) -> float:
    """Entropy (natural log) of the predicted-class histogram: ln(num_classes) when every class
    is predicted equally often, 0 when all samples fall in one class."""
    counts = np.bincount(np.asarray(predictions, dtype=np.int64), minlength=num_classes).astype(np.float64)
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log(p)).sum()) + 0.0  # + 0.0: no "-0.0" for a single class


def label_accuracy(predictions: np.ndarray, requested: np.ndarray) -> float:
    """Fraction of samples asked for label k that the classifier reads as k."""
    p, r = np.asarray(predictions), np.asarray(requested)
    if p.shape != r.shape:
        raise ValueError(f"predictions {p.shape} and requested labels {r.shape} differ in shape")
    return float((p == r).mean())
