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

Key = tuple[str, str, int]  # (dataset, model, latent_dim)


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
        text = fmt(self.mean)
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



def summaries(side: Side) -> Side:
    rows = {k: dataclasses.replace(r, metrics={m: s.summary() for m, s in r.metrics.items()}) for k, r in side.rows.items()}
    return dataclasses.replace(side, rows=rows)


def fmt(v: float) -> str:
    if isinstance(v, float) and v.is_integer() and abs(v) < 1e6:
        return str(int(v))
    return f"{v:.4g}"

