"""Linear probe: how much class information a code carries."""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler


def probe_accuracy(train_codes, train_y, test_codes, test_y, max_iter: int = 500) -> float:
    """Multinomial logistic regression fitted on standardised train codes, accuracy on test codes.

    Deterministic (lbfgs, no sampling). For a CVAE the codes are z from q(z|x, y), so the probe
    measures the class information left in z once the label is given to the decoder.
    """
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=max_iter))
    clf.fit(np.asarray(train_codes, dtype=np.float64), np.asarray(train_y))
    return float(clf.score(np.asarray(test_codes, dtype=np.float64), np.asarray(test_y)))
