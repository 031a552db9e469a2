"""The two sides of a comparison: rows of per-seed values from run records, or of means, stds
and n_seeds from a table.csv."""

from __future__ import annotations

import csv
import dataclasses
import json
import math
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vaebench.errors import UserError

Key = tuple[str, str, int, "str | None"]  # identity.row_key: dataset, model label, latent dim, protocol id (None: unknown)


@dataclass(frozen=True)
class Stat:
    mean: float
    std: float  # sample std (ddof = 1); nan below 2 values
    n: int
    values: tuple[float, ...] | None = None  # the per-seed values, when read from run records
    note: str | None = None  # why there is no number: "missing", "null in 1 of 3 seeds", "'abc' (not a number)"

    @classmethod
    def of(cls, values: list[float | None]) -> Stat:
        """Per-seed values; a None (null, or absent from a seed) counts as NaN, so the mean is NaN."""
        a = np.asarray([math.nan if v is None else v for v in values], dtype=np.float64)
        nulls = sum(v is None for v in values)
        note = f"null or absent in {nulls} of {len(values)} seed{'s' if len(values) != 1 else ''}" if nulls else None
        return cls(float(a.mean()), float(a.std(ddof=1)) if len(a) > 1 else math.nan, len(a), tuple(map(float, a)), note)

    @classmethod
    def missing(cls) -> Stat:
        return cls(math.nan, math.nan, 0, note="missing")

    def summary(self) -> Stat:
        return dataclasses.replace(self, values=None)

    def show(self) -> str:
        if self.n == 0:
            return self.note or "—"
        text = fmt(self.mean)
        if self.n > 1 and math.isfinite(self.std):
            text += f" ± {self.std:.2g}"
        return f"{text} (n={self.n})" + (f", {self.note}" if self.note else "")


@dataclass
class Row:
    metrics: dict[str, Stat]
    n_seeds: int
    n_diverged: int
    seeds: tuple[int, ...] = ()
    protocols: tuple[str, ...] = ()  # canonical JSON of each full protocol seen (records only)
    checksums: tuple[str, ...] = ()
    scientific_protocol: dict | None = None  # what the protocol id hashes (records only)


@dataclass
class Side:
    path: Path
    source: str  # "run records" or "table.csv"
    rows: dict[Key, Row]
    protocol_known: bool = True  # False: a table.csv without a `protocol` column

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
    """Rows keyed by `identity.row_key`; the records are schema-checked by `load_records`."""
    from vaebench.identity import row_key, scientific_protocol
    from vaebench.store import load_records

    groups: dict[Key, list[dict]] = defaultdict(list)
    for r in load_records(folder):
        groups[row_key(r["spec"])].append(r)
    rows = {}
    for key, recs in groups.items():
        ok = [r for r in recs if r.get("status") == "ok"]
        names = {name for r in ok for name in r["metrics"]}
        rows[key] = Row(
            metrics={name: Stat.of([r["metrics"].get(name) for r in ok]) for name in names},
            n_seeds=len(ok),
            n_diverged=len(recs) - len(ok),
            seeds=tuple(sorted(r["spec"]["seed"] for r in ok)),
            protocols=tuple(sorted({json.dumps(r["spec"]["protocol"], sort_keys=True) for r in recs})),
            checksums=tuple(sorted({str((r.get("dataset") or {}).get("checksum")) for r in recs})),
            scientific_protocol=scientific_protocol(recs[0]["spec"]["protocol"]),
        )
    return Side(folder, "run records", rows)


def _cell(value: str | None) -> float | None:
    if value is None or value.strip() == "":
        return None
    return float(value)


def _metric_stat(raw: dict, metric: str, n: int, role: str, where: str) -> Stat | None:
    """A metric's cells; in the candidate an unreadable cell is an invalid value (judged as a
    regression), in the baseline it is bad input."""
    try:
        mean = _cell(raw.get(f"{metric}_mean"))
        std = _cell(raw.get(f"{metric}_std"))
    except ValueError:
        text = raw.get(f"{metric}_mean")
        if role == "baseline":
            raise UserError(f"{role} {where}: `{metric}` is {text!r}, not a number; fix the baseline table") from None
        return Stat(math.nan, math.nan, max(n, 1), note=f"{text!r} (not a number)")
    if mean is None:
        return None
    return Stat(mean, math.nan if std is None else std, max(n, 1))


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
    has_protocol = "protocol" in cols
    rows: dict[Key, Row] = {}
    for line, raw in enumerate(reader, start=2):
        try:
            protocol = (raw.get("protocol") or "").strip() or None
            key = (raw["dataset"], raw["model"], int(raw["latent_dim"]), protocol)
            n = int(_cell(raw.get("n_seeds")) or 0) if "n_seeds" in cols else 1
            n_div = int(_cell(raw.get("n_diverged")) or 0)
        except (TypeError, ValueError) as exc:
            raise UserError(f"{role} {path}, line {line}: unreadable value ({exc})") from None
        stats = {m: s for m in metrics if (s := _metric_stat(raw, m, n, role, f"{path}, line {line}")) is not None}
        if key in rows:
            raise UserError(f"{role} {path}: row {key} appears twice")
        rows[key] = Row(stats, n, n_div)
    return Side(path, "table.csv", rows, protocol_known=has_protocol)


def summaries(side: Side) -> Side:
    rows = {k: dataclasses.replace(r, metrics={m: s.summary() for m, s in r.metrics.items()}) for k, r in side.rows.items()}
    return dataclasses.replace(side, rows=rows)


def fmt(v: float) -> str:
    if isinstance(v, float) and v.is_integer() and abs(v) < 1e6:
        return str(int(v))
    return f"{v:.4g}"

