"""Which latent dimension? One pure function per criterion, over one configuration's curve
(a metric against the swept latent dims), and the table `vaebench recommend` prints.

A configuration is a table row's identity without its latent dim: (dataset, model, protocol).
Every criterion returns a `Choice`: the chosen dim (None when the criterion has no answer) and a
note when the answer is qualified (one seed, still growing at the largest dim, no knee).

- likelihood (`bpd` lower-better when a row has it, else `iwae` higher-better, else `ppca_ll`):
  the one-standard-error rule (Hastie, Tibshirani & Friedman, ESL 7.10): the smallest dim whose
  mean is within one standard error (std / sqrt(n seeds)) of the best mean.
- active units (Burda, Grosse & Salakhutdinov 2016): the smallest swept dim d after which the
  count grows by less than one unit per doubling: count(d') - count(d) < max(1, log2(d'/d)) for
  every swept d' > d.
- reconstruction: the knee of `mse` against log2(dim) (Kneedle, Satopää et al. 2011, written from
  the paper: no `kneed` in this environment), and the smallest dim that reaches 90/95/99 % of the
  error reduction from the smallest to the largest swept dim.
- downstream: the one-standard-error rule on `probe_acc` (higher-better).
- PCA also: Minka's (2000) Laplace evidence for the PCA rank and the explained-variance
  thresholds (90/95/99 %), from the training split's covariance spectrum.
"""

from __future__ import annotations

import csv
import io
import math
from math import lgamma
from typing import NamedTuple

import numpy as np

FRACTIONS = (0.90, 0.95, 0.99)
# the criteria in table order: (column, metric it marks on the plots or None, what it is)
CRITERIA = (
    ("likelihood_1se", None, "held-out likelihood, one-standard-error rule"),
    ("active_units", "active_units", "active units stop growing (< 1 per doubling)"),
    ("mse_knee", "mse", "knee of mse over log2(dim) (Kneedle, S=1)"),
    *((f"mse_{int(f * 100)}pct", "mse", f"{int(f * 100)} % of the mse reduction") for f in FRACTIONS),
    ("probe_1se", "probe_acc", "probe accuracy, one-standard-error rule"),
    ("minka", None, "PCA: Minka's Bayesian evidence (train split)"),
    *((f"ev_{int(f * 100)}pct", None, f"PCA: {int(f * 100)} % explained variance (train split)") for f in FRACTIONS),
)
LIKELIHOODS = (("bpd", False), ("iwae", True), ("ppca_ll", True))  # (metric, higher is better), first present wins


class Choice(NamedTuple):
    dim: int | None
    note: str = ""


def _ordered(dims, *curves):
    order = np.argsort(np.asarray(dims))
    return (np.asarray(dims)[order].astype(int), *(np.asarray(c, dtype=np.float64)[order] for c in curves))


def one_se_rule(dims, means, stds, ns, higher_better: bool) -> Choice:
    """The smallest dim whose mean is within one standard error of the best mean; the standard
    error is the best dim's std / sqrt(n). With a single seed (no std) it is the best dim."""
    d, m, s, n = _ordered(dims, means, stds, ns)
    best = int(np.argmax(m) if higher_better else np.argmin(m))
    se = s[best] / math.sqrt(n[best]) if n[best] > 1 and np.isfinite(s[best]) else 0.0
    ok = m >= m[best] - se if higher_better else m <= m[best] + se
    if se > 0:
        note = ""
    elif n[best] > 1 and np.isfinite(s[best]):  # e.g. PCA: one fit per configuration, the seed changes nothing here
        note = f"deterministic across seeds ({int(n[best])} seeds, spread 0): the rule degenerates to the best dim"
    else:
        note = "one seed: the rule degenerates to the best dim"
    return Choice(int(d[np.flatnonzero(ok)[0]]), note)


def active_units_plateau(dims, counts) -> Choice:
    """The smallest swept dim d with count(d') - count(d) < max(1, log2(d'/d)) for every swept
    d' > d. When that is only the largest dim and the count still grew into it, the note says so."""
    d, c = _ordered(dims, counts)
    for i in range(len(d)):
        later = np.arange(i + 1, len(d))
        if all(c[j] - c[i] < max(1.0, math.log2(d[j] / d[i])) for j in later):
            still = i == len(d) - 1 and len(d) > 1
            return Choice(int(d[i]), "still growing at the largest dim" if still else "")
    raise AssertionError("unreachable: the largest dim always qualifies")


