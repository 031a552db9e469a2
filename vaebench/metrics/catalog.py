"""The metric catalogue: every column's name, direction and meaning (no torch needed).

The report, compare and the table read only this module, so they run without importing torch.
"""

from __future__ import annotations

# name -> (direction, description); the table's columns, in this order. direction: True =
# higher is better, False = lower is better, None = informational (no arrow in the table, never
# gated by compare; INFORMATIONAL_WHY says why for each)
METRICS: dict[str, tuple[bool | None, str]] = {
    "elbo": (True, "ELBO on log p(x), nats/image (the model's likelihood: Bernoulli unless its label names another; a density likelihood's "
                   "bound is on the test images dequantized as for `bpd`, so its elbo/iwae are log-densities of (q + u) / L, "
                   "not comparable across likelihoods: only `bpd` is). Empty for the CVAE: a marginal ELBO needs a "
                   "q(y|x), which the CVAE has not; its bound on log p(x) is `iwae`, its bounds given the label are `*_cond`. "
                   "Empty for models with no likelihood (AE, WAE, RAE; PCA reports `ppca_ll`)"),
    "iwae": (True, "importance-weighted bound on log p(x) with k samples, nats/image (dequantized test images for a density likelihood); "
                   "CVAE: log sum_y p(y) p_hat(x|y) by stratified importance sampling over the labels (the test label's stratum "
                   "k + m samples, every other label's m = max(1, k // 64)), p(y) = train label frequencies, still a lower bound; "
                   "empty for AE, WAE, RAE"),
    "elbo_cond": (True, "CVAE: ELBO on log p(x|y) given the true label, nats/image (the label is given: not comparable with `elbo`)"),
    "iwae_cond": (True, "CVAE: k-sample importance-weighted bound on log p(x|y) given the true label, nats/image"),
    "rec_nll": (None, "-E_q log p(x|z), nats/image"),
    "kl": (None, "KL(q(z|x) || p(z)), nats/image: analytic for the N(0, I) prior; for a learned prior (vamp_vae) the Monte Carlo "
                 "estimate mean_s [log q(z_s|x) - log p(z_s)] over the evaluation's k posterior samples"),
    "rec_nll_cond": (None, "CVAE: -E_q(z|x,y) log p(x|z,y) given the true label, nats/image"),
    "kl_cond": (None, "CVAE: KL(q(z|x,y) || p(z)) given the true label, nats/image"),
    "mse": (False, "per-pixel MSE of the mean reconstruction"),
    "active_units": (None, "Burda et al. 2016 active units (Cov_x E_q[z_i] > 0.01)"),
    "probe_acc": (True, "logistic-regression class accuracy from the codes (train -> test); for the CVAE, whose encoder "
                        "and decoder are both given the label, it is the class information that leaks into z although the "
                        "decoder has the label: lower there means a code that carries style rather than class, so read "
                        "it next to the VAE's"),
    "ppca_ll": (True, "PCA: exact probabilistic-PCA log-likelihood, Gaussian nats/image (not comparable with a Bernoulli ELBO)"),
    "bpd": (False, "bits/dim of the quantised test images under uniform dequantization: -(E_u log p((q+u)/L) - D log L) / "
                   "(D log 2), L = 256 for 8-bit data (17 for digits: per digits level); the `iwae` column in bits/dim "
                   "(one k-sample pass on the dequantized images; CVAE: its label marginal) or exact (PPCA); only for likelihoods with a density (docs/likelihood.md); empty for AE, WAE, RAE"),
}

# Disentanglement scores (data sets with ground-truth factors; drawn from the whole factor
# grid, disentanglement_lib's sample sizes). The table shows these; the train-side accuracies
# and FactorVAE's active-dimension count stay in the record's `disentanglement_extra`.
DISENTANGLEMENT_METRICS: dict[str, tuple[bool, str]] = {
    "mig": (True, "Mutual Information Gap (Chen et al. 2018), 20-bin histograms"),
    "dci_disentanglement": (True, "DCI disentanglement (Eastwood & Williams 2018)"),
    "dci_completeness": (True, "DCI completeness"),
    "dci_informativeness_test": (True, "DCI informativeness: mean test accuracy of the per-factor predictors"),
    "sap": (True, "SAP score (Kumar et al. 2018)"),
    "modularity": (True, "modularity (Ridgeway & Mozer 2018)"),
    "explicitness_test": (True, "explicitness: mean test ROC-AUC of one-vs-rest logistic regressions"),
    "beta_vae_eval_accuracy": (True, "BetaVAE score (Higgins et al. 2017): held-out accuracy"),
    "factor_vae_eval_accuracy": (True, "FactorVAE score (Kim & Mnih 2018): held-out accuracy"),
}
METRICS.update(DISENTANGLEMENT_METRICS)

