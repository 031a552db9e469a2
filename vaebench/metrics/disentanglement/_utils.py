"""Helpers shared by the disentanglement metrics.

Input checks, seeding, the histogram discretisation and discrete mutual information of
disentanglement_lib (``evaluation/metrics/utils.py``), and the sampling of (codes, factors)
pairs from a ground-truth data set. Conventions: ``codes`` are float arrays (N, K), one row
per observation; ``factors`` are integer arrays (N, F). (disentanglement_lib stores both
transposed.)
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from sklearn.metrics import mutual_info_score

RepresentationFn = Callable[[np.ndarray], np.ndarray]


def as_random_state(random_state) -> np.random.RandomState:
    """An int seed, a ``RandomState`` (returned as is) or a ``Generator`` -> ``RandomState``.

    The metrics draw from a legacy ``RandomState`` so that, given the same seed and data, they
    consume random numbers in the same order as disentanglement_lib. A ``Generator`` is turned
    into one by drawing a single seed from it; ``None`` gives an unseeded (irreproducible) one.
    """
    if isinstance(random_state, np.random.RandomState):
        return random_state
    if isinstance(random_state, np.random.Generator):
        return np.random.RandomState(int(random_state.integers(2**32 - 1)))
    if random_state is None or isinstance(random_state, (int, np.integer)):
        return np.random.RandomState(random_state)
    raise TypeError(f"cannot make a random state from {type(random_state).__name__}")


def seed_of(random_state) -> int:
    """An int seed for scikit-learn estimators; ints pass through, random states give a draw."""
    if isinstance(random_state, (int, np.integer)):
        return int(random_state)
    return int(as_random_state(random_state).randint(np.iinfo(np.int32).max))


def check_codes_factors(codes, factors) -> tuple[np.ndarray, np.ndarray]:
    """Validate and convert: codes -> float64 (N, K), factors -> int64 (N, F)."""
    codes = np.asarray(codes)
    factors = np.asarray(factors)
    if codes.ndim != 2 or factors.ndim != 2:
        raise ValueError(f"codes and factors must be 2-D, got {codes.shape} and {factors.shape}")
    if len(codes) != len(factors):
        raise ValueError(f"{len(codes)} codes but {len(factors)} factor rows")
    if len(codes) < 2:
        raise ValueError("need at least two samples")
    if not np.all(np.isfinite(codes)):
        raise ValueError("codes contain NaN or infinite values")
    if not np.issubdtype(factors.dtype, np.integer):
        if not np.all(np.equal(np.mod(factors, 1), 0)):
            raise ValueError("factors must be integer class indices")
    return codes.astype(np.float64), factors.astype(np.int64)


def histogram_discretize(codes: np.ndarray, num_bins: int = 20) -> np.ndarray:
    """Bin each code dim into ``num_bins`` equal-width bins over its own range -> ints 1..bins.

    As disentanglement_lib's ``_histogram_discretize``: ``np.digitize`` against the left edges
    of ``np.histogram(x, num_bins)``, so the maximum falls in the last bin.
    """
    codes = np.asarray(codes, dtype=np.float64)
    out = np.empty(codes.shape, dtype=np.int64)
    for j in range(codes.shape[1]):
        edges = np.histogram(codes[:, j], num_bins)[1][:-1]
        out[:, j] = np.digitize(codes[:, j], edges)
    return out


def discrete_mutual_info(discrete_codes: np.ndarray, factors: np.ndarray) -> np.ndarray:
    """Plug-in mutual information (nats) of every (code, factor) pair -> (K, F)."""
    k, f = discrete_codes.shape[1], factors.shape[1]
    m = np.zeros((k, f))
    for i in range(k):
        for j in range(f):
            m[i, j] = mutual_info_score(factors[:, j], discrete_codes[:, i])
    return m


def discrete_entropy(factors: np.ndarray) -> np.ndarray:
    """Plug-in entropy (nats) of every factor -> (F,)."""
    return np.array([mutual_info_score(y, y) for y in np.asarray(factors).T])


def top_two_gap(matrix: np.ndarray) -> np.ndarray:
    """Per column: the largest entry minus the second largest."""
    s = np.sort(matrix, axis=0)
    return s[-1] - s[-2]


def encode(representation_fn: RepresentationFn, observations) -> np.ndarray:
    """Apply a representation function and check it returns one code row per observation."""
    z = np.asarray(representation_fn(observations), dtype=np.float64)
    if z.ndim != 2 or len(z) != len(observations):
        raise ValueError(
            f"representation_fn must map {len(observations)} observations to (N, K) codes, "
            f"got shape {z.shape}"
        )
    return z


def sample_codes_factors(
    dataset,
    representation_fn: RepresentationFn,
    num_points: int,
    random_state,
    batch_size: int = 16,
    encode_size: int = 1024,
) -> tuple[np.ndarray, np.ndarray]:
    """Draw ``num_points`` factors and observations, encode them -> codes (N, K), factors (N, F).

    Factors and observations are drawn ``batch_size`` at a time, in the order of
    disentanglement_lib's ``generate_batch_factor_code`` (so the random stream matches); the
    observations are encoded ``encode_size`` at a time, which changes nothing for a
    deterministic representation but is much faster for a network.
    """
    rs = as_random_state(random_state)
    codes, factors, pending = [], [], []
    drawn = 0

    def flush():
        if pending:
            codes.append(encode(representation_fn, np.concatenate(pending)))
            pending.clear()

    while drawn < num_points:
        n = min(num_points - drawn, batch_size)
        f = np.asarray(dataset.sample_factors(n, rs))
        pending.append(np.asarray(dataset.sample_observations_from_factors(f, rs)))
        factors.append(f)
        drawn += n
        if sum(len(p) for p in pending) >= encode_size:
            flush()
    flush()
    return np.concatenate(codes), np.concatenate(factors).astype(np.int64)


def sample_train_test(
    dataset,
    representation_fn: RepresentationFn,
    num_train: int,
    num_test: int,
    random_state,
    batch_size: int = 16,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A training then a test sample from one random stream, as disentanglement_lib's metrics.

    Returns ``codes_train, factors_train, codes_test, factors_test``.
    """
    rs = as_random_state(random_state)
    ztr, ftr = sample_codes_factors(dataset, representation_fn, num_train, rs, batch_size)
    zte, fte = sample_codes_factors(dataset, representation_fn, num_test, rs, batch_size)
    return ztr, ftr, zte, fte
