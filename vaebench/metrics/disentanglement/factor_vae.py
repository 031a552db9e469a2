"""The FactorVAE disentanglement score.

Kim & Mnih (2018), "Disentangling by Factorising", ICML, https://arxiv.org/abs/1802.05983 —
as implemented in disentanglement_lib (``evaluation/metrics/factor_vae.py``).

First the variance of every code dim over ``num_variance_estimate`` random observations;
dims whose standard deviation is below ``prune_threshold`` (0.05, the value of
disentanglement_lib's study configs) count as collapsed and are ignored. One training point:
fix a random factor k in a batch of ``batch_size`` factor vectors; the code dim with the least
variance over the batch, relative to its global variance, votes for k. A majority-vote
classifier maps each code dim to the factor it most often voted for; the score is that
classifier's accuracy on the ``num_train`` training votes and on ``num_eval`` fresh ones.
Random stream: as in ``beta_vae`` (reference order of factor draws; observations requested
for many points at once).
"""

from __future__ import annotations

import numpy as np

from vaebench.metrics.disentanglement._utils import RepresentationFn, as_random_state, encode


def factor_vae_score(
    dataset,
    representation_fn: RepresentationFn,
    rng=0,
    batch_size: int = 64,
    num_train: int = 10000,
    num_eval: int = 5000,
    num_variance_estimate: int = 10000,
    prune_threshold: float = 0.05,
    points_per_call: int = 32,
    encode_size: int = 2048,
) -> dict:
    """FactorVAE score of ``representation_fn`` on a ground-truth ``dataset``.

    Same ``dataset``/``representation_fn``/``rng`` conventions as ``beta_vae_score``;
    ``points_per_call`` points (batch_size observations each) and ``encode_size`` variance
    observations are encoded per call. Returns
    ``{"train_accuracy", "eval_accuracy", "num_active_dims"}``; with no active dim both
    accuracies are 0.
    """
    rs = as_random_state(rng)
    factors = dataset.sample_factors(num_variance_estimate, rs)
    obs = dataset.sample_observations_from_factors(factors, rs)
    codes = np.concatenate(
        [
            encode(representation_fn, obs[i : i + encode_size])
            for i in range(0, len(obs), encode_size)
        ]
    )
    del obs
    global_var = np.var(codes, axis=0, ddof=1)
    active = np.flatnonzero((np.sqrt(global_var) >= prune_threshold) & (global_var > 0))
    if len(active) == 0:
        return {"train_accuracy": 0.0, "eval_accuracy": 0.0, "num_active_dims": 0}

    args = (dataset, representation_fn, batch_size, rs, global_var, active, points_per_call)
    train_votes = _votes(num_train, *args)
    classifier = np.argmax(train_votes, axis=0)  # code dim -> factor it votes for most
    eval_votes = _votes(num_eval, *args)
    return {
        "train_accuracy": _accuracy(train_votes, classifier),
        "eval_accuracy": _accuracy(eval_votes, classifier),
        "num_active_dims": int(len(active)),
    }


def _accuracy(votes: np.ndarray, classifier: np.ndarray) -> float:
    return float(votes[classifier, np.arange(votes.shape[1])].sum() / votes.sum())


def _votes(num_points, dataset, representation_fn, batch_size, rs, global_var, active, per_call):
    """(F, K) vote counts of ``num_points`` training points; random draws in reference order."""
    votes = np.zeros((dataset.num_factors, len(global_var)), dtype=np.int64)
    for start in range(0, num_points, per_call):
        n = min(per_call, num_points - start)
        ks, factors = [], []
        for _ in range(n):
            k = rs.randint(dataset.num_factors)
            f = np.array(dataset.sample_factors(batch_size, rs))
            f[:, k] = f[0, k]
            factors.append(f)
            ks.append(k)
        obs = dataset.sample_observations_from_factors(np.concatenate(factors), rs)
        z = encode(representation_fn, obs).reshape(n, batch_size, -1)
        local_var = np.var(z, axis=1, ddof=1)
        argmin = active[np.argmin(local_var[:, active] / global_var[active], axis=1)]
        np.add.at(votes, (np.asarray(ks), argmin), 1)
    return votes
