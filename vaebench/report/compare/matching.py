"""Rows of the candidate matched with rows of the baseline, and every metric of each pair judged."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

from vaebench.errors import UserError
from vaebench.metrics.catalog import METRICS
from vaebench.report.compare.sides import Key, Row, Side, Stat, summaries
from vaebench.report.compare.stats import DEFAULT_ALPHA, judge
from vaebench.report.compare.tolerances import DIVERGED, Tolerance, resolve_tolerances


@dataclass
class Entry:
    dataset: str
    cand_model: str
    base_model: str
    latent_dim: int
    metric: str
    cand: Stat
    base: Stat
    tol: Tolerance
    p: float | None
    verdict: str
    status: str  # REGRESSION, beyond tol (n.s.), improved, ok, info

    @property
    def delta(self) -> float:
        return self.cand.mean - self.base.mean


@dataclass
class Comparison:
    candidate: Side
    baseline: Side
    alpha: float
    tolerance_only: bool
    strict: bool
    entries: list[Entry] = field(default_factory=list)
    only_candidate: list[str] = field(default_factory=list)  # rows
    only_baseline: list[str] = field(default_factory=list)
    not_compared: list[str] = field(default_factory=list)  # rows outside --model-map
    one_sided_metrics: list[str] = field(default_factory=list)
    missing_in_candidate: int = 0  # rows/metrics the baseline has and the candidate lacks
    warnings: list[str] = field(default_factory=list)

    @property
    def regressions(self) -> list[Entry]:
        return [e for e in self.entries if e.status == "REGRESSION"]

    @property
    def exit_code(self) -> int:
        return 1 if self.regressions or (self.strict and self.missing_in_candidate) else 0



def _row_name(dataset: str, model: str, dim: int, row: Row | None = None) -> str:
    extra = ""
    if row is not None:
        extra = f" ({row.n_seeds} seed{'s' if row.n_seeds != 1 else ''}" + (f", {row.n_diverged} diverged" if row.n_diverged else "") + ")"
    return f"{dataset} / `{model}` / z={dim}{extra}"


def _metric_order(name: str) -> tuple[int, str]:
    order = [*METRICS, DIVERGED]
    return (order.index(name), "") if name in order else (len(order), name)


def _protocol_diff(a: str, b: str) -> str:
    da, db = json.loads(a) or {}, json.loads(b) or {}
    keys = sorted(set(da) | set(db))
    return ", ".join(f"{k} {da.get(k)!r} vs {db.get(k)!r}" for k in keys if da.get(k) != db.get(k))


def compare(
    candidate: Side, baseline: Side, tolerances_file: dict | None = None, tolerances_cli: dict | None = None,
    alpha: float = DEFAULT_ALPHA, model_map: dict[str, str] | None = None,
    tolerance_only: bool = False, strict: bool = False,
) -> Comparison:
    if not 0 < alpha < 1:
        raise UserError(f"--alpha must be between 0 and 1, got {alpha}")
    model_map = dict(model_map or {})
    if candidate.source != baseline.source:  # one side has only means: compare summaries on both
        candidate = summaries(candidate)
        baseline = summaries(baseline)
    cmp = Comparison(candidate, baseline, alpha, tolerance_only, strict)
    cand_models = {k[1] for k in candidate.rows}
    base_models = {k[1] for k in baseline.rows}
    for cm, bm in model_map.items():
        if cm not in cand_models:
            cmp.warnings.append(f"--model-map {cm}={bm}: the candidate has no model `{cm}` (it has {', '.join(sorted(cand_models))})")
        if bm not in base_models:
            cmp.warnings.append(f"--model-map {cm}={bm}: the baseline has no model `{bm}` (it has {', '.join(sorted(base_models))})")
    targets = set(model_map.values())

    pairs: list[tuple[Key, Key]] = []
    matched_base: set[Key] = set()
    for key in sorted(candidate.rows):
        ds, cm, dim = key
        if model_map and cm not in model_map:
            cmp.not_compared.append("candidate " + _row_name(ds, cm, dim, candidate.rows[key]))
            continue
        bkey = (ds, model_map.get(cm, cm), dim)
        if bkey in baseline.rows:
            pairs.append((key, bkey))
            matched_base.add(bkey)
        else:
            cmp.only_candidate.append(_row_name(ds, cm, dim, candidate.rows[key]))
    for key in sorted(baseline.rows):
        if key in matched_base:
            continue
        ds, bm, dim = key
        if model_map and bm not in targets:
            cmp.not_compared.append("baseline " + _row_name(ds, bm, dim, baseline.rows[key]))
        else:
            cmp.only_baseline.append(_row_name(ds, bm, dim, baseline.rows[key]))
            cmp.missing_in_candidate += 1
    if not pairs:
        def listing(side: Side) -> str:
            return "; ".join(f"{d}/{m}/z={z}" for d, m, z in sorted(side.rows)) or "none"

        hint = "" if model_map else " (to compare differently named models use --model-map CANDIDATE=BASELINE)"
        raise UserError(
            f"no common rows (dataset, model, latent_dim): candidate has {listing(candidate)}; "
            f"baseline has {listing(baseline)}{hint}"
        )

    present = set()
    for ckey, bkey in pairs:
        present |= set(candidate.rows[ckey].metrics) | set(baseline.rows[bkey].metrics)
    present.add(DIVERGED)
    tolerances = resolve_tolerances(present, tolerances_file, tolerances_cli)

    for ckey, bkey in pairs:
        crow, brow = candidate.rows[ckey], baseline.rows[bkey]
        ds, cm, dim = ckey
        bm = bkey[1]
        name = _row_name(ds, cm if cm == bm else f"{cm}` vs `{bm}", dim)
        names = set(crow.metrics) | set(brow.metrics)
        for metric in sorted(names, key=_metric_order):
            if metric not in brow.metrics:
                cmp.one_sided_metrics.append(f"{name}: `{metric}` only in the candidate")
                continue
            if metric not in crow.metrics:
                cmp.one_sided_metrics.append(f"{name}: `{metric}` only in the baseline")
                cmp.missing_in_candidate += 1
                continue
            c, b = crow.metrics[metric], brow.metrics[metric]
            p, verdict, status = judge(metric, c, b, tolerances[metric], alpha, tolerance_only)
            cmp.entries.append(Entry(ds, cm, bm, dim, metric, c, b, tolerances[metric], p, verdict, status))
        if crow.n_diverged or brow.n_diverged:
            c, b = Stat(float(crow.n_diverged), math.nan, 1), Stat(float(brow.n_diverged), math.nan, 1)
            p, verdict, status = judge(DIVERGED, c, b, tolerances[DIVERGED], alpha, tolerance_only)
            cmp.entries.append(Entry(ds, cm, bm, dim, DIVERGED, c, b, tolerances[DIVERGED], p, verdict, status))
        for side, row in (("candidate", crow), ("baseline", brow)):
            if len(row.protocols) > 1:
                cmp.warnings.append(f"{name}: the {side}'s seeds were trained with {len(row.protocols)} different protocols")
        if crow.protocols and brow.protocols and crow.protocols != brow.protocols:
            diff = _protocol_diff(crow.protocols[0], brow.protocols[0]) if len(crow.protocols) == len(brow.protocols) == 1 else "several protocols"
            cmp.warnings.append(f"{name}: the training protocol differs ({diff}); the comparison mixes protocols")
        if crow.checksums and brow.checksums and crow.checksums != brow.checksums:
            cmp.warnings.append(f"{name}: the dataset checksum differs: the runs did not see the same data")
        if crow.seeds and brow.seeds and crow.seeds != brow.seeds:
            cmp.warnings.append(f"{name}: seeds differ (candidate {list(crow.seeds)}, baseline {list(brow.seeds)})")

    rank = {"REGRESSION": 0, "beyond tol (n.s.)": 1}
    cmp.entries.sort(key=lambda e: (rank.get(e.status, 2), e.dataset, e.cand_model, e.latent_dim, _metric_order(e.metric)))
    return cmp

