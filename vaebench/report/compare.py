"""Candidate vs baseline: per-metric deltas, tolerances, Welch's t-test, regressions first.

Each side is a results folder (per-seed values from its run records, runs/*.json) or a
table.csv (means, sample stds and n_seeds). Rows match on (dataset, model, latent_dim); a
model map pairs a candidate model with a differently named baseline model. Semantics, the
default tolerances and their reasons are in docs/compare.md.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import warnings
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vaebench.errors import UserError
from vaebench.metrics.catalog import METRICS

Key = tuple[str, str, int]  # (dataset, model, latent_dim)

DIVERGED = "n_diverged"  # pseudo-metric: runs that diverged (NaN/inf loss), lower is better
DEFAULT_ALPHA = 0.05


# ---------------------------------------------------------------- tolerances


@dataclass(frozen=True)
class Tolerance:
    """The candidate may be worse than the baseline by max(abs, rel * |baseline mean|).

    higher_is_better None means the direction is unknown; such a metric (and any with
    gate False) is reported but never makes a regression.
    """

    rel: float = 0.0
    abs: float = 0.0
    higher_is_better: bool | None = None
    gate: bool = True

    def allowed(self, baseline: float) -> float:
        base = abs(baseline) if math.isfinite(baseline) else 0.0
        return max(self.abs, self.rel * base)

    @property
    def gated(self) -> bool:
        return self.gate and self.higher_is_better is not None

    def describe(self) -> str:
        if not self.gated:
            return "—"
        parts = ([f"{self.rel * 100:.3g}%"] if self.rel else []) + ([f"{self.abs:.3g}"] if self.abs else [])
        return " or ".join(parts) or "0"


# Calibrated on the smoke suite (digits, 3 seeds; docs/compare.md): each is about 2.5-4 times
# the seed-to-seed spread of a single-seed difference, so one-seed CI does not flap, while a
# broken model (decoder ignoring z: mse +50%, elbo -5%, probe_acc -0.5) fails clearly.
DEFAULT_TOLERANCES: dict[str, Tolerance] = {
    "elbo": Tolerance(rel=0.02, higher_is_better=True),
    "iwae": Tolerance(rel=0.02, higher_is_better=True),
    "rec_nll": Tolerance(rel=0.05, higher_is_better=False, gate=False),  # a part of the ELBO: informational
    "kl": Tolerance(rel=0.10, higher_is_better=False, gate=False),  # ditto; lower is not simply better
    "mse": Tolerance(rel=0.10, abs=1e-4, higher_is_better=False),
    "active_units": Tolerance(abs=1.0, higher_is_better=True),
    "probe_acc": Tolerance(abs=0.05, higher_is_better=True),
    "ppca_ll": Tolerance(rel=0.01, abs=0.01, higher_is_better=True),  # closed form: only numerics move it
    DIVERGED: Tolerance(abs=0.0, higher_is_better=False),
}

# disentanglement_lib scores (vaebench.metrics.disentanglement.evaluate_all), all in [0, 1]
DISENTANGLEMENT = (
    "mig", "sap", "modularity",
    "dci_disentanglement", "dci_completeness", "dci_informativeness_train", "dci_informativeness_test",
    "explicitness_train", "explicitness_test",
    "beta_vae_train_accuracy", "beta_vae_eval_accuracy",
    "factor_vae_train_accuracy", "factor_vae_eval_accuracy",
)
DISENTANGLEMENT_TOLERANCE = Tolerance(abs=0.05, higher_is_better=True)
INFORMATIONAL = {"factor_vae_num_active_dims": Tolerance(higher_is_better=True, gate=False)}
# sample-quality distances, named like `fid_samples[digits-cnn]`: lower is better
LOWER_IS_BETTER_PREFIXES = ("fid", "kid")
DISTANCE_TOLERANCE = Tolerance(rel=0.10, higher_is_better=False)

_ENTRY_KEYS = {"rel", "abs", "direction", "gate"}


def default_tolerance(metric: str) -> Tolerance:
    if metric in DEFAULT_TOLERANCES:
        return DEFAULT_TOLERANCES[metric]
    if metric in INFORMATIONAL:
        return INFORMATIONAL[metric]
    if metric in METRICS:  # a metric added to the evaluation later: its direction, 5%
        return Tolerance(rel=0.05, higher_is_better=METRICS[metric][0])
    if metric in DISENTANGLEMENT:
        return DISENTANGLEMENT_TOLERANCE
    if metric.split("[", 1)[0].startswith(LOWER_IS_BETTER_PREFIXES):
        return DISTANCE_TOLERANCE
    return Tolerance(higher_is_better=None, gate=False)


def known_metric_names() -> set[str]:
    return set(METRICS) | set(DEFAULT_TOLERANCES) | set(DISENTANGLEMENT) | set(INFORMATIONAL)


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise UserError(f"{what} must be a number >= 0, got {value!r}")
    return float(value)


def _entry(raw: Any, where: str) -> dict[str, Any]:
    """One metric's tolerance: a number (relative) or a mapping with rel/abs/direction/gate."""
    if not isinstance(raw, dict):
        return {"rel": _number(raw, where)}
    unknown = set(raw) - _ENTRY_KEYS
    if unknown:
        raise UserError(f"{where}: unknown key(s) {sorted(unknown)}; allowed: {sorted(_ENTRY_KEYS)}")
    out: dict[str, Any] = {}
    for key in ("rel", "abs"):
        if key in raw:
            out[key] = _number(raw[key], f"{where}.{key}")
    if "direction" in raw:
        if raw["direction"] not in ("higher", "lower"):
            raise UserError(f"{where}.direction must be 'higher' or 'lower' (is better), got {raw['direction']!r}")
        out["higher_is_better"] = raw["direction"] == "higher"
    if "gate" in raw:
        if not isinstance(raw["gate"], bool):
            raise UserError(f"{where}.gate must be true or false, got {raw['gate']!r}")
        out["gate"] = raw["gate"]
    return out


