"""One metric of one row: Welch's t-test and the verdict (REGRESSION, beyond tol (n.s.), improved,
ok, info)."""

from __future__ import annotations

import math
import warnings

from vaebench.report.compare.sides import Stat
from vaebench.report.compare.tolerances import DIVERGED, Tolerance

DEFAULT_ALPHA = 0.05


def welch_p(cand: Stat, base: Stat) -> float | None:
    """Two-sided p of Welch's t-test (scipy), or None when a side has fewer than 2 values."""
    if cand.n < 2 or base.n < 2 or not (math.isfinite(cand.std) and math.isfinite(base.std)):
        return None
    if not (math.isfinite(cand.mean) and math.isfinite(base.mean)):
        return None
    if cand.std == 0 and base.std == 0:  # deterministic on both sides (e.g. PCA): any difference is real
        return 1.0 if cand.mean == base.mean else 0.0
    from scipy import stats

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if cand.values is not None and base.values is not None:
            p = stats.ttest_ind(cand.values, base.values, equal_var=False).pvalue
        else:
            p = stats.ttest_ind_from_stats(cand.mean, cand.std, cand.n, base.mean, base.std, base.n, equal_var=False).pvalue
    return float(p) if math.isfinite(p) else 1.0


def _worse_by(cand: float, base: float, higher_is_better: bool) -> float:
    """How much worse the candidate is (negative: better). A candidate that is not a finite number
    (NaN, inf, missing) where the baseline's is finite is infinitely worse."""
    if not (math.isfinite(cand) and math.isfinite(base)):
        if cand == base or (math.isnan(cand) and math.isnan(base)):
            return 0.0
        return -math.inf if math.isfinite(cand) else math.inf
    return base - cand if higher_is_better else cand - base


def judge(metric: str, cand: Stat, base: Stat, tol: Tolerance, alpha: float, tolerance_only: bool) -> tuple[float | None, str, str]:
    """(p, verdict, status) for one metric of one row. A gated metric that the candidate lacks
    (`Stat.missing()`) or has as no finite number where the baseline has one is a REGRESSION."""
    p = None if metric == DIVERGED else welch_p(cand, base)
    if metric == DIVERGED:
        verdict = "n/a (count)"
    elif cand.n == 0:
        verdict = "missing in the candidate"
    elif not math.isfinite(cand.mean) and math.isfinite(base.mean):
        verdict = "not a finite number in the candidate"
    elif p is None:
        verdict = "n/a (1 seed)" if min(cand.n, base.n) < 2 else "n/a (no std)"
    elif p < alpha:
        if tol.higher_is_better is None:
            verdict = f"different (p={p:.2g})"
        else:
            better = (cand.mean > base.mean) == tol.higher_is_better
            verdict = f"{'better' if better else 'worse'} (p={p:.2g})"
    else:
        verdict = f"no detectable difference (p={p:.2g})"
    if not tol.gated:
        return p, verdict, "info"
    worse = _worse_by(cand.mean, base.mean, tol.higher_is_better)
    allowed = tol.allowed(base.mean) + 1e-12 * max(1.0, abs(base.mean) if math.isfinite(base.mean) else 1.0)
    significant = p is None or tolerance_only or p < alpha
    if worse > allowed:
        return p, verdict, "REGRESSION" if significant else "beyond tol (n.s.)"
    if -worse > allowed and significant:
        return p, verdict, "improved"
    return p, verdict, "ok"

