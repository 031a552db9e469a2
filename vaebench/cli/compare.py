"""`python -m vaebench compare CANDIDATE BASELINE`: exit 0 no regression, 1 regression, 2 bad input
or rows that are not comparable (same dataset, model and latent dim, another protocol)."""

from __future__ import annotations

import argparse
from pathlib import Path

from vaebench.errors import UserError

_EPILOG = """\
tolerances (see docs/compare.md for the defaults and why):
  --tol mse=0.05          the candidate's mse may be 5% (of the baseline's) worse
  --tol elbo=abs:0.5      ... 0.5 nats worse;  --tol elbo=rel:0.01,abs:0.5: whichever is larger
  --tol kl=0.2,lower      gate an informational metric anyway: give a tolerance and a direction
  --tol my_score=abs:0.01,higher   a metric vaebench does not know: say which way is better
  --tol kl=nogate         report only, never a regression
  --tolerances FILE       the same in YAML:  mse: 0.05 / elbo: {abs: 0.5} / "fid*": {rel: 0.1}
rows match on (dataset, model with its parameters, latent_dim, protocol); a gated metric missing
or not a finite number in the candidate is a regression; kl, rec_nll, active_units are reported only
exit status: 0 no regression, 1 at least one regression, 2 bad input or rows not comparable
(same dataset/model/latent_dim, another protocol: listed; --across-protocols compares them anyway)
"""


def _split_outside_brackets(text: str, sep: str, maxsplit: int = -1) -> list[str]:
    """Split on `sep` where it is not inside [...]: model labels such as `vae[beta=8,lr=0.01]`
    contain both '=' and ','."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        depth += {"[": 1, "]": -1}.get(ch, 0)
        if ch == sep and depth == 0 and (maxsplit < 0 or len(parts) < maxsplit):
            parts.append(text[start:i])
            start = i + 1
    return [*parts, text[start:]]


def _model_map(items: list[str]) -> dict[str, str]:
    """`CAND=BASE` pairs of model labels (repeatable or comma-separated), e.g. `vae[beta=8]=vae`."""
    out: dict[str, str] = {}
    for item in items:
        for pair in (p.strip() for p in _split_outside_brackets(item, ",") if p.strip()):
            halves = _split_outside_brackets(pair, "=", maxsplit=1)
            cand, base = (halves[0].strip(), halves[1].strip()) if len(halves) == 2 else ("", "")
            if not cand or not base:
                raise UserError(f"--model-map {pair!r}: expected CANDIDATE_MODEL=BASELINE_MODEL (model labels), "
                                f"e.g. mypkg.mod:MyVAE=vae or vae[beta=8]=vae")
            if cand in out and out[cand] != base:
                raise UserError(f"--model-map: {cand!r} is mapped to both {out[cand]!r} and {base!r}")
            out[cand] = base
    return out


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "compare",
        help="compare a candidate results folder (or table.csv) against a baseline; exit 1 on regression",
        description="Per-metric deltas of CANDIDATE against BASELINE (results folders or their table.csv), "
        "regressions first. Rows match on (dataset, model with its parameters, latent_dim, protocol).",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("candidate", type=Path, help="results folder (runs/*.json, else table.csv) or a table.csv")
    p.add_argument("baseline", type=Path, help="results folder (runs/*.json, else table.csv) or a table.csv")
    p.add_argument("--tolerances", type=Path, metavar="FILE", help="YAML: metric -> tolerance (see below)")
    p.add_argument("--tol", action="append", default=[], metavar="METRIC=SPEC",
                   help="per-metric tolerance, repeatable; overrides the file (see below)")
    p.add_argument("--model-map", action="append", default=[], metavar="CAND=BASE",
                   help="compare candidate model CAND with baseline model BASE, by model label such as vae[beta=8] "
                   "(repeatable or comma-separated); "
                   "only mapped models are then compared")
    p.add_argument("--alpha", type=float, default=0.05, help="significance level of Welch's t-test (default 0.05)")
    p.add_argument("--tolerance-only", action="store_true",
                   help="the tolerance alone decides, even when seeds allow a significance test")
    p.add_argument("--strict", action="store_true",
                   help="also exit 1 when rows or metrics of the baseline are missing in the candidate")
    p.add_argument("--across-protocols", action="store_true",
                   help="compare rows whose protocol differs between candidate and baseline (warned) instead of "
                   "listing them as not comparable (exit 2)")
    p.add_argument("--across-likelihoods", action="store_true",
                   help="compare rows whose models' likelihoods differ (via --model-map): elbo, iwae and rec_nll are "
                   "left out (they bound different quantities; only bpd compares across likelihoods) instead of exit 2")
    p.add_argument("--report", type=Path, metavar="FILE", help="also write the Markdown report to FILE")
    p.add_argument("--html", type=Path, metavar="OUT", help="also write the comparison as a web page (one self-contained file) to OUT")
    p.set_defaults(handler=cmd_compare)
    return p


def cmd_compare(args) -> int:
    """Prints the Markdown report; returns 0, 1, or 2 when rows are not comparable (their protocols
    differ). Bad input raises UserError (the CLI: exit 2)."""
    from vaebench.report.compare import (
        compare,
        load_side,
        load_tolerance_file,
        parse_tol_args,
        to_markdown,
    )

    tol_cli = parse_tol_args(list(getattr(args, "tol", None) or []))
    tol_file = load_tolerance_file(args.tolerances) if getattr(args, "tolerances", None) else None
    model_map = _model_map(list(getattr(args, "model_map", None) or []))
    candidate = load_side(args.candidate, "candidate")
    baseline = load_side(args.baseline, "baseline")
    result = compare(
        candidate, baseline, tol_file, tol_cli,
        alpha=getattr(args, "alpha", 0.05), model_map=model_map,
        tolerance_only=getattr(args, "tolerance_only", False), strict=getattr(args, "strict", False),
        across_protocols=getattr(args, "across_protocols", False),
        across_likelihoods=getattr(args, "across_likelihoods", False),
    )
    text = to_markdown(result)
    report = getattr(args, "report", None)
    if report:
        from vaebench.store import atomic_write_text

        try:
            atomic_write_text(Path(report), text)
        except OSError as exc:
            raise UserError(f"cannot write the report to {report} ({exc.strerror or exc})") from None
    if getattr(args, "html", None):
        from vaebench.report.site import write_compare_page

        try:
            write_compare_page(result, Path(args.html))
        except OSError as exc:
            raise UserError(f"cannot write the page to {args.html} ({exc.strerror or exc})") from None
    print(text, end="")
    return result.exit_code