# Why a metric has no direction: the table shows it, compare reports it, neither judges it.
INFORMATIONAL_WHY: dict[str, str] = {
    "rec_nll": "one of the ELBO's two terms: a trade between the terms at the same ELBO is no better or worse; `elbo` is the judged quantity",
    "kl": "one of the ELBO's two terms: a lower KL can be posterior collapse, a higher one a better-used code; `elbo` is the judged quantity",
    "rec_nll_cond": "one of `elbo_cond`'s two terms (see rec_nll)",
    "kl_cond": "one of `elbo_cond`'s two terms (see kl)",
    "active_units": "a description of how many code dims are used, not a quality (for AE/PCA codes it also depends on their scale)",
}


def direction_word(higher: bool | None) -> str:
    """'higher is better', 'lower is better' or 'informational'."""
    return "informational" if higher is None else ("higher is better" if higher else "lower is better")


def direction_arrow(higher: bool | None) -> str:
    return "" if higher is None else ("↑" if higher else "↓")


def describe_metric(name: str) -> tuple[bool | None, str]:
    """(higher is better, description) for a metric column, including ones named at run time
    such as `fid_samples[fashion_mnist-cnn]` or `recall_samples[digits-mlp]` (the backbone is part of the name)."""
    if name in METRICS:
        return METRICS[name]
    parsed = parse_fid_metric_name(name)
    if parsed:
        higher, desc = SAMPLE_METRICS[parsed[0]]
        return higher, f"{desc} (backbone {parsed[1]})"
    return None, ""


def metric_names(records_metrics) -> list[str]:
    """Metric names present in any of the given metric dicts: the catalogue's in table order, then the
    backbone-named sample metrics (by backbone, FID first, each measure over its sources), then the rest sorted."""
    present = set().union(*records_metrics) if records_metrics else set()
    rest = present - set(METRICS)
    kinds = list(SAMPLE_METRICS)  # the sample metrics by backbone, then FID's order, then measure by measure
    sample = sorted((n for n in rest if parse_fid_metric_name(n)),
                    key=lambda n: (parse_fid_metric_name(n)[1], kinds.index(parse_fid_metric_name(n)[0])))
    return [m for m in METRICS if m in present] + sample + sorted(rest - set(sample))


FID_METRICS: dict[str, tuple[bool, str]] = {
    "fid_samples": (False, "Fréchet distance, model samples vs test set, in the named backbone's features"),
    "fid_samples_fitted": (False, "deterministic models (AE, PCA, WAE, RAE): Fréchet distance, decoded samples of a full-covariance Gaussian fitted to the train codes, vs test set"),
    "fid_samples_gmm": (False, "deterministic models (AE, PCA, WAE, RAE): Fréchet distance, decoded samples of a 10-component full-covariance Gaussian "
                               "mixture fitted to the train codes (the RAE's ex-post density), vs test set"),
    "fid_recon": (False, "Fréchet distance, test-set reconstructions vs test set"),
}

# The other sample metrics (vaebench.metrics.kid, vaebench.metrics.prdc), computed on the same
# backbone features as FID for every source FID has; kind = f"{measure}_{source}", the full name
# f"{kind}[{backbone id}]" like FID's, e.g. `recall_samples_gmm[fashion_mnist-cnn]`.
SAMPLE_SOURCES: dict[str, str] = {
    "samples": "model samples",
    "samples_fitted": "deterministic models (AE, PCA, WAE, RAE): decoded samples of the Gaussian fitted to the train codes",
    "samples_gmm": "deterministic models (AE, PCA, WAE, RAE): decoded samples of the 10-component mixture fitted to the train codes",
    "recon": "test-set reconstructions",
}
SAMPLE_MEASURES: dict[str, tuple[bool | None, str]] = {
    "kid": (False, "KID (Bińkowski et al. 2018): unbiased MMD² with the kernel (x·y/d + 1)³, mean over 100 subsets of "
                   "min(1000, N) drawn with the run's seed, vs test set; unbiased in the sample count (unlike FID), so it can be "
                   "slightly negative: near 0 means no difference measurable"),
    "kid_std": (None, "standard deviation of KID over its 100 subsets (the subset noise of `kid`, not a seed-to-seed spread)"),
    "precision": (True, "precision (Kynkäänniemi et al. 2019, k = 3): fraction of the images inside the test set's k-NN manifold "
                        "(fidelity: are the images like real ones?)"),
    "recall": (True, "recall (Kynkäänniemi et al. 2019, k = 3): fraction of test images inside the images' own k-NN manifold "
                     "(diversity: is every kind of real image produced?)"),
    "density": (None, "density (Naeem et al. 2020, k = 5): mean number of test-image k-NN balls holding an image, over k; about 1 "
                      "for images distributed like the test set, above 1 when they crowd its dense regions"),
    "coverage": (True, "coverage (Naeem et al. 2020, k = 5): fraction of test images whose k-NN ball holds at least one image "
                       "(diversity, robust to outlying images)"),
}
SAMPLE_METRICS: dict[str, tuple[bool | None, str]] = dict(FID_METRICS)
SAMPLE_METRICS.update({f"{m}_{s}": (higher, f"{desc}; images: {SAMPLE_SOURCES[s]}")
                       for m, (higher, desc) in SAMPLE_MEASURES.items() for s in SAMPLE_SOURCES})
