"""The comparison as a Markdown report."""

from __future__ import annotations

import math

from vaebench.metrics.catalog import INFORMATIONAL_WHY, informational_why
from vaebench.report.compare.matching import Comparison
from vaebench.report.compare.sides import fmt
from vaebench.report.compare.tolerances import DIVERGED, UNGATED_SAMPLE_WHY, ungated_sample_metric

STATUS_VS_VERDICT = (
    "Two columns, two questions. **status** weighs the change against the tolerance: `improved` = better by "
    "more than the tolerance (and significantly so when both sides have >= 2 seeds), `ok` = within the tolerance "
    "either way, `REGRESSION` = worse by more than it (and significantly), `beyond tol (n.s.)` = worse by more "
    "than it but not significantly. **verdict** is the t-test alone, whatever the tolerance: `better (p=...)` / "
    "`worse (p=...)` = significantly different at alpha, so a change can be `better (p=0.01)` and still `ok` "
    "(significant but within the tolerance)."
)


def _protocol(protocol: str | None) -> str:
    return f"`{protocol}`" if protocol else "unknown"


def _signed(v: float) -> str:
    if v == 0:
        return "0"
    return f"{v:+.3g}"


def to_markdown(cmp: Comparison) -> str:
    n_reg = len(cmp.regressions)
    both_records = cmp.candidate.source == cmp.baseline.source == "run records"
    test = ("Welch's t-test on the per-seed values" if both_records else
            "Welch's t-test from means, stds and n_seeds")
    lines = [
        "# vaebench compare",
        "",
        f"- candidate: {cmp.candidate.describe()}",
        f"- baseline: {cmp.baseline.describe()}",
        "- regression: worse than the baseline by more than the tolerance"
        + ("" if cmp.tolerance_only else f", and significantly worse ({test}, two-sided, alpha = {cmp.alpha:g}) when both sides have >= 2 seeds"),
        "",
    ]
    n_nc = len(cmp.not_comparable)
    if n_nc:
        lines.append(f"**{n_nc} row{'s are' if n_nc != 1 else ' is'} not comparable: the protocol differs** "
                     f"(see below; exit 2; `--across-protocols` compares them anyway)"
                     + (f"; besides, {n_reg} regression{'s' if n_reg != 1 else ''} in {len(cmp.entries)} compared values." if n_reg else "."))
    elif n_reg:
        lines.append(f"**{n_reg} regression{'s' if n_reg != 1 else ''}** in {len(cmp.entries)} compared values (exit 1).")
    elif cmp.exit_code:
        lines.append(f"**No metric regressed, but --strict: {cmp.missing_in_candidate} row(s)/metric(s) of the baseline are missing in the candidate** (exit 1).")
    else:
        lines.append(f"**No regression** in {len(cmp.entries)} compared values (exit 0).")
    lines += [
        "",
        "| status | dataset | model | z | metric | candidate | baseline | Δ | Δ% | tolerance | verdict | protocol |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for e in cmp.entries:
        arrow = {True: " ↑", False: " ↓", None: ""}[e.tol.higher_is_better]
        model = f"`{e.cand_model}`" if e.cand_model == e.base_model else f"`{e.cand_model}` vs `{e.base_model}`"
        if e.delta == 0:
            rel = "0%"
        elif e.base.mean == 0 or not math.isfinite(e.delta / e.base.mean):
            rel = "—"
        else:
            rel = f"{100 * e.delta / abs(e.base.mean):+.1f}%"
        status = f"**{e.status}**" if e.status == "REGRESSION" else e.status
        if e.metric == DIVERGED:
            cand, base = fmt(e.cand.mean), fmt(e.base.mean)
        else:
            cand, base = e.cand.show(), e.base.show()
        if e.cand.n == 0:
            delta = rel = "—"
        else:
            delta = _signed(e.delta) if math.isfinite(e.delta) or math.isinf(e.delta) else "nan"
        protocol = _protocol(e.cand_protocol)
        if e.cand_protocol != e.base_protocol:
            protocol += f" vs {_protocol(e.base_protocol)}"
        lines.append(
            f"| {status} | {e.dataset} | {model} | {e.latent_dim} | `{e.metric}`{arrow} | {cand} | {base} | "
            f"{delta} | {rel} | {e.tol.describe()} | {e.verdict} | {protocol} |"
        )
    lines += ["", "↑ higher is better, ↓ lower is better, no arrow: informational; Δ = candidate − baseline; tolerance: "
              "how much worse the candidate may be (relative to |baseline| or absolute, whichever is larger); — = "
              "reported, never a regression. A gated metric the candidate lacks, or has as no finite number, is a regression.",
              "", STATUS_VS_VERDICT]
    shown = sorted({e.metric for e in cmp.entries if e.metric in INFORMATIONAL_WHY and not e.tol.gated}, key=list(INFORMATIONAL_WHY).index)
    if shown:
        lines += ["", "Informational (reported, never gated): " + "; ".join(f"`{m}`: {INFORMATIONAL_WHY[m]}" for m in shown) + "."]
    ungated = {e.metric.split("[")[0]: e.metric for e in cmp.entries if not e.tol.gated and ungated_sample_metric(e.metric)}
    no_direction = {k: informational_why(m) for k, m in ungated.items() if informational_why(m)}
    if no_direction:
        lines += ["", "Informational sample measures (reported, never gated): "
                  + "; ".join(f"`{k}`: {why}" for k, why in sorted(no_direction.items())) + "."]
    if rest := sorted(set(ungated) - set(no_direction)):
        lines += ["", f"{', '.join(f'`{k}`' for k in rest)}: {UNGATED_SAMPLE_WHY}" + "."]
    sections = [
        ("Rows not comparable (same dataset, model and latent dim; another protocol)", cmp.not_comparable),
        ("Rows only in the candidate", cmp.only_candidate),
        ("Rows only in the baseline", cmp.only_baseline),
        ("Rows not compared (not in --model-map)", cmp.not_compared),
        ("Metrics on one side only", cmp.one_sided_metrics),
        ("Warnings", cmp.warnings),
    ]
    for title, items in sections:
        if items:
            lines += ["", f"## {title}", ""] + [f"- {item}" for item in items]
    return "\n".join(lines) + "\n"
