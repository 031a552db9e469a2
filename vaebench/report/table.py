"""One row per configuration, `vaebench.identity.row_key`: dataset (with its parameters), model
(with its non-default parameters, e.g. `vae[beta=8]`), latent dim and protocol id; then
`<metric>_mean` and `<metric>_std` over seeds.

std is the sample standard deviation (ddof = 1) over the seeds that finished; it is empty with
a single seed. Diverged runs are counted in `n_diverged` and left out of the means.

The `protocol` column is the short protocol id; what it stands for is spelled out under
table.md (a legend) and in table.csv's last column, `protocol_json`, so that the CSV alone (a
baseline others compare against) says which protocol every row used.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections import defaultdict
from pathlib import Path

import numpy as np

from vaebench.identity import (
    ENGINEERING_KEYS,
    ROW_KEY,
    format_value,
    model_label,  # noqa: F401 (report.compare imports it from here)
    row_key,
    scientific_protocol,
)
from vaebench.metrics.catalog import (
    describe_metric,
    direction_word,
    informational_why,
    metric_names,
)
from vaebench.report.floor import (
    FLOOR_MARK,
    at_floor,
    floor_csv,
    floor_for,
    floor_table_rows,
    floors,
)
from vaebench.store import atomic_write_text

KEY = ROW_KEY  # (dataset, model, latent_dim, protocol)


def protocol_json(spec: dict) -> str:
    """The protocol a row's id stands for (its scientific part), as compact, sorted JSON."""
    return json.dumps(scientific_protocol(spec.get("protocol") or {}), sort_keys=True, separators=(",", ":"))


def build_rows(records: list[dict]) -> list[dict]:
    groups: dict[tuple, list[dict]] = defaultdict(list)
    names = metric_names([r.get("metrics") or {} for r in records])
    for r in records:
        groups[row_key(r["spec"])].append(r)
    rows = []
    for (dataset, model, dim, protocol), recs in sorted(groups.items()):
        ok = [r for r in recs if r.get("status") == "ok"]
        row = {"dataset": dataset, "model": model, "latent_dim": dim, "protocol": protocol,
               "n_seeds": len(ok), "n_diverged": len(recs) - len(ok), "protocol_json": protocol_json(recs[0]["spec"])}
        for metric in names:
            values = np.array([r["metrics"][metric] for r in ok if metric in r["metrics"]], dtype=np.float64)
            if len(values) == 0:
                continue
            row[f"{metric}_mean"] = float(values.mean())
            row[f"{metric}_std"] = float(values.std(ddof=1)) if len(values) > 1 else math.nan
        rows.append(row)
    return rows


def columns(rows: list[dict]) -> list[str]:
    """CSV columns: the row identity, n_seeds, n_diverged, the metrics, then protocol_json."""
    cols = [*KEY, "n_seeds", "n_diverged"]
    for metric in row_metrics(rows):
        cols += [f"{metric}_mean", f"{metric}_std"]
    return cols + ["protocol_json"]


def row_metrics(rows: list[dict]) -> list[str]:
    """The metrics that appear in the rows, in table order."""
    return metric_names([{k.removesuffix("_mean") for k in r if k.endswith("_mean")} for r in rows])


def _fmt(v) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v)


def to_csv(rows: list[dict]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns(rows), lineterminator="\n")
    writer.writeheader()
    for r in rows:
        writer.writerow({c: _fmt(r.get(c)) for c in columns(rows)})
    return buf.getvalue()


def protocol_legend(rows: list[dict]) -> list[str]:
    """One line per protocol id in the rows: the id and the protocol it hashes, `key=value`."""
    seen: dict[str, str] = {}
    for r in rows:
        seen.setdefault(r["protocol"], r["protocol_json"])
    lines = [f"Protocols (the `protocol` column; {', '.join(ENGINEERING_KEYS)} are not part of a protocol: "
             "they change no metric's meaning, and each run's record holds them):", ""]
    for pid, text in seen.items():
        fields = json.loads(text)
        lines.append(f"- `{pid}`: " + ", ".join(f"{k}={format_value(v)}" for k, v in sorted(fields.items())))
    return lines


def to_markdown(rows: list[dict], all_floors: dict | None = None) -> str:
    """The table, its legend and protocols. `all_floors` (report.floor.floors): a reference row
    per data set and backbone after the model rows, and a FLOOR_MARK on every cell at the floor."""
    all_floors = all_floors or {}
    cols = [c for c in columns(rows) if not c.endswith("_std") and c != "protocol_json"]
    header = [c.removesuffix("_mean") for c in cols]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(cols)]
    marked = False
    for r in [*rows, *floor_table_rows(all_floors, row_metrics(rows))]:
        cells = []
        for c in cols:
            if c.endswith("_mean"):
                mean, std = r.get(c), r.get(c.replace("_mean", "_std"))
                cell = _fmt(mean) if mean is not None else ""
                if cell and std is not None and not math.isnan(std):
                    cell += f" ± {std:.2g}"
                hit = floor_for(all_floors, r["dataset"], c.removesuffix("_mean")) if cell and "n_seeds" in r else None
                if hit and at_floor(c.removesuffix("_mean"), mean, hit[0]):
                    cell += FLOOR_MARK
                    marked = True
                cells.append(cell)
            else:
                cells.append(_fmt(r.get(c)))
        lines.append("| " + " | ".join(cells) + " |")
    present = row_metrics(rows)
    notes = ["", "Metrics (test split; mean ± sample std over seeds):", ""]
    for m in present:
        higher, desc = describe_metric(m)
        why = informational_why(m)
        notes.append(f"- `{m}` ({direction_word(higher)}): {desc}" + (f". Informational: {why}" if why else ""))
    if "ppca_ll" in present:
        notes += ["", "`ppca_ll` is a Gaussian density over continuous pixels; `elbo`/`iwae` are Bernoulli "
                  "log-probabilities. The two are NOT comparable with each other."]
    if all_floors:
        notes += ["", "Rows `real data (N train vs M test images)`: the real-data floor, N train images (as many as the "
                  "models' samples) against the test split in the same backbone, for every sampled column (not the "
                  "reconstructions'). Two draws of the data itself score this: a model "
                  + (f"cell marked {FLOOR_MARK} " if marked else "") + "at or beyond it (FID, KID at or below; precision, "
                  "recall, coverage at or above) is at the noise floor, not better than data."]
    if rows:
        notes += ["", *protocol_legend(rows)]
    return "\n".join(lines + notes) + "\n"


def write_tables(records: list[dict], folder: Path) -> list[dict]:
    """table.csv (model rows only: what compare reads), table.md (with the floor rows) and, when
    the records carry a real-data floor, floor.csv."""
    rows = build_rows(records)
    all_floors = floors(records)
    atomic_write_text(folder / "table.csv", to_csv(rows))
    atomic_write_text(folder / "table.md", to_markdown(rows, all_floors))
    if all_floors:
        atomic_write_text(folder / "floor.csv", floor_csv(all_floors))
    return rows
