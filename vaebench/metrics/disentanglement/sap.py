"""Separated Attribute Predictability (SAP).

Kumar, Sattigeri & Balakrishnan (2018), "Variational Inference of Disentangled Latent
Concepts from Unlabeled Observations", ICLR, https://openreview.net/forum?id=H1kG7GZAW,
Section 3 — as implemented in disentanglement_lib (``evaluation/metrics/sap_score.py``).

A score matrix S (codes x factors) holds how well each single code dim predicts each factor:
for discrete factors the test accuracy of a linear SVM (``LinearSVC(C=0.01,
class_weight="balanced")``) trained on that one dim; for continuous factors the squared
correlation. SAP is the mean over factors of the gap between the two largest entries of the
factor's column.
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.svm import LinearSVC

from vaebench.metrics.disentanglement._utils import check_codes_factors, seed_of, top_two_gap


def sap(
    codes_train,
    factors_train,
    codes_test,
    factors_test,
    continuous_factors: bool = False,
    random_state=0,
) -> dict:
    """SAP of codes (N, K) against integer factors (N, F).

    Returns ``{"sap": float, "score_matrix": K lists of F floats}``. With
    ``continuous_factors=True`` only the training sample is used (as in disentanglement_lib).
    """
    ztr, ftr = check_codes_factors(codes_train, factors_train)
    zte, fte = check_codes_factors(codes_test, factors_test)
    if ztr.shape[1] < 2:
        raise ValueError("SAP needs at least two code dims")
    m = score_matrix(ztr, ftr, zte, fte, continuous_factors, seed_of(random_state))
    return {"sap": float(np.mean(top_two_gap(m))), "score_matrix": m.tolist()}


def score_matrix(ztr, ftr, zte, fte, continuous_factors=False, seed=0) -> np.ndarray:
    """The (K, F) matrix of single-dim predictability."""
    k, f = ztr.shape[1], ftr.shape[1]
    m = np.zeros((k, f))
    for i in range(k):
        for j in range(f):
            if continuous_factors:
                m[i, j] = _squared_correlation(ztr[:, i], ftr[:, j])
            else:
                m[i, j] = _svm_accuracy(ztr[:, i], ftr[:, j], zte[:, i], fte[:, j], seed)
    return m


def _squared_correlation(z, y) -> float:
    c = np.cov(z, y, ddof=1)
    if c[0, 0] <= 1e-12 or c[1, 1] <= 0:
        return 0.0
    return float(c[0, 1] ** 2 / (c[0, 0] * c[1, 1]))


def _svm_accuracy(z_train, y_train, z_test, y_test, seed) -> float:
    """Test accuracy of a linear SVM on one code dim; 0 for a factor constant in training."""
    if len(np.unique(y_train)) < 2:
        return 0.0
    # dual=False solves the same (primal) problem as the reference's dual solver, and with a
    # single feature it converges quickly and exactly.
    clf = LinearSVC(C=0.01, class_weight="balanced", dual=False, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(z_train[:, None], y_train)
    return float(np.mean(clf.predict(z_test[:, None]) == y_test))
