"""The data a comparison page shows, from a `compare.Comparison`'s public fields only.

Each compared value gets one of the page's verdict classes (the colour) next to compare's own
status word; rows that could not be paired are listed as not comparable with the reason.
"""

from __future__ import annotations

import math
from typing import Any

from vaebench.metrics.catalog import direction_arrow
from vaebench.report.compare.render import STATUS_VS_VERDICT
from vaebench.report.site.data import finite, metric_meta

# compare's status -> (CSS class, what the page calls it)
VERDICTS: dict[str, tuple[str, str]] = {
    "REGRESSION": ("regression", "regression"),
    "beyond tol (n.s.)": ("beyond", "beyond tolerance, not significant"),
    "improved": ("improved", "improved"),
    "ok": ("within", "within tolerance"),
    "info": ("info", "informational (not judged)"),
}
NOT_COMPARABLE = ("notcomparable", "not comparable")


def _stat(stat) -> dict[str, Any]:
    values = getattr(stat, "values", None)
    return {"mean": stat.mean, "std": stat.std, "n": stat.n, "values": list(values) if values is not None else None}


def _plain(text: str) -> str:
    """compare's Markdown text without its code backticks (the page shows plain text)."""
    return str(text).replace("`", "")


def _relative(delta: float, base: float) -> float | None:
    if delta == 0:
        return 0.0
    if base == 0 or not math.isfinite(delta / base):
        return None
    return delta / abs(base)


def compare_data(cmp, title: str = "vaebench compare") -> dict[str, Any]:
    entries = []
    for e in cmp.entries:
        css, word = VERDICTS.get(e.status, ("info", e.status))
        tol = e.tol
        entries.append({
            "status": e.status, "class": css, "word": word, "dataset": e.dataset,
            "model": e.cand_model if e.cand_model == e.base_model else f"{e.cand_model} vs {e.base_model}",
            "latent_dim": e.latent_dim,
            "protocol": getattr(e, "cand_protocol", None) or "",
            "base_protocol": getattr(e, "base_protocol", None) or "",
            "metric": e.metric, "arrow": direction_arrow(tol.higher_is_better) if tol.gated else "",  # informational: none
            "cand": _stat(e.cand), "base": _stat(e.base), "delta": e.delta, "rel": _relative(e.delta, e.base.mean),
            "tolerance": tol.describe(), "tol_rel": tol.rel, "tol_abs": tol.abs, "gated": tol.gated,
            "p": e.p, "verdict": e.verdict,
        })
    unpaired = [{"class": NOT_COMPARABLE[0], "word": word, "row": _plain(row)}
                for word, rows in (("not comparable (another protocol)", getattr(cmp, "not_comparable", [])),
                                   ("only in the candidate", cmp.only_candidate),
                                   ("only in the baseline", cmp.only_baseline),
                                   ("not compared (outside --model-map)", cmp.not_compared))
                for row in rows]
    counts: dict[str, int] = {}
    for e in entries:
        counts[e["word"]] = counts.get(e["word"], 0) + 1
    if unpaired:
        counts[NOT_COMPARABLE[1]] = len(unpaired)
    return finite({
        "kind": "compare",
        "title": title,
        "candidate": _plain(cmp.candidate.describe()),
        "baseline": _plain(cmp.baseline.describe()),
        "alpha": cmp.alpha,
        "tolerance_only": cmp.tolerance_only,
        "exit_code": cmp.exit_code,
        "entries": entries,
        "unpaired": unpaired,
        "counts": counts,
        "verdicts": [{"class": c, "word": w} for c, w in [*VERDICTS.values(), NOT_COMPARABLE]],
        "status_vs_verdict": _plain(STATUS_VS_VERDICT).replace("**", ""),
        "one_sided_metrics": [_plain(t) for t in cmp.one_sided_metrics],
        "warnings": [_plain(t) for t in cmp.warnings],
        "metrics": [metric_meta(m) for m in dict.fromkeys(e.metric for e in cmp.entries)],
    })