# why a sample measure has no direction (the table, site and compare say it next to the column)
SAMPLE_INFORMATIONAL_WHY: dict[str, str] = {
    "kid_std": "the subset noise of `kid`: it says how far to trust that number, not how good the images are",
    "density": "1 for images distributed like the data; above 1 can be mode collapse onto dense regions, below 1 poor fidelity: neither direction is better",
}


def sample_measure(kind: str) -> tuple[str, str]:
    """`"kid_std_samples_gmm"` -> ("kid_std", "samples_gmm"); the measure of a FID kind is "fid"."""
    for m in ("fid", *SAMPLE_MEASURES):
        for s in SAMPLE_SOURCES:
            if kind == f"{m}_{s}":
                return m, s
    raise KeyError(f"unknown sample metric {kind!r}")


def fid_metric_name(kind: str, backbone_id: str) -> str:
    """The full name of a backbone-named sample metric (FID, KID, precision/recall, density/coverage)."""
    if kind not in SAMPLE_METRICS:
        raise KeyError(f"unknown sample metric {kind!r}")
    return f"{kind}[{backbone_id}]"


def parse_fid_metric_name(name: str) -> tuple[str, str] | None:
    """`"fid_recon[digits-mlp]"` -> ("fid_recon", "digits-mlp"), `"kid_samples[inception]"` -> ("kid_samples",
    "inception"); None for names that are no backbone-named sample metric."""
    if not name.endswith("]") or "[" not in name:
        return None
    kind, _, rest = name.partition("[")
    return (kind, rest[:-1]) if kind in SAMPLE_METRICS else None


def informational_why(name: str) -> str | None:
    """Why a column has no direction (INFORMATIONAL_WHY, or SAMPLE_INFORMATIONAL_WHY for a
    backbone-named one); None for a column with a direction."""
    if name in INFORMATIONAL_WHY:
        return INFORMATIONAL_WHY[name]
    parsed = parse_fid_metric_name(name)
    return SAMPLE_INFORMATIONAL_WHY.get(sample_measure(parsed[0])[0]) if parsed else None


# ---------------------------------------------------------------- units (plot axes)

# name -> the unit a value is in, for axis labels. Metrics named at run time (FID with its
# backbone) and ones missing here fall back to `metric_unit`'s rules below.
UNITS: dict[str, str] = {
    "elbo": "nats/image",
    "iwae": "nats/image",
    "rec_nll": "nats/image",
    "kl": "nats/image",
    "mse": "pixel MSE (pixels in [0, 1])",
    "active_units": "count (latent dims)",
    "probe_acc": "accuracy (fraction of test images)",
    "ppca_ll": "Gaussian nats/image",
    "bpd": "bits/dim",
}
UNITS.update({name: "score in [0, 1]" for name in DISENTANGLEMENT_METRICS})
UNITS.update(explicitness_test="ROC-AUC", dci_informativeness_test="accuracy", beta_vae_eval_accuracy="accuracy",
             factor_vae_eval_accuracy="accuracy")

FID_UNIT = "FID (squared feature distance)"
SAMPLE_UNITS = {"fid": FID_UNIT, "kid": "KID (MMD², cubic kernel)", "kid_std": "KID (MMD², cubic kernel)",
                "precision": "fraction of images", "recall": "fraction of test images", "density": "density (1 = like the data)",
                "coverage": "fraction of test images"}
_UNIT_WORDS = ("bits/dim", "nats/image")  # found in a description when a name is not in UNITS


def metric_unit(name: str) -> str:
    """The unit of a metric column, e.g. 'nats/image'; '' when unknown."""
    if name in UNITS:
        return UNITS[name]
    parsed = parse_fid_metric_name(name)
    if parsed:
        return SAMPLE_UNITS[sample_measure(parsed[0])[0]]
    desc = describe_metric(name)[1]
    return next((w for w in _UNIT_WORDS if w in desc), "")
