"""Modularity and explicitness.

Ridgeway & Mozer (2018), "Learning Deep Disentangled Embeddings With the F-Statistic Loss",
NeurIPS, https://arxiv.org/abs/1802.05312 — as implemented in disentanglement_lib
(``evaluation/metrics/modularity_explicitness.py``).

* modularity: from the (codes x factors) mutual information of histogram-discretised codes
  (20 bins, as MIG); code i scores 1 - delta_i with
  delta_i = sum_{j != argmax} m_ij^2 / (max_j m_ij^2 (F - 1)), a code with no information
  scores 0; averaged over codes;
* explicitness: per factor, a one-vs-rest logistic regression on the standardised code; the
  macro ROC-AUC of its class probabilities, on the training and the test sample; averaged
  over factors.
"""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.multiclass import OneVsRestClassifier

from vaebench.metrics.disentanglement._utils import (
    check_codes_factors,
    discrete_mutual_info,
    histogram_discretize,
    seed_of,
)


def modularity_explicitness(
    codes_train, factors_train, codes_test, factors_test, num_bins: int = 20, random_state=0
) -> dict:
    """Modularity and explicitness of codes (N, K) against integer factors (N, F).

    Returns ``{"modularity", "explicitness_train", "explicitness_test"}`` (floats).
    """
    ztr, ftr = check_codes_factors(codes_train, factors_train)
    zte, fte = check_codes_factors(codes_test, factors_test)
    mi = discrete_mutual_info(histogram_discretize(ztr, num_bins), ftr)
    train, test = explicitness(ztr, ftr, zte, fte, random_state)
    return {"modularity": modularity(mi), "explicitness_train": train, "explicitness_test": test}


def modularity(mutual_info) -> float:
    """Modularity from a (K, F) mutual-information matrix."""
    sq = np.square(np.asarray(mutual_info, dtype=np.float64))
    top = sq.max(axis=1)
    if sq.shape[1] < 2:  # one factor: every informative code is modular
        return float(np.mean(top > 0))
    with np.errstate(divide="ignore", invalid="ignore"):
        delta = (sq.sum(axis=1) - top) / (top * (sq.shape[1] - 1.0))
    per_code = np.where(top == 0.0, 0.0, 1.0 - delta)
    return float(np.mean(per_code))


def explicitness(ztr, ftr, zte, fte, random_state=0) -> tuple[float, float]:
    """Mean over factors of the one-vs-rest logistic-regression ROC-AUC (train, test).

    Codes are standardised with the training mean and standard deviation (a constant dim is
    left unscaled). A factor constant in training is skipped.
    """
    ztr, ftr = check_codes_factors(ztr, ftr)
    zte, fte = check_codes_factors(zte, fte)
    mean, std = ztr.mean(axis=0), ztr.std(axis=0)
    std = np.where(std > 0, std, 1.0)
    xtr, xte = (ztr - mean) / std, (zte - mean) / std
    seed = seed_of(random_state)
    scores = [
        _explicitness_per_factor(xtr, ftr[:, j], xte, fte[:, j], seed) for j in range(ftr.shape[1])
    ]
    scores = [s for s in scores if s is not None]
    if not scores:
        return float("nan"), float("nan")
    train, test = np.mean(scores, axis=0)
    return float(train), float(test)


def _explicitness_per_factor(xtr, ytr, xte, yte, seed):
    if len(np.unique(ytr)) < 2:
        return None
    # The reference's LogisticRegression() defaults of its day: liblinear, one-vs-rest, C=1.
    clf = OneVsRestClassifier(LogisticRegression(solver="liblinear", random_state=seed))
    clf.fit(xtr, ytr)
    return _macro_auc(clf, xtr, ytr), _macro_auc(clf, xte, yte)


def _macro_auc(clf, x, y) -> float:
    """Mean one-vs-rest ROC-AUC over the classes that have positives and negatives in y."""
    proba = clf.predict_proba(x)
    onehot = y[:, None] == clf.classes_[None, :]
    keep = onehot.any(axis=0) & ~onehot.all(axis=0)
    if not keep.any():
        return float("nan")
    return float(roc_auc_score(onehot[:, keep], proba[:, keep], average="macro"))
