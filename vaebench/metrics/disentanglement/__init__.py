"""Disentanglement metrics, following disentanglement_lib (Locatello et al., 2019).

Each metric has its own module citing its paper, and a public function that scores codes a
user computed themselves:

* ``mig(codes, factors)`` — Chen et al. 2018;
* ``dci(codes_train, factors_train, codes_test, factors_test)`` — Eastwood & Williams 2018;
* ``sap(codes_train, factors_train, codes_test, factors_test)`` — Kumar et al. 2018;
* ``modularity_explicitness(...)`` — Ridgeway & Mozer 2018;
* ``beta_vae_score(dataset, representation_fn, rng)`` — Higgins et al. 2017;
* ``factor_vae_score(dataset, representation_fn, rng)`` — Kim & Mnih 2018.

``codes`` are float arrays (N, K), ``factors`` integer arrays (N, F). The last two draw their
own samples from a ground-truth data set (anything with ``num_factors``, ``factor_sizes``,
``sample_factors`` and ``sample_observations_from_factors``, e.g.
``vaebench.data.dsprites_render.DSprites``). ``evaluate_all`` runs all six for one model with
the disentanglement_lib sample sizes. Deviations from disentanglement_lib are listed in
``docs/disentanglement.md``.
"""

from __future__ import annotations

import time

from vaebench.metrics.disentanglement._utils import (
    RepresentationFn,
    discrete_entropy,
    discrete_mutual_info,
    histogram_discretize,
    sample_codes_factors,
    sample_train_test,
    seed_of,
)
from vaebench.metrics.disentanglement.beta_vae import beta_vae_score
from vaebench.metrics.disentanglement.dci import completeness, dci, disentanglement
from vaebench.metrics.disentanglement.factor_vae import factor_vae_score
from vaebench.metrics.disentanglement.mig import mig, mig_from_mutual_info
from vaebench.metrics.disentanglement.modularity import (
    explicitness,
    modularity,
    modularity_explicitness,
)
from vaebench.metrics.disentanglement.sap import sap

__all__ = [
    "beta_vae_score",
    "completeness",
    "dci",
    "disentanglement",
    "evaluate_all",
    "explicitness",
    "factor_vae_score",
    "mig",
    "modularity",
    "modularity_explicitness",
    "sample_codes_factors",
    "sample_train_test",
    "sap",
]


def evaluate_all(
    dataset,
    representation_fn: RepresentationFn,
    random_state: int = 0,
    num_train: int = 10000,
    num_test: int = 5000,
    batch_size: int = 16,
    num_bins: int = 20,
    dci_estimator: str = "fast",
    n_jobs: int | None = -1,
    beta_vae: dict | None = None,
    factor_vae: dict | None = None,
    timings: dict | None = None,
) -> dict[str, float]:
    """All six scores of one representation, as a flat dict of floats.

    Like disentanglement_lib, every metric starts from a fresh random state seeded with
    ``random_state``; MIG, DCI, SAP and modularity/explicitness would therefore all draw the
    same ``num_train`` + ``num_test`` sample, so it is drawn and encoded once, and the
    discretised mutual information is computed once for MIG and modularity. ``dci_estimator``
    defaults to ``"fast"`` here so that one evaluation fits in about two minutes on two cores;
    pass ``"gbt"`` for the reference estimator. ``beta_vae`` / ``factor_vae`` override those
    scores' keyword arguments (sample counts, batch size). Wall-clock seconds per metric go
    into ``timings`` when a dict is given.
    """
    seed = seed_of(random_state)
    clock = _Clock(timings)
    with clock("sample"):
        ztr, ftr, zte, fte = sample_train_test(
            dataset, representation_fn, num_train, num_test, seed, batch_size
        )
    out: dict[str, float] = {}
    with clock("mig"):
        mi = discrete_mutual_info(histogram_discretize(ztr, num_bins), ftr)
        out["mig"] = mig_from_mutual_info(mi, discrete_entropy(ftr))["mig"]
    with clock("dci"):
        d = dci(ztr, ftr, zte, fte, estimator=dci_estimator, n_jobs=n_jobs, random_state=seed)
        for key in (
            "disentanglement",
            "completeness",
            "informativeness_train",
            "informativeness_test",
        ):
            out[f"dci_{key}"] = d[key]
    with clock("sap"):
        out["sap"] = sap(ztr, ftr, zte, fte, random_state=seed)["sap"]
    with clock("modularity_explicitness"):
        out["modularity"] = modularity(mi)
        out["explicitness_train"], out["explicitness_test"] = explicitness(ztr, ftr, zte, fte, seed)
    with clock("beta_vae"):
        b = beta_vae_score(dataset, representation_fn, seed, **(beta_vae or {}))
        out["beta_vae_train_accuracy"] = b["train_accuracy"]
        out["beta_vae_eval_accuracy"] = b["eval_accuracy"]
    with clock("factor_vae"):
        f = factor_vae_score(dataset, representation_fn, seed, **(factor_vae or {}))
        out["factor_vae_train_accuracy"] = f["train_accuracy"]
        out["factor_vae_eval_accuracy"] = f["eval_accuracy"]
        out["factor_vae_num_active_dims"] = f["num_active_dims"]
    return out


class _Clock:
    """``with clock(name):`` adds the block's wall-clock seconds to ``timings[name]``."""

    def __init__(self, timings: dict | None):
        self.timings = timings

    def __call__(self, name: str):
        self.name = name
        return self

    def __enter__(self):
        self.start = time.perf_counter()

    def __exit__(self, *exc):
        if self.timings is not None:
            self.timings[self.name] = time.perf_counter() - self.start