def load_tolerance_file(path: Path) -> dict[str, dict[str, Any]]:
    """YAML mapping metric -> number (relative) or {rel, abs, direction, gate}."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise UserError(f"tolerance file {path} does not exist")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise UserError(f"tolerance file {path}: malformed YAML: {exc}") from None
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise UserError(f"tolerance file {path}: expected a mapping metric -> tolerance, got {type(raw).__name__}")
    return {str(name): _entry(value, f"{path}: {name}") for name, value in raw.items()}


def parse_tol_args(items: list[str]) -> dict[str, dict[str, Any]]:
    """`--tol METRIC=SPEC`; SPEC is comma-separated: 0.05 or rel:0.05 (relative), abs:0.5,
    higher / lower (direction), gate / nogate."""
    out: dict[str, dict[str, Any]] = {}
    for item in items:
        name, sep, spec = item.partition("=")
        name = name.strip()
        if not sep or not name or not spec.strip():
            raise UserError(f"--tol {item!r}: expected METRIC=SPEC, e.g. mse=0.05 (relative) or elbo=abs:0.5")
        entry: dict[str, Any] = {}
        for token in (t.strip() for t in spec.split(",")):
            kind, colon, value = token.partition(":")
            try:
                if token in ("higher", "lower"):
                    entry["higher_is_better"] = token == "higher"
                elif token in ("gate", "nogate"):
                    entry["gate"] = token == "gate"
                elif colon and kind in ("rel", "abs"):
                    entry[kind] = _number(float(value), f"--tol {item!r}: {kind}")
                elif not colon:
                    entry["rel"] = _number(float(token), f"--tol {item!r}")
                else:
                    raise ValueError
            except ValueError:
                raise UserError(
                    f"--tol {item!r}: cannot read {token!r}; use a number (relative), rel:X, abs:X, higher, lower, gate or nogate"
                ) from None
        out[name] = {**out.get(name, {}), **entry}
    return out


def _apply(tol: Tolerance, entry: dict[str, Any]) -> Tolerance:
    changes: dict[str, Any] = {}
    if "rel" in entry or "abs" in entry:  # a tolerance you give replaces the default one, and is enforced
        changes.update(rel=entry.get("rel", 0.0), abs=entry.get("abs", 0.0), gate=True)
    if "higher_is_better" in entry:
        changes["higher_is_better"] = entry["higher_is_better"]
    if "gate" in entry:
        changes["gate"] = entry["gate"]
    return dataclasses.replace(tol, **changes)


def _matches(pattern: str, metric: str) -> bool:
    return metric.startswith(pattern[:-1]) if pattern.endswith("*") else metric == pattern


def resolve_tolerances(
    metrics: set[str], from_file: dict[str, dict] | None = None, from_cli: dict[str, dict] | None = None,
) -> dict[str, Tolerance]:
    """Tolerance per metric: defaults, then the file, then --tol (a name beats a `prefix*`)."""
    known = known_metric_names() | set(metrics)
    layers = [(from_file or {}, "the tolerance file"), (from_cli or {}, "--tol")]
    for entries, origin in layers:
        for name in entries:
            if name.endswith("*"):
                prefix = name[:-1]
                if not (any(m.startswith(prefix) for m in known) or prefix.startswith(LOWER_IS_BETTER_PREFIXES)):
                    raise UserError(f"{origin}: {name!r} matches no metric; known: {', '.join(sorted(known))}")
            elif name not in known:
                import difflib

                close = difflib.get_close_matches(name, sorted(known), n=3)
                hint = f" (did you mean {', '.join(close)}?)" if close else ""
                raise UserError(f"unknown metric {name!r} in {origin}{hint}; known: {', '.join(sorted(known))}")
    out = {}
    for metric in metrics:
        tol = default_tolerance(metric)
        for entries, _origin in layers:
            for wildcard in (True, False):
                for name, entry in entries.items():
                    if name.endswith("*") == wildcard and _matches(name, metric):
                        tol = _apply(tol, entry)
        if tol.gate and tol.higher_is_better is None:
            raise UserError(
                f"metric {metric!r}: its direction is unknown; add `direction: higher` or `lower` "
                f"(--tol {metric}=higher,...) to check it"
            )
        out[metric] = tol
    return out


# ---------------------------------------------------------------- the two sides


@dataclass(frozen=True)
class Stat:
    mean: float
    std: float  # sample std (ddof = 1); nan below 2 values
    n: int
    values: tuple[float, ...] | None = None  # the per-seed values, when read from run records

    @classmethod
    def of(cls, values: list[float]) -> Stat:
        a = np.asarray(values, dtype=np.float64)
        return cls(float(a.mean()), float(a.std(ddof=1)) if len(a) > 1 else math.nan, len(a), tuple(map(float, a)))

    def summary(self) -> Stat:
        return dataclasses.replace(self, values=None)

    def show(self) -> str:
        text = _fmt(self.mean)
        if self.n > 1 and math.isfinite(self.std):
            text += f" ± {self.std:.2g}"
        return f"{text} (n={self.n})"


@dataclass
class Row:
    metrics: dict[str, Stat]
    n_seeds: int
    n_diverged: int
    seeds: tuple[int, ...] = ()
    protocols: tuple[str, ...] = ()  # canonical JSON of each protocol seen (records only)
    checksums: tuple[str, ...] = ()


@dataclass
class Side:
    path: Path
    source: str  # "run records" or "table.csv"
    rows: dict[Key, Row]

    def describe(self) -> str:
        n = len(self.rows)
        return f"`{self.path}` ({self.source}, {n} row{'s' if n != 1 else ''})"


def load_side(path: Path, role: str) -> Side:
    """A results folder (run records, else its table.csv) or a table.csv file."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"{role} {path} does not exist")
    if path.is_file():
        if path.suffix.lower() != ".csv":
            raise UserError(f"{role} {path}: expected a results folder or its table.csv")
        return _side_from_table(path, role)
    runs = path / "runs" if (path / "runs").is_dir() else path
    if any(runs.glob("*.json")):
        return _side_from_records(path, role)
    if (path / "table.csv").is_file():
        return _side_from_table(path / "table.csv", role)
    raise UserError(f"{role} {path} holds no run records (runs/*.json) and no table.csv")


