"""The real-data floor of the sample metrics, as the report reads it from the run records.

Each run that measured FID records `fid_protocol.real_data_floor` (vaebench.metrics.fid.real_data_floor:
the same number of train images as samples, against the test split, in the backbone's features,
once per data set and backbone). Two finite draws of the data itself score this much: a model's
sampled column (`*_samples`, `*_samples_fitted`, `*_samples_gmm`) at or beyond it (FID, KID at or
below; precision, recall, coverage at or above) is "at the noise floor", no better than data. The
reconstructions' columns have no such floor (a perfect reconstruction is the test set itself).
The table gets one reference row per (data set, backbone, sample count), the plots and the site
a line. No torch: the report reads only records.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

from vaebench.identity import row_key
from vaebench.metrics.catalog import (
    SAMPLE_MEASURES,
    describe_metric,
    parse_fid_metric_name,
    sample_measure,
)

FLOOR_MEASURES = ("fid", *SAMPLE_MEASURES)
FLOOR_MARK = "†"  # after a table cell at the noise floor


@dataclass(frozen=True)
class Floor:
    dataset: str  # the row label of the data set (row_key's first field)
    backbone: str
    n_train: int
    n_reference: int
    values: dict[str, float]  # measure ("fid", "kid", ...) -> value

    @property
    def label(self) -> str:
        return f"real data ({self.n_train} train vs {self.n_reference} test images)"


def floors(records: list[dict]) -> dict[tuple[str, str, int], Floor]:
    """(data set label, backbone, sample count) -> its Floor, from the first finished record that
    carries one (every run of a data set computes the same one)."""
    out: dict[tuple[str, str, int], Floor] = {}
    for r in records:
        fl = (r.get("fid_protocol") or {}).get("real_data_floor") if r.get("status") == "ok" else None
        if not fl:
            continue
        dataset = row_key(r["spec"])[0]
        key = (dataset, fl["backbone"], int(fl["n_train"]))
        if key not in out:
            values = {m: v for name, v in fl["metrics"].items() if (m := name.split("[", 1)[0]) in FLOOR_MEASURES}
            out[key] = Floor(dataset, fl["backbone"], int(fl["n_train"]), int(fl["n_reference"]), values)
    return out


def floor_for(all_floors: dict[tuple[str, str, int], Floor], dataset: str, metric: str) -> tuple[float, Floor] | None:
    """(floor value, its Floor) for a sampled source's column of `dataset`, or None (recon, other
    columns, no floor recorded). With several sample counts for one data set and backbone, the
    smallest (the loosest floor) is returned."""
    parsed = parse_fid_metric_name(metric)
    if not parsed:
        return None
    measure, source = sample_measure(parsed[0])
    if source == "recon":
        return None
    hits = sorted((k[2], f) for k, f in all_floors.items() if k[0] == dataset and k[1] == parsed[1] and measure in f.values)
    return (hits[0][1].values[measure], hits[0][1]) if hits else None


def at_floor(metric: str, value: float, floor: float) -> bool:
    """True when `value` is no better than the real-data floor (for a metric with a direction)."""
    higher = describe_metric(metric)[0]
    if higher is None:
        return False
    return value >= floor if higher else value <= floor


def floor_table_rows(all_floors: dict[tuple[str, str, int], Floor], metrics: list[str]) -> list[dict]:
    """One table row per floor: its value in every sampled source's column of its data set and
    backbone among `metrics` (the table's columns), model = the floor's label."""
    rows = []
    for (dataset, backbone, _n), fl in sorted(all_floors.items()):
        row = {"dataset": dataset, "model": fl.label, "latent_dim": "—", "protocol": ""}
        for m in metrics:
            hit = floor_for({(dataset, backbone, _n): fl}, dataset, m)
            if hit:
                row[f"{m}_mean"] = hit[0]
        rows.append(row)
    return rows


def floor_csv(all_floors: dict[tuple[str, str, int], Floor]) -> str:
    """floor.csv: one line per (data set, backbone, sample count), a column per measure."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["dataset", "backbone", "n_train", "n_reference", *FLOOR_MEASURES])
    for (dataset, backbone, n), fl in sorted(all_floors.items()):
        writer.writerow([dataset, backbone, n, fl.n_reference, *(f"{fl.values[m]:.6g}" if m in fl.values else "" for m in FLOOR_MEASURES)])
    return buf.getvalue()
