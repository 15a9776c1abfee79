"""The metric functions against independent computations on small random inputs."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.linalg

from ganforge.evaluation import metrics as M


def random_spd(rng, d):
    a = rng.standard_normal((d, d))
    return a @ a.T / d + 0.1 * np.eye(d)


def fid_with_scipy_sqrtm(mu1, s1, mu2, s2):
    covmean = scipy.linalg.sqrtm(s1 @ s2).real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * covmean))


@pytest.mark.parametrize("d", [1, 3, 16])
def test_frechet_distance_matches_scipy_sqrtm(d):
    rng = np.random.default_rng(d)
    mu1, mu2 = rng.standard_normal(d), rng.standard_normal(d)
    s1, s2 = random_spd(rng, d), random_spd(rng, d)
    assert M.frechet_distance(mu1, s1, mu2, s2) == pytest.approx(fid_with_scipy_sqrtm(mu1, s1, mu2, s2), rel=1e-8, abs=1e-10)


def test_frechet_distance_of_identical_and_shifted_gaussians():
    rng = np.random.default_rng(0)
    mu, s = rng.standard_normal(8), random_spd(rng, 8)
    shift = rng.standard_normal(8)
    assert abs(M.frechet_distance(mu, s, mu, s)) < 1e-9
    assert M.frechet_distance(mu, s, mu + shift, s) == pytest.approx(float(shift @ shift), rel=1e-9)


def test_frechet_distance_of_diagonal_gaussians_in_closed_form():
    rng = np.random.default_rng(1)
    a, b = rng.uniform(0.1, 3, 5), rng.uniform(0.1, 3, 5)
    mu1, mu2 = rng.standard_normal(5), rng.standard_normal(5)
    expected = ((mu1 - mu2) ** 2).sum() + ((np.sqrt(a) - np.sqrt(b)) ** 2).sum()
    assert M.frechet_distance(mu1, np.diag(a), mu2, np.diag(b)) == pytest.approx(expected, rel=1e-9)


def test_frechet_distance_survives_singular_covariances():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((50, 4))
    x[:, 3] = 0.0  # a dead unit: zero variance
    value = M.frechet_distance_of_features(x, x + 1.0)
    assert value == pytest.approx(3.0 + 1.0, rel=1e-9)  # the dead unit still shifts by 1


def test_feature_statistics_are_mean_and_unbiased_covariance():
    x = np.random.default_rng(3).standard_normal((20, 3))
    mu, sigma = M.feature_statistics(x)
    centred = x - x.mean(0)
    np.testing.assert_allclose(mu, x.sum(0) / 20)
    np.testing.assert_allclose(sigma, centred.T @ centred / 19)


def brute_force_mmd2(x, y):
    def k(a, b):
        return (sum(ai * bi for ai, bi in zip(a, b)) / len(a) + 1) ** 3

    m = len(x)
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(m)) / (m * m)
    return xx + yy - 2 * xy


@pytest.mark.parametrize("m,d", [(5, 2), (12, 4)])
def test_unbiased_mmd2_matches_a_double_loop(m, d):
    rng = np.random.default_rng(m)
    x, y = rng.standard_normal((m, d)), rng.standard_normal((m, d)) + 0.5
    assert M.mmd2_unbiased(x, y) == pytest.approx(brute_force_mmd2(x.tolist(), y.tolist()), rel=1e-10)


def test_kid_with_whole_set_subsets_is_the_mmd_of_the_sets():
    rng = np.random.default_rng(4)
    x, y = rng.standard_normal((30, 3)), rng.standard_normal((30, 3)) * 2
    mean, std = M.kernel_inception_distance(x, y, subsets=4, subset_size=1000)  # adapted down to 30
    assert mean == pytest.approx(M.mmd2_unbiased(x, y), rel=1e-10)
    assert std == pytest.approx(0.0, abs=1e-12)


def test_kid_subsets_average_the_subset_mmds_with_their_spread():
    rng = np.random.default_rng(5)
    x, y = rng.standard_normal((40, 3)), rng.standard_normal((60, 3)) + 0.3
    mean, std = M.kernel_inception_distance(x, y, subsets=7, subset_size=10, seed=9)
    draw = np.random.RandomState(9)
    values = []
    for _ in range(7):
        ix, iy = draw.choice(40, 10, replace=False), draw.choice(60, 10, replace=False)
        values.append(brute_force_mmd2(x[ix].tolist(), y[iy].tolist()))
    assert mean == pytest.approx(np.mean(values), rel=1e-9)
    assert std == pytest.approx(np.std(values), rel=1e-9)


def test_kid_subset_size_adapts_to_small_sets():
    assert M.kid_subset_size(5000, 1000) == 1000
    assert M.kid_subset_size(200, 1000) == 200
    assert M.kid_subset_size(5000, 5000) == 1000


def brute_force_precision_recall(real, fake, k):
    def radius(points, i):
        return sorted(np.linalg.norm(points[i] - points[j]) for j in range(len(points)) if j != i)[k - 1]

    real_r = [radius(real, i) for i in range(len(real))]
    fake_r = [radius(fake, i) for i in range(len(fake))]
    precision = np.mean([any(np.linalg.norm(f - real[j]) <= real_r[j] for j in range(len(real))) for f in fake])
    recall = np.mean([any(np.linalg.norm(r - fake[j]) <= fake_r[j] for j in range(len(fake))) for r in real])
    return precision, recall


@pytest.mark.parametrize("k", [1, 3])
def test_precision_recall_matches_brute_force(k):
    rng = np.random.default_rng(k)
    real = rng.standard_normal((40, 3))
    fake = np.concatenate([rng.standard_normal((25, 3)) * 0.5, rng.standard_normal((15, 3)) + 4])
    assert M.precision_recall(real, fake, k) == pytest.approx(brute_force_precision_recall(real, fake, k))


def test_precision_recall_on_constructed_point_clouds():
    real = np.arange(10.0)[:, None]  # every k=1 radius is 1
    fake = np.array([[0.5], [20.0]])  # one inside, one far; each other's neighbour at 19.5
    assert M.precision_recall(real, fake, k=1) == (0.5, 1.0)
    assert M.precision_recall(real, real.copy(), k=3) == (1.0, 1.0)
    assert M.precision_recall(real, real + 100, k=3) == (0.0, 0.0)


def test_class_coverage_is_the_entropy_of_the_class_histogram():
    assert M.class_coverage(np.arange(1000) % 10) == pytest.approx(math.log(10))
    assert M.class_coverage(np.full(50, 7)) == 0.0
    assert M.class_coverage(np.array([2, 5] * 30)) == pytest.approx(math.log(2))
    p = np.array([0.5, 0.25, 0.25])
    assert M.class_coverage(np.array([0, 0, 1, 3])) == pytest.approx(float(-(p * np.log(p)).sum()))


def test_label_accuracy_counts_matches():
    assert M.label_accuracy(np.array([1, 2, 3, 4]), np.array([1, 2, 0, 4])) == 0.75
    with pytest.raises(ValueError):
        M.label_accuracy(np.array([1, 2]), np.array([1, 2, 3]))


def test_kid_from_full_kernels_equals_kid_from_subset_kernels():
    rng = np.random.default_rng(6)
    x, y = np.abs(rng.standard_normal((90, 5))) * 3, np.abs(rng.standard_normal((50, 5))) * 3 + 0.2
    gathered = M.kernel_inception_distance(x, y, subsets=12, subset_size=20, seed=3)
    direct = M.kernel_inception_distance(x, y, subsets=12, subset_size=20, seed=3, max_kernel_entries=0)
    assert gathered == pytest.approx(direct, rel=1e-10)