def kneedle(dims, values, sensitivity: float = 1.0) -> Choice:
    """The knee of a decreasing convex curve over log2(dim) (Satopää, Albrecht, Irwin & Raghavan
    2011, offline Kneedle): normalise x and y to [0, 1], difference curve D = (1 - x) - y (the
    distance below the chord for a decreasing curve), and take the first local maximum of D
    that D falls below D_max - S * mean(diff x) before the next local maximum."""
    d, v = _ordered(dims, values)
    x = np.log2(d)
    if len(d) < 3 or v[0] <= v[-1]:
        return Choice(None, "no knee: the curve does not decrease")
    xn = (x - x[0]) / (x[-1] - x[0])
    yn = (v - v[-1]) / (v[0] - v[-1])
    diff = (1.0 - xn) - yn
    step = float(np.mean(np.diff(xn)))
    maxima = [i for i in range(1, len(d) - 1) if diff[i] >= diff[i - 1] and diff[i] > diff[i + 1]]
    for a, i in enumerate(maxima):
        threshold = diff[i] - sensitivity * step
        stop = maxima[a + 1] if a + 1 < len(maxima) else len(d)
        if any(diff[j] < threshold for j in range(i + 1, stop)):
            return Choice(int(d[i]))
    return Choice(None, "no knee")


def reduction_threshold(dims, values, fraction: float) -> Choice:
    """The smallest dim whose error has fallen by `fraction` of the fall from the smallest to the
    largest swept dim (values lower-better)."""
    d, v = _ordered(dims, values)
    total = v[0] - v[-1]
    if not total > 0:
        return Choice(None, "the error does not fall over the swept dims")
    return Choice(int(d[np.flatnonzero(v[0] - v >= fraction * total - 1e-12 * abs(total))[0]]))


def minka_log_evidence(spectrum, n_samples: int) -> np.ndarray:
    """Minka's (2000) Laplace approximation of log p(data | rank) for every rank 1..D-1 (index 0
    is -inf), from the covariance eigenvalues in decreasing order: scikit-learn's
    `_assess_dimension`, vectorised (sklearn's double Python loop takes minutes at D = 784)."""
    lam = np.sort(np.asarray(spectrum, dtype=np.float64))[::-1]
    dim = len(lam)
    out = np.full(dim, -np.inf)
    eps = 1e-15
    for rank in range(1, dim):
        if lam[rank - 1] < eps:
            continue
        pu = -rank * math.log(2.0) + sum(lgamma((dim - i + 1) / 2.0) - math.log(math.pi) * (dim - i + 1) / 2.0
                                         for i in range(1, rank + 1))
        pl = -np.sum(np.log(lam[:rank])) * n_samples / 2.0
        v = max(eps, lam[rank:].sum() / (dim - rank))
        pv = -math.log(v) * n_samples * (dim - rank) / 2.0
        m = dim * rank - rank * (rank + 1.0) / 2.0
        pp = math.log(2.0 * math.pi) * (m + rank) / 2.0
        lam_ = lam.copy()
        lam_[rank:] = v
        i, j = np.triu_indices(dim, k=1)
        keep = i < rank
        i, j = i[keep], j[keep]
        pa = np.sum(np.log((lam[i] - lam[j]) * (1.0 / lam_[j] - 1.0 / lam_[i])) + math.log(n_samples))
        out[rank] = pu + pl + pv + pp - pa / 2.0 - rank * math.log(n_samples) / 2.0
    return out


def minka_dim(spectrum, n_samples: int) -> Choice:
    """The rank of highest Minka evidence (what `PCA(n_components="mle")` picks)."""
    return Choice(int(np.argmax(minka_log_evidence(spectrum, n_samples))))


def explained_variance_dim(spectrum, fraction: float) -> Choice:
    """The fewest principal components whose eigenvalues hold `fraction` of the total variance."""
    lam = np.sort(np.asarray(spectrum, dtype=np.float64))[::-1]
    ratio = np.cumsum(lam) / lam.sum()
    return Choice(int(np.searchsorted(ratio, fraction - 1e-12) + 1))


def train_spectrum(train_x) -> tuple[np.ndarray, int]:
    """The training split's covariance eigenvalues (ddof = 1, decreasing) and its size."""
    x = np.asarray(train_x, dtype=np.float64).reshape(len(train_x), -1)
    x = x - x.mean(axis=0)
    cov = x.T @ x / (len(x) - 1)
    return np.linalg.eigvalsh(cov)[::-1].clip(min=0.0), len(x)


# ---------------------------------------------------------------- a configuration's choices