def _side_from_records(folder: Path, role: str) -> Side:
    from vaebench.report.table import model_label
    from vaebench.store import load_records

    groups: dict[Key, list[dict]] = defaultdict(list)
    for r in load_records(folder):
        s = r["spec"]
        try:
            key = (str(s["dataset"]), str(model_label(s)), int(s["latent_dim"]))
        except (KeyError, TypeError, ValueError):
            raise UserError(f"{role}: {r.get('_path')} has no dataset/model/latent_dim in its spec") from None
        groups[key].append(r)
    rows = {}
    for key, recs in groups.items():
        ok = [r for r in recs if r.get("status") == "ok"]
        values: dict[str, list[float]] = defaultdict(list)
        for r in ok:
            for name, v in (r.get("metrics") or {}).items():
                if isinstance(v, (int, float)) and not isinstance(v, bool):
                    values[name].append(float(v))
        rows[key] = Row(
            metrics={name: Stat.of(v) for name, v in values.items()},
            n_seeds=len(ok),
            n_diverged=len(recs) - len(ok),
            seeds=tuple(sorted(r["spec"].get("seed", -1) for r in ok)),
            protocols=tuple(sorted({json.dumps(r["spec"].get("protocol"), sort_keys=True) for r in recs})),
            checksums=tuple(sorted({str((r.get("dataset") or {}).get("checksum")) for r in recs})),
        )
    return Side(folder, "run records", rows)


