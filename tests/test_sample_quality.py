"""KID (vaebench.metrics.kid) and precision/recall/density/coverage (vaebench.metrics.prdc) on fixed
random features: against torch-fidelity (an independent implementation), against the papers'
formulas written as slow loops, and on cases whose answer is known."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from vaebench.metrics.kid import kernel_inception_distance, mmd2_unbiased
from vaebench.metrics.prdc import knn_radii, manifold_metrics


def _features(n: int, d: int = 8, seed: int = 0, shift: float = 0.0) -> torch.Tensor:
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) + shift


def _clusters(n: int, centres: torch.Tensor, seed: int) -> torch.Tensor:
    """n points round the given centres (spread 0.3), assigned in turn."""
    g = torch.Generator().manual_seed(seed)
    idx = torch.arange(n) % len(centres)
    return centres[idx] + 0.3 * torch.randn(n, centres.shape[1], generator=g, dtype=torch.float64)


# ---------------------------------------------------------------- slow loops over the papers' formulas


def _kernel_loop(a, b) -> float:
    return (sum(float(a[t]) * float(b[t]) for t in range(len(a))) / len(a) + 1.0) ** 3


def _mmd2_loop(x, y) -> float:
    """Bińkowski et al. 2018, eq. (3) with the cubic polynomial kernel, term by term."""
    m = len(x)
    kxx = sum(_kernel_loop(x[i], x[j]) for i in range(m) for j in range(m) if i != j)
    kyy = sum(_kernel_loop(y[i], y[j]) for i in range(m) for j in range(m) if i != j)
    kxy = sum(_kernel_loop(x[i], y[j]) for i in range(m) for j in range(m))
    return kxx / (m * (m - 1)) + kyy / (m * (m - 1)) - 2 * kxy / (m * m)


def _dist(a, b) -> float:
    return float(np.sqrt(sum((float(a[t]) - float(b[t])) ** 2 for t in range(len(a)))))


def _kth_radius_loop(points, i: int, k: int) -> float:
    """Distance of points[i] to its k-th nearest other point."""
    return sorted(_dist(points[i], points[j]) for j in range(len(points)) if j != i)[k - 1]


def _prdc_loop(real, fake, k_pr: int = 3, k_dc: int = 5) -> dict[str, float]:
    """Kynkäänniemi et al. 2019 (eq. 1-3, d <= radius) and Naeem et al. 2020 (eq. 4-5, d < radius), point by point."""
    n, m = len(real), len(fake)
    r_real_pr = [_kth_radius_loop(real, i, k_pr) for i in range(n)]
    r_fake_pr = [_kth_radius_loop(fake, j, k_pr) for j in range(m)]
    r_real_dc = [_kth_radius_loop(real, i, k_dc) for i in range(n)]
    d = [[_dist(real[i], fake[j]) for j in range(m)] for i in range(n)]
    precision = sum(any(d[i][j] <= r_real_pr[i] for i in range(n)) for j in range(m)) / m
    recall = sum(any(d[i][j] <= r_fake_pr[j] for j in range(m)) for i in range(n)) / n
    density = sum(d[i][j] < r_real_dc[i] for i in range(n) for j in range(m)) / (k_dc * m)
    coverage = sum(min(d[i][j] for j in range(m)) < r_real_dc[i] for i in range(n)) / n
    return {"precision": precision, "recall": recall, "density": density, "coverage": coverage}


def test_mmd2_matches_the_formula_as_a_loop():
    x, y = _features(12, 5, seed=1), _features(12, 5, seed=2, shift=0.4)
    assert mmd2_unbiased(x, y) == pytest.approx(_mmd2_loop(x, y), rel=1e-12)


def test_prdc_matches_the_papers_formulas_as_loops():
    centres = _features(4, 6, seed=3) * 3
    real = _clusters(70, centres, seed=4)
    fake = _clusters(55, centres[:3] + 0.2, seed=5)  # three of the four modes, shifted a little
    got = manifold_metrics(real, fake)
    want = _prdc_loop(real, fake)
    assert 0 < want["recall"] < 1 and 0 < want["precision"] < 1 and 0 < want["coverage"] < 1  # a case that discriminates
    for name in want:
        assert got[name] == pytest.approx(want[name], abs=1e-12), name


@pytest.mark.parametrize("chunk_elements", [1, 7 * 55, 1000, 10**9])
def test_prdc_is_the_same_for_every_chunking(chunk_elements):
    real, fake = _features(80, 6, seed=6), _features(55, 6, seed=7, shift=0.3)
    assert manifold_metrics(real, fake, chunk_elements=chunk_elements) == manifold_metrics(real, fake)
    full = knn_radii(real, (3, 5), chunk_elements=10**9)
    for k, r in knn_radii(real, (3, 5), chunk_elements=chunk_elements).items():
        assert torch.allclose(r, full[k], rtol=1e-12, atol=0)  # one row or many: only the BLAS path's round-off


# ---------------------------------------------------------------- torch-fidelity


def test_kid_matches_torch_fidelity_on_one_full_subset():
    """One subset of every row: the estimate is permutation invariant, so the subset draws of the
    two implementations cannot differ and the values agree to round-off."""
    fidelity = pytest.importorskip("torch_fidelity.metric_kid")
    real, fake = _features(300, 16, seed=8), _features(300, 16, seed=9, shift=0.15)
    ours, _ = kernel_inception_distance(real, fake, seed=0, subsets=1, subset_size=300)
    theirs = fidelity.kid_features_to_metric(fake, real, kid_subsets=1, kid_subset_size=300, verbose=False)
    assert ours == pytest.approx(theirs["kernel_inception_distance_mean"], rel=1e-9)


def test_kid_over_subsets_agrees_with_torch_fidelity_within_the_subset_noise():
    fidelity = pytest.importorskip("torch_fidelity.metric_kid")
    real, fake = _features(600, 16, seed=10), _features(500, 16, seed=11, shift=0.15)
    mean, std = kernel_inception_distance(real, fake, seed=1, subsets=200, subset_size=100)
    theirs = fidelity.kid_features_to_metric(fake, real, kid_subsets=200, kid_subset_size=100, verbose=False)
    # two independent means of 200 subset draws each: their difference has std ~ std * sqrt(2 / 200)
    assert abs(mean - theirs["kernel_inception_distance_mean"]) < 4 * std * np.sqrt(2 / 200)
    assert std == pytest.approx(theirs["kernel_inception_distance_std"], rel=0.2)
    assert mean > 10 * std / np.sqrt(200)  # a difference KID measures, so the check is not of zeros


@pytest.mark.parametrize("shift", [0.0, 0.3, 1.0])
def test_precision_recall_match_torch_fidelity(shift):
    fidelity = pytest.importorskip("torch_fidelity.metric_prc")
    centres = _features(6, 10, seed=12) * 2
    real = _clusters(400, centres, seed=13)
    fake = _clusters(350, centres[:4] + shift, seed=14)
    ours = manifold_metrics(real, fake)
    theirs = fidelity.prc_features_to_metric(fake, real, prc_neighborhood=3, prc_batch_size=10000, save_cpu_ram=False,
                                             verbose=False)
    # torch-fidelity averages in float32: agreement to its round-off, i.e. the same points counted
    assert ours["precision"] == pytest.approx(theirs["precision"], abs=1e-6)
    assert ours["recall"] == pytest.approx(theirs["recall"], abs=1e-6)


# ---------------------------------------------------------------- analytic cases


def test_identical_sets():
    x = _features(400, 8, seed=15)
    m = manifold_metrics(x, x.clone())
    # density: each point's own ball and its k - 1 nearer neighbours' balls hold it, k balls out of k
    assert m == {"precision": 1.0, "recall": 1.0, "density": pytest.approx(1.0, abs=1e-12), "coverage": 1.0}
    # one subset of all 400 rows: MMD²_u(X, X) = 2 (S/m - D) / (m (m - 1)), S the kernel matrix's sum, D its trace
    kid_same, _ = kernel_inception_distance(x, x.clone(), seed=0, subsets=1, subset_size=400)
    k = (x @ x.T / 8 + 1) ** 3
    assert kid_same == pytest.approx(float(2 * (k.sum() / 400 - k.trace()) / (400 * 399)), rel=1e-9)
    kid_shifted, _ = kernel_inception_distance(x, _features(400, 8, seed=15, shift=0.5), seed=0, subsets=1, subset_size=400)
    assert abs(kid_same) < 0.05 * kid_shifted  # O(1/m): zero next to a real difference


def test_two_draws_of_one_distribution_have_kid_near_zero():
    mean, std = kernel_inception_distance(_features(2000, 8, seed=16), _features(2000, 8, seed=17), seed=3)
    assert abs(mean) < 4 * std / np.sqrt(100) + 1e-3


def test_disjoint_sets():
    real, fake = _features(200, 8, seed=18), _features(200, 8, seed=19, shift=50.0)
    m = manifold_metrics(real, fake)
    assert m == {"precision": 0.0, "recall": 0.0, "density": 0.0, "coverage": 0.0}


def test_dropping_modes_lowers_recall_and_coverage_not_precision():
    centres = _features(10, 8, seed=20) * 4
    real = _clusters(1000, centres, seed=21)
    every_mode = manifold_metrics(real, _clusters(1000, centres, seed=22))
    half_the_modes = manifold_metrics(real, _clusters(1000, centres[:5], seed=23))
    # k = 3 manifolds in 8 dims: two draws of one distribution have recall ~0.85, coverage ~0.98
    assert every_mode["recall"] > 0.8 and every_mode["coverage"] > 0.95
    assert half_the_modes["recall"] == pytest.approx(every_mode["recall"] / 2, abs=0.05)
    assert half_the_modes["coverage"] == pytest.approx(every_mode["coverage"] / 2, abs=0.05)
    assert abs(half_the_modes["precision"] - every_mode["precision"]) < 0.05
    assert abs(half_the_modes["density"] - every_mode["density"]) < 0.05


def test_kid_subsets_are_seeded_and_leave_the_global_rngs_alone():
    real, fake = _features(300, 8, seed=24), _features(300, 8, seed=25, shift=0.1)
    torch_state, np_state = torch.get_rng_state(), np.random.get_state()
    a = kernel_inception_distance(real, fake, seed=7, subsets=20, subset_size=100)
    b = kernel_inception_distance(real, fake, seed=7, subsets=20, subset_size=100)
    c = kernel_inception_distance(real, fake, seed=8, subsets=20, subset_size=100)
    assert a == b and a != c
    assert torch.equal(torch.get_rng_state(), torch_state)
    assert all(np.array_equal(p, q) if isinstance(p, np.ndarray) else p == q
               for p, q in itertools.zip_longest(np.random.get_state(), np_state))


def test_kid_subset_size_is_capped_by_the_smaller_set():
    real, fake = _features(50, 4, seed=26), _features(40, 4, seed=27)
    one, _ = kernel_inception_distance(real[:40], fake, seed=0, subsets=1)  # 40 rows each: one subset of everything
    assert one == pytest.approx(mmd2_unbiased(real[:40], fake), rel=1e-12)


def test_bad_features_fail_fast():
    with pytest.raises(ValueError, match="feature dimensions differ"):
        manifold_metrics(_features(10, 3), _features(10, 4))
    with pytest.raises(ValueError, match="NaN"):
        manifold_metrics(torch.full((10, 3), float("nan")), _features(10, 3))
    with pytest.raises(ValueError, match="one d"):
        kernel_inception_distance(_features(10, 3), _features(10, 4), seed=0)
