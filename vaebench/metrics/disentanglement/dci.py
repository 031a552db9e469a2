"""Disentanglement, Completeness and Informativeness (DCI).

Eastwood & Williams (2018), "A Framework for the Quantitative Evaluation of Disentangled
Representations", ICLR, https://openreview.net/forum?id=By-7dz-AZ — as implemented in
disentanglement_lib (``evaluation/metrics/dci.py``): one gradient-boosted-tree classifier per
factor predicts the factor from the whole code; its feature importances form column j of the
importance matrix R (codes x factors).

* disentanglement = sum_i w_i (1 - H_F(R_i.)), w_i = code i's share of all importance,
  H_F the entropy of row i normalised to a distribution, base F (number of factors);
* completeness = sum_j v_j (1 - H_K(R_.j)), v_j = factor j's share, base K (number of codes);
* informativeness = classification accuracy, on the training and the test sample.

Estimators: ``"gbt"`` is the reference, scikit-learn's ``GradientBoostingClassifier`` with
default parameters and impurity importances. It is slow (minutes for a 40-class factor on
10,000 points). ``"fast"`` fits ``HistGradientBoostingClassifier`` with the same boosting
shape (100 rounds, learning rate 0.1, depth 3, leaves down to one sample) and takes the
total split gain per feature as importance; dims that order the training points alike (copies,
monotone maps of each other) are fitted once and share that importance equally, as the
reference's random feature order shares it in expectation. ``benchmarks/dci_fast_vs_gbt.py``
and ``benchmarks/disentanglement_metrics.py`` measure how far its scores are from the reference.
"""

from __future__ import annotations

import numpy as np
import scipy.stats
from joblib import Parallel, delayed
from sklearn.ensemble import GradientBoostingClassifier, HistGradientBoostingClassifier
from threadpoolctl import threadpool_limits

from vaebench.metrics.disentanglement._utils import check_codes_factors, seed_of

ESTIMATORS = ("gbt", "fast")


def dci(
    codes_train,
    factors_train,
    codes_test,
    factors_test,
    estimator: str = "gbt",
    n_jobs: int | None = None,
    random_state=0,
) -> dict:
    """DCI scores of codes (N, K) against integer factors (N, F).

    ``estimator`` is ``"gbt"`` (reference) or ``"fast"``; ``n_jobs`` fits that many factors at
    once (joblib; -1 = all cores). Returns ``disentanglement``, ``completeness``,
    ``informativeness_train``, ``informativeness_test`` (floats) and ``importance_matrix``
    (K lists of F floats).
    """
    if estimator not in ESTIMATORS:
        raise ValueError(f"estimator must be one of {ESTIMATORS}, got {estimator!r}")
    ztr, ftr = check_codes_factors(codes_train, factors_train)
    zte, fte = check_codes_factors(codes_test, factors_test)
    if ztr.shape[1] != zte.shape[1] or ftr.shape[1] != fte.shape[1]:
        raise ValueError("training and test samples differ in code or factor dims")
    seed = seed_of(random_state)
    # Largest problems (most classes) first, so a pool of workers finishes together.
    order = sorted(range(ftr.shape[1]), key=lambda j: -len(np.unique(ftr[:, j])))
    args = [(ztr, ftr[:, j], zte, fte[:, j], estimator, seed) for j in order]
    if n_jobs in (None, 1):
        fitted = [_fit_one_factor(*a) for a in args]
    else:
        fitted = Parallel(n_jobs=n_jobs)(delayed(_fit_one_factor)(*a) for a in args)
    results = [fitted[order.index(j)] for j in range(ftr.shape[1])]
    importance = np.stack([r[0] for r in results], axis=1)
    return {
        "disentanglement": disentanglement(importance),
        "completeness": completeness(importance),
        "informativeness_train": float(np.mean([r[1] for r in results])),
        "informativeness_test": float(np.mean([r[2] for r in results])),
        "importance_matrix": importance.tolist(),
    }


def _fit_one_factor(ztr, ytr, zte, yte, estimator, seed):
    """Importances (K,), train accuracy and test accuracy for one factor."""
    classes = np.unique(ytr)
    if len(classes) < 2:  # nothing to learn: predict the constant, no code is important
        return np.zeros(ztr.shape[1]), 1.0, float(np.mean(yte == classes[0]))
    if estimator == "fast":
        return _fit_fast(ztr, ytr, zte, yte, seed)
    model = GradientBoostingClassifier(random_state=seed).fit(ztr, ytr)
    importance = np.abs(model.feature_importances_)
    train_acc = float(np.mean(model.predict(ztr) == ytr))
    test_acc = float(np.mean(model.predict(zte) == yte))
    return importance, train_acc, test_acc


