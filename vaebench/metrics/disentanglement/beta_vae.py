"""The BetaVAE disentanglement score.

Higgins, Matthey, Pal, Burgess, Glorot, Botvinick, Mohamed & Lerchner (2017), "beta-VAE:
Learning Basic Visual Concepts with a Constrained Variational Framework", ICLR,
https://openreview.net/forum?id=Sy2fzU9gl — the scikit-learn variant of disentanglement_lib
(``evaluation/metrics/beta_vae.py``, ``compute_beta_vae_sklearn``).

One training point: pick a factor k at random; draw two batches of ``batch_size`` factor
vectors that agree on factor k; the point's features are the mean absolute difference of the
two batches' codes, its label is k. A linear classifier (logistic regression) learns k from
the features; the score is its accuracy on ``num_train`` training and ``num_eval`` fresh
evaluation points. Defaults are disentanglement_lib's: batch 64, 10,000 and 5,000 points.

Random stream: factors are drawn in exactly the reference's order, so with the same seed and
a data set whose observations are a fixed function of the factors (dSprites) the samples are
the reference's. Observations are requested for many points in one call, though, so a data
set that draws noise when rendering observations sees a different (equally distributed)
stream.
"""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.multiclass import OneVsRestClassifier

from vaebench.metrics.disentanglement._utils import RepresentationFn, as_random_state, encode


def beta_vae_score(
    dataset,
    representation_fn: RepresentationFn,
    rng=0,
    batch_size: int = 64,
    num_train: int = 10000,
    num_eval: int = 5000,
    points_per_call: int = 16,
) -> dict:
    """BetaVAE score of ``representation_fn`` on a ground-truth ``dataset``.

    ``dataset`` needs ``num_factors``, ``sample_factors(n, rng)`` and
    ``sample_observations_from_factors(factors, rng)``; ``representation_fn`` maps a batch of
    observations to codes (n, K). ``rng`` is an int seed, a ``RandomState`` or a
    ``Generator``. ``points_per_call`` points (2 x batch_size observations each) are rendered
    and encoded in one call. Returns ``{"train_accuracy", "eval_accuracy"}``.
    """
    rs = as_random_state(rng)
    x_train, y_train = _points(
        dataset, representation_fn, batch_size, num_train, rs, points_per_call
    )
    # One draw for the classifier's seed, where the reference hands it the random state.
    seed = int(rs.randint(np.iinfo(np.int32).max))
    # LogisticRegression() as it defaulted in the reference's day: liblinear, one-vs-rest, C=1.
    model = OneVsRestClassifier(LogisticRegression(solver="liblinear", random_state=seed))
    model.fit(x_train, y_train)
    train_accuracy = float(np.mean(model.predict(x_train) == y_train))
    x_eval, y_eval = _points(dataset, representation_fn, batch_size, num_eval, rs, points_per_call)
    eval_accuracy = float(np.mean(model.predict(x_eval) == y_eval))
    return {"train_accuracy": train_accuracy, "eval_accuracy": eval_accuracy}


def _points(dataset, representation_fn, batch_size, num_points, rs, points_per_call):
    """``num_points`` (features, label) pairs.

    Factors are drawn point by point in the reference's order; observations and codes are
    then produced for ``points_per_call`` points at once (see the module notes on the random
    stream).
    """
    features, labels = [], []
    for start in range(0, num_points, points_per_call):
        n = min(points_per_call, num_points - start)
        factors = []
        for _ in range(n):
            k = rs.randint(dataset.num_factors)
            f1 = np.array(dataset.sample_factors(batch_size, rs))
            f2 = np.array(dataset.sample_factors(batch_size, rs))
            f2[:, k] = f1[:, k]
            factors += [f1, f2]
            labels.append(k)
        obs = dataset.sample_observations_from_factors(np.concatenate(factors), rs)
        z = encode(representation_fn, obs).reshape(n, 2, batch_size, -1)
        features.append(np.mean(np.abs(z[:, 0] - z[:, 1]), axis=1))
    return np.concatenate(features), np.asarray(labels, dtype=np.int64)
