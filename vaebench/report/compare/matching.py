"""Rows of the candidate matched with rows of the baseline, and every metric of each pair judged.

Rows match on the row identity (`vaebench.identity.row_key`): dataset, model label,
latent dim and protocol id. Rows that agree on the first three but not on the protocol are not
comparable (exit 2) unless `across_protocols` pairs them, with the difference as a warning.
Paired rows of different likelihoods (through `model_map`) are refused (UserError) where both
have a likelihood-dependent metric (`identity.LIKELIHOOD_METRICS`: elbo, iwae, rec_nll, ...),
which bound different quantities; `across_likelihoods` compares the rest and leaves those out.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from dataclasses import dataclass, field

from vaebench.errors import UserError
from vaebench.identity import LIKELIHOOD_METRICS, model_likelihood
from vaebench.metrics.catalog import METRICS
from vaebench.report.compare.sides import Key, Row, Side, Stat, summaries
from vaebench.report.compare.stats import DEFAULT_ALPHA, judge
from vaebench.report.compare.tolerances import DIVERGED, Tolerance, resolve_tolerances

EXIT_OK, EXIT_REGRESSION, EXIT_NOT_COMPARABLE = 0, 1, 2


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
    cand_protocol: str | None = None  # protocol ids (None: unknown, a table.csv without them)
    base_protocol: str | None = None

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
    across_protocols: bool = False
    entries: list[Entry] = field(default_factory=list)
    only_candidate: list[str] = field(default_factory=list)  # rows
    only_baseline: list[str] = field(default_factory=list)
    not_compared: list[str] = field(default_factory=list)  # rows outside --model-map
    not_comparable: list[str] = field(default_factory=list)  # same dataset/model/z, another protocol
    one_sided_metrics: list[str] = field(default_factory=list)
    missing_in_candidate: int = 0  # rows/metrics the baseline has and the candidate lacks (--strict)
    warnings: list[str] = field(default_factory=list)

    @property
    def regressions(self) -> list[Entry]:
        return [e for e in self.entries if e.status == "REGRESSION"]

    @property
    def exit_code(self) -> int:
        """2: rows not comparable (their protocols differ; the comparison is not what was asked),
        else 1: a regression (or, with --strict, something of the baseline missing), else 0."""
        if self.not_comparable:
            return EXIT_NOT_COMPARABLE
        if self.regressions or (self.strict and self.missing_in_candidate):
            return EXIT_REGRESSION
        return EXIT_OK


def _protocol_name(protocol: str | None) -> str:
    return f"protocol {protocol}" if protocol else "protocol unknown"


def _row_name(key: Key, row: Row | None = None, model: str | None = None) -> str:
    dataset, row_model, dim, protocol = key
    extra = ""
    if row is not None:
        extra = f" ({row.n_seeds} seed{'s' if row.n_seeds != 1 else ''}" + (f", {row.n_diverged} diverged" if row.n_diverged else "") + ")"
    return f"{dataset} / `{model or row_model}` / z={dim} / {_protocol_name(protocol)}{extra}"


def _metric_order(name: str) -> tuple[int, str]:
    order = [*METRICS, DIVERGED]
    return (order.index(name), "") if name in order else (len(order), name)


def _dict_diff(da: dict, db: dict) -> str:
    keys = sorted(set(da) | set(db))
    return ", ".join(f"{k} {da.get(k)!r} vs {db.get(k)!r}" for k in keys if da.get(k) != db.get(k))


def protocol_difference(crow: Row, ckey: Key, brow: Row, bkey: Key) -> str:
    """What differs between two rows' protocols: the fields when both come from run records,
    else the protocol ids."""
    if crow.scientific_protocol is not None and brow.scientific_protocol is not None:
        diff = _dict_diff(crow.scientific_protocol, brow.scientific_protocol)
        if diff:
            return f"{diff} ({_protocol_name(ckey[3])} vs {bkey[3]})"
    return f"{_protocol_name(ckey[3])} vs {bkey[3] or 'unknown'}"


def _pair_rows(candidate: Side, baseline: Side, model_map: dict[str, str], cmp: Comparison) -> list[tuple[Key, Key]]:
    """Pairs (candidate key, baseline key); fills the one-sided, not compared and not comparable lists."""
    targets = set(model_map.values())
    by_target: dict[tuple[str, str, int], dict[str, list[Key]]] = defaultdict(lambda: defaultdict(list))
    for key in sorted(candidate.rows, key=str):
        ds, cm, dim, _ = key
        if model_map and cm not in model_map:
            cmp.not_compared.append("candidate " + _row_name(key, candidate.rows[key]))
            continue
        by_target[(ds, model_map.get(cm, cm), dim)][cm].append(key)
    base_by_triple: dict[tuple[str, str, int], list[Key]] = defaultdict(list)
    for key in sorted(baseline.rows, key=str):
        if model_map and key[1] not in targets:
            cmp.not_compared.append("baseline " + _row_name(key, baseline.rows[key]))
            continue
        base_by_triple[key[:3]].append(key)

    pairs: list[tuple[Key, Key]] = []
    used: set[Key] = set()  # baseline rows compared (or listed as not comparable) with some candidate row
    for triple, by_model in sorted(by_target.items(), key=str):
        base_keys = base_by_triple.get(triple, [])
        for cm, cand_keys in sorted(by_model.items()):
            base_left = [b for b in base_keys if not any(b[3] is not None and b[3] == c[3] for c in cand_keys)]
            cand_left = []
            for ckey in cand_keys:
                bkey = (*triple, ckey[3])
                if ckey[3] is not None and bkey in baseline.rows and bkey in base_keys:
                    pairs.append((ckey, bkey))
                    used.add(bkey)
                else:
                    cand_left.append(ckey)
            if not cand_left:
                continue
            if not base_left:
                cmp.only_candidate.extend(_row_name(k, candidate.rows[k]) for k in cand_left)
                continue
            used.update(base_left)
            if len(cand_left) == 1 and len(base_left) == 1:
                ckey, bkey = cand_left[0], base_left[0]
                if ckey[3] is None or bkey[3] is None:
                    pairs.append((ckey, bkey))  # one side's protocol is unknown: said once, below
                    continue
                diff = protocol_difference(candidate.rows[ckey], ckey, baseline.rows[bkey], bkey)
                name = _row_name(ckey, model=cm if cm == triple[1] else f"{cm}` vs `{triple[1]}")
                if cmp.across_protocols:
                    pairs.append((ckey, bkey))
                    cmp.warnings.append(f"{name}: compared across protocols (--across-protocols): {diff}")
                else:
                    cmp.not_comparable.append(f"{name}: {diff}")
                continue
            # several protocols on a side, none matching: no pairing can be told apart from a guess
            cands = ", ".join(_protocol_name(k[3]) for k in cand_left)
            bases = ", ".join(_protocol_name(k[3]) for k in base_left)
            cmp.not_comparable.append(
                f"{triple[0]} / `{cm}` / z={triple[2]}: the candidate has {cands}; the baseline has {bases} "
                f"(several protocols: ambiguous even with --across-protocols; compare one protocol at a time)"
            )
    for _triple, base_keys in sorted(base_by_triple.items(), key=str):
        for bkey in base_keys:
            if bkey not in used:
                cmp.only_baseline.append(_row_name(bkey, baseline.rows[bkey]))
                cmp.missing_in_candidate += 1
    return pairs


def _likelihoods_apart(candidate: Side, baseline: Side, pairs: list[tuple[Key, Key]]) -> dict[tuple[Key, Key], tuple[str, str]]:
    """The row pairs whose models' likelihoods differ and that both carry a likelihood-dependent
    metric: (candidate key, baseline key) -> (candidate likelihood, baseline likelihood)."""
    out = {}
    for ckey, bkey in pairs:
        cl, bl = model_likelihood(ckey[1]), model_likelihood(bkey[1])
        shared = set(candidate.rows[ckey].metrics) & set(baseline.rows[bkey].metrics) & set(LIKELIHOOD_METRICS)
        if cl and bl and cl != bl and shared:
            out[ckey, bkey] = (cl, bl)
    return out


def compare(
    candidate: Side, baseline: Side, tolerances_file: dict | None = None, tolerances_cli: dict | None = None,
    alpha: float = DEFAULT_ALPHA, model_map: dict[str, str] | None = None,
    tolerance_only: bool = False, strict: bool = False, across_protocols: bool = False,
    across_likelihoods: bool = False,
) -> Comparison:
    if not 0 < alpha < 1:
        raise UserError(f"--alpha must be between 0 and 1, got {alpha}")
    model_map = dict(model_map or {})
    if candidate.source != baseline.source:  # one side has only means: compare summaries on both
        candidate = summaries(candidate)
        baseline = summaries(baseline)
    cmp = Comparison(candidate, baseline, alpha, tolerance_only, strict, across_protocols)
    cand_models = {k[1] for k in candidate.rows}
    base_models = {k[1] for k in baseline.rows}
    for cm, bm in model_map.items():
        if cm not in cand_models:
            cmp.warnings.append(f"--model-map {cm}={bm}: the candidate has no model `{cm}` (it has {', '.join(sorted(cand_models))})")
        if bm not in base_models:
            cmp.warnings.append(f"--model-map {cm}={bm}: the baseline has no model `{bm}` (it has {', '.join(sorted(base_models))})")
    for side, role in ((candidate, "candidate"), (baseline, "baseline")):
        if not side.protocol_known:
            cmp.warnings.append(
                f"the {role}'s table.csv has no `protocol` column (written before rows carried their protocol): its rows "
                f"are matched on dataset, model and latent dim alone, so a protocol difference cannot be detected"
            )

    pairs = _pair_rows(candidate, baseline, model_map, cmp)
    if not pairs and not cmp.not_comparable:
        def listing(side: Side) -> str:
            return "; ".join(f"{d}/{m}/z={z}/{p or 'protocol unknown'}" for d, m, z, p in sorted(side.rows, key=str)) or "none"

        absent = "; ".join(w for w in cmp.warnings if w.startswith("--model-map"))  # a mapped label that is not there
        if absent:
            hint = f" ({absent})"
        else:
            hint = "" if model_map else " (to compare differently named models use --model-map CANDIDATE=BASELINE)"
        raise UserError(
            f"no common rows (dataset, model, latent_dim, protocol): candidate has {listing(candidate)}; "
            f"baseline has {listing(baseline)}{hint}"
        )

    apart = _likelihoods_apart(candidate, baseline, pairs)
    if apart and not across_likelihoods:
        (ckey, bkey), (cl, bl) = next(iter(apart.items()))
        more = f" (and {len(apart) - 1} more row pair(s))" if len(apart) > 1 else ""
        raise UserError(f"{_row_name(ckey, model=f'{ckey[1]}` vs `{bkey[1]}')}: likelihood {cl} vs {bl}{more}: "
                        f"{', '.join(LIKELIHOOD_METRICS[:3])} bound different quantities under different likelihoods "
                        "(only bpd compares across them); --across-likelihoods compares the other metrics and leaves those out")

    present = {DIVERGED}
    for ckey, bkey in pairs:
        present |= set(candidate.rows[ckey].metrics) | set(baseline.rows[bkey].metrics)
    tolerances = resolve_tolerances(present, tolerances_file, tolerances_cli)

    for ckey, bkey in pairs:
        crow, brow = candidate.rows[ckey], baseline.rows[bkey]
        ds, cm, dim, cp = ckey
        bm, bp = bkey[1], bkey[3]
        name = _row_name(ckey, model=cm if cm == bm else f"{cm}` vs `{bm}")

        judged: list[tuple[str, Stat, Stat]] = []
        skip: set[str] = set()
        if (ckey, bkey) in apart:
            skip = set(LIKELIHOOD_METRICS)
            cmp.warnings.append(f"{name}: likelihood {apart[ckey, bkey][0]} vs {apart[ckey, bkey][1]} "
                                f"(--across-likelihoods): {', '.join(sorted(skip & (set(crow.metrics) | set(brow.metrics))))} left out")
        for metric in sorted((set(crow.metrics) | set(brow.metrics)) - skip, key=_metric_order):
            if metric not in brow.metrics:
                cmp.one_sided_metrics.append(f"{name}: `{metric}` only in the candidate")
            elif metric in crow.metrics:
                judged.append((metric, crow.metrics[metric], brow.metrics[metric]))
            elif tolerances[metric].gated:  # a gate never passes because its metric is missing
                judged.append((metric, Stat.missing(), brow.metrics[metric]))
            else:
                cmp.one_sided_metrics.append(f"{name}: `{metric}` only in the baseline (not gated)")
                cmp.missing_in_candidate += 1
        if crow.n_diverged or brow.n_diverged:
            judged.append((DIVERGED, Stat(float(crow.n_diverged), math.nan, 1), Stat(float(brow.n_diverged), math.nan, 1)))
        for metric, c, b in judged:
            p, verdict, status = judge(metric, c, b, tolerances[metric], alpha, tolerance_only)
            cmp.entries.append(Entry(ds, cm, bm, dim, metric, c, b, tolerances[metric], p, verdict, status, cp, bp))
        for side, row in (("candidate", crow), ("baseline", brow)):
            if len(row.protocols) > 1:
                cmp.warnings.append(f"{name}: the {side}'s seeds differ in engineering settings that change no metric's "
                                    f"meaning ({len(row.protocols)} variants, e.g. num_threads)")
        if cp == bp and crow.protocols and brow.protocols and crow.protocols != brow.protocols:
            if len(crow.protocols) == len(brow.protocols) == 1:
                diff = _dict_diff(json.loads(crow.protocols[0]), json.loads(brow.protocols[0]))
            else:
                diff = "several variants"
            cmp.warnings.append(f"{name}: same protocol, different engineering settings ({diff}); they change no metric's meaning")
        if crow.checksums and brow.checksums and crow.checksums != brow.checksums:
            cmp.warnings.append(f"{name}: the dataset checksum differs: the runs did not see the same data")
        if crow.seeds and brow.seeds and crow.seeds != brow.seeds:
            cmp.warnings.append(f"{name}: seeds differ (candidate {list(crow.seeds)}, baseline {list(brow.seeds)})")

    rank = {"REGRESSION": 0, "beyond tol (n.s.)": 1}
    cmp.entries.sort(key=lambda e: (rank.get(e.status, 2), e.dataset, e.cand_model, e.latent_dim, str(e.cand_protocol), _metric_order(e.metric)))
    return cmp