def _fit_fast(ztr, ytr, zte, yte, seed):
    """The ``"fast"`` estimator: histogram GBT with GBC's boosting shape, split-gain importance.

    Single-threaded: parallelism comes from fitting factors in separate processes, and
    OpenMP threads spinning on a busy machine can slow a fit down by two orders of magnitude.
    """
    # Dims that order the training points identically tie at every split: the reference
    # draws the feature order at random per node, so tied dims share the importance equally in
    # expectation, while this estimator's trees take the first of tied features every time.
    # Fit one dim of each tied group and share its importance equally among the group.
    group = _tied_groups(ztr)
    keep = np.unique(group, return_index=True)[1]
    ztr, zte = ztr[:, keep], zte[:, keep]
    with threadpool_limits(limits=1, user_api="openmp"):
        model = HistGradientBoostingClassifier(
            learning_rate=0.1,
            max_iter=100,
            max_depth=3,
            max_leaf_nodes=None,
            min_samples_leaf=1,
            l2_regularization=0.0,
            early_stopping=False,
            random_state=seed,
        ).fit(ztr, ytr)
        train_acc = float(np.mean(model.predict(ztr) == ytr))
        test_acc = float(np.mean(model.predict(zte) == yte))
    importance = _split_gain_importance(model, len(keep))[group] / np.bincount(group)[group]
    return importance, train_acc, test_acc


def _tied_groups(z: np.ndarray) -> np.ndarray:
    """Group label of each column of z (N, K), numbered in order of first appearance: columns
    whose values order the N points identically or exactly in reverse (equal values included)
    share a label. Such columns offer a tree the same partitions at every node, and so the
    same split gains: an exact copy, a monotone function of another column, or constants."""
    ranks = scipy.stats.rankdata(z, method="dense", axis=0).astype(np.int64)
    labels, seen = np.empty(z.shape[1], dtype=np.int64), {}
    for j, r in enumerate(ranks.T):
        key = min(r.tobytes(), (r.max() + 1 - r).tobytes())
        labels[j] = seen.setdefault(key, len(seen))
    return labels


def _split_gain_importance(model: HistGradientBoostingClassifier, num_features: int):
    """Total split gain per feature over all trees, normalised to sum to one.

    Reads the fitted trees (``model._predictors``, stable since scikit-learn 0.21): the
    histogram-GBT counterpart of the impurity importance ``GradientBoostingClassifier`` gives.
    """
    gain = np.zeros(num_features)
    for round_trees in model._predictors:
        for tree in round_trees:
            nodes = tree.nodes[tree.nodes["is_leaf"] == 0]
            np.add.at(gain, nodes["feature_idx"], np.maximum(nodes["gain"], 0.0))
    total = gain.sum()
    return gain / total if total > 0 else gain


def disentanglement_per_code(importance_matrix) -> np.ndarray:
    """1 - entropy (base F) of each code's importance spread over the factors."""
    r = np.asarray(importance_matrix, dtype=np.float64)
    if r.shape[1] < 2:
        return np.ones(r.shape[0])
    return 1.0 - scipy.stats.entropy(r.T + 1e-11, base=r.shape[1])


def disentanglement(importance_matrix) -> float:
    """Importance-weighted mean of ``disentanglement_per_code``."""
    r = np.asarray(importance_matrix, dtype=np.float64)
    per_code = disentanglement_per_code(r)
    if r.sum() == 0.0:
        r = np.ones_like(r)
    return float(np.sum(per_code * r.sum(axis=1) / r.sum()))


def completeness_per_factor(importance_matrix) -> np.ndarray:
    """1 - entropy (base K) of each factor's importance spread over the codes: the factors'
    view of the same matrix, i.e. ``disentanglement_per_code`` of its transpose."""
    return disentanglement_per_code(np.asarray(importance_matrix, dtype=np.float64).T)


def completeness(importance_matrix) -> float:
    """Importance-weighted mean of ``completeness_per_factor``: ``disentanglement`` of the transpose."""
    return disentanglement(np.asarray(importance_matrix, dtype=np.float64).T)