def _curve(rows: list[dict], metric: str):
    have = [r for r in rows if f"{metric}_mean" in r]
    if len(have) < 3:
        return None
    return ([r["latent_dim"] for r in have], [r[f"{metric}_mean"] for r in have],
            [r.get(f"{metric}_std", math.nan) for r in have], [r.get("n_seeds") or 1 for r in have])


def likelihood_metric(rows: list[dict]) -> tuple[str, bool] | None:
    """The held-out likelihood a configuration is judged on: `bpd`, else `iwae`, else `ppca_ll`."""
    for metric, higher in LIKELIHOODS:
        if all(f"{metric}_mean" in r for r in rows):
            return metric, higher
    return None


def recommend_configuration(rows: list[dict], spectrum=None, n_samples: int | None = None) -> dict:
    """{column: Choice} for one configuration's rows (one per latent dim). `spectrum` (with
    `n_samples`): the training covariance spectrum, for the PCA-only criteria."""
    out: dict[str, Choice] = {}
    lik = likelihood_metric(rows)
    if lik and (c := _curve(rows, lik[0])):
        ch = one_se_rule(*c, higher_better=lik[1])
        out["likelihood_1se"] = Choice(ch.dim, "; ".join(x for x in (f"on {lik[0]}", ch.note) if x))
    if c := _curve(rows, "active_units"):
        out["active_units"] = active_units_plateau(c[0], c[1])
    if c := _curve(rows, "mse"):
        out["mse_knee"] = kneedle(c[0], c[1])
        for f in FRACTIONS:
            out[f"mse_{int(f * 100)}pct"] = reduction_threshold(c[0], c[1], f)
    if c := _curve(rows, "probe_acc"):
        out["probe_1se"] = one_se_rule(*c, higher_better=True)
    if spectrum is not None:
        out["minka"] = minka_dim(spectrum, n_samples)
        for f in FRACTIONS:
            out[f"ev_{int(f * 100)}pct"] = explained_variance_dim(spectrum, f)
    return out


def to_csv(results: list[dict]) -> str:
    """One line per configuration: dataset, model, protocol, dims swept, then per criterion the
    chosen dim and its note."""
    cols = ["dataset", "model", "protocol", "dims"] + [x for name, _, _ in CRITERIA for x in (name, f"{name}_note")]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=cols, lineterminator="\n")
    w.writeheader()
    for r in results:
        line = {"dataset": r["dataset"], "model": r["model"], "protocol": r["protocol"], "dims": " ".join(map(str, r["dims"]))}
        for name, _, _ in CRITERIA:
            ch = r["choices"].get(name)
            line[name] = "" if ch is None or ch.dim is None else ch.dim
            line[f"{name}_note"] = "" if ch is None else ch.note
        w.writerow(line)
    return buf.getvalue()


def to_markdown(results: list[dict]) -> str:
    present = [c for c in CRITERIA if any(c[0] in r["choices"] for r in results)]
    lines = ["| dataset | model | protocol | dims | " + " | ".join(name for name, _, _ in present) + " |",
             "|" + "---|" * (4 + len(present))]
    notes = []
    for r in results:
        cells = []
        for name, _, _ in present:
            ch = r["choices"].get(name)
            cell = "" if ch is None else ("–" if ch.dim is None else str(ch.dim))
            if ch is not None and ch.note:
                notes.append(f"{r['dataset']} {r['model']} `{name}`: {ch.note}")
                cell += "*"
            cells.append(cell)
        lines.append(f"| {r['dataset']} | {r['model']} | {r['protocol']} | {','.join(map(str, r['dims']))} | " + " | ".join(cells) + " |")
    lines += ["", "Criteria (the latent dim each one chooses; * = see the notes; – = no answer):", ""]
    lines += [f"- `{name}`: {what}" for name, _, what in present]
    if notes:
        lines += ["", "Notes:", ""] + [f"- {n}" for n in notes]
    return "\n".join(lines) + "\n"


def marks_from_csv(text: str) -> list[dict]:
    """recommend.csv -> the points the plots and the site mark: {dataset, metric, model,
    protocol, latent_dim, label}."""
    marks = []
    for line in csv.DictReader(io.StringIO(text)):
        for name, metric, _ in CRITERIA:
            value = line.get(name) or ""
            if not value:
                continue
            if name == "likelihood_1se":
                metric = (line.get(f"{name}_note") or "").removeprefix("on ").split(";")[0] or None
            if metric:
                marks.append({"dataset": line["dataset"], "metric": metric, "model": line["model"],
                              "protocol": line["protocol"], "latent_dim": int(value), "label": f"recommend: {name}"})
    return marks