def _cell(value: str | None) -> float | None:
    if value is None or value.strip() == "":
        return None
    return float(value)


def _side_from_table(path: Path, role: str) -> Side:
    try:
        text = path.read_text()
    except OSError as exc:
        raise UserError(f"{role} {path} is unreadable ({exc.strerror or exc})") from None
    reader = csv.DictReader(text.splitlines())
    cols = reader.fieldnames or []
    missing = [c for c in ("dataset", "model", "latent_dim") if c not in cols]
    if missing:
        raise UserError(f"{role} {path}: not a vaebench table.csv (no column(s) {', '.join(missing)})")
    metrics = [c[: -len("_mean")] for c in cols if c.endswith("_mean")]
    rows: dict[Key, Row] = {}
    for line, raw in enumerate(reader, start=2):
        try:
            key = (raw["dataset"], raw["model"], int(raw["latent_dim"]))
            n = int(_cell(raw.get("n_seeds")) or 0) if "n_seeds" in cols else 1
            n_div = int(_cell(raw.get("n_diverged")) or 0)
            stats = {}
            for m in metrics:
                mean = _cell(raw.get(f"{m}_mean"))
                if mean is None:
                    continue
                std = _cell(raw.get(f"{m}_std"))
                stats[m] = Stat(mean, math.nan if std is None else std, max(n, 1))
        except (TypeError, ValueError) as exc:
            raise UserError(f"{role} {path}, line {line}: unreadable value ({exc})") from None
        if key in rows:
            raise UserError(f"{role} {path}: row {key} appears twice")
        rows[key] = Row(stats, n, n_div)
    return Side(path, "table.csv", rows)


# ---------------------------------------------------------------- comparing


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
    """How much worse the candidate is (negative: better); a NaN candidate is infinitely worse."""
    if math.isnan(cand) and math.isnan(base):
        return 0.0
    if math.isnan(cand):
        return math.inf
    if math.isnan(base):
        return -math.inf
    if cand == base:  # also inf == inf
        return 0.0
    return base - cand if higher_is_better else cand - base


def judge(metric: str, cand: Stat, base: Stat, tol: Tolerance, alpha: float, tolerance_only: bool) -> tuple[float | None, str, str]:
    """(p, verdict, status) for one metric of one row."""
    p = None if metric == DIVERGED else welch_p(cand, base)
    if metric == DIVERGED:
        verdict = "n/a (count)"
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
        candidate = _summaries(candidate)
        baseline = _summaries(baseline)
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


def _summaries(side: Side) -> Side:
    rows = {k: dataclasses.replace(r, metrics={m: s.summary() for m, s in r.metrics.items()}) for k, r in side.rows.items()}
    return dataclasses.replace(side, rows=rows)


# ---------------------------------------------------------------- Markdown


def _fmt(v: float) -> str:
    if isinstance(v, float) and v.is_integer() and abs(v) < 1e6:
        return str(int(v))
    return f"{v:.4g}"


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
    if n_reg:
        lines.append(f"**{n_reg} regression{'s' if n_reg != 1 else ''}** in {len(cmp.entries)} compared values (exit 1).")
    elif cmp.exit_code:
        lines.append(f"**No metric regressed, but --strict: {cmp.missing_in_candidate} row(s)/metric(s) of the baseline are missing in the candidate** (exit 1).")
    else:
        lines.append(f"**No regression** in {len(cmp.entries)} compared values (exit 0).")
    lines += [
        "",
        "| status | dataset | model | z | metric | candidate | baseline | Δ | Δ% | tolerance | verdict |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
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
            cand, base = _fmt(e.cand.mean), _fmt(e.base.mean)
        else:
            cand, base = e.cand.show(), e.base.show()
        lines.append(
            f"| {status} | {e.dataset} | {model} | {e.latent_dim} | `{e.metric}`{arrow} | {cand} | {base} | "
            f"{_signed(e.delta) if math.isfinite(e.delta) or math.isinf(e.delta) else 'nan'} | {rel} | {e.tol.describe()} | {e.verdict} |"
        )
    lines += ["", "↑ higher is better, ↓ lower is better; Δ = candidate − baseline; tolerance: how much worse the "
              "candidate may be (relative to |baseline| or absolute, whichever is larger); — = reported, never a regression."]
    sections = [
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
