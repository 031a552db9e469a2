"""The data a results page shows, as one JSON-ready dict (no HTML here).

Rows are the table's rows (`report.table.build_rows`), keyed by the row identity
(`vaebench.identity.ROW_KEY`); a row without a `protocol` (a table built before rows carried one)
matches its runs on the other three fields. Every link is relative to the site folder
(DIR/site): figures are `../plots/<name>.png`, run records `../runs/<run id>.json`.
"""

from __future__ import annotations

import math
import os
from collections import defaultdict
from pathlib import Path
from typing import Any

from vaebench.identity import ROW_KEY, row_key
from vaebench.metrics.catalog import (
    describe_metric,
    direction_arrow,
    direction_word,
    informational_why,
    metric_unit,
)
from vaebench.report.colours import model_colour
from vaebench.report.floor import at_floor, floor_for, floors
from vaebench.report.plots import figure_stem
from vaebench.report.table import row_metrics
from vaebench.store import mixed_code_line

# the image figures `plots.figure_plots` writes per configuration, in the order the detail shows them
FIGURE_KINDS = ("samples", "recon", "interpolation", "traversal", "latent_traversal", "class_grid")
# the parts of a run record the detail view shows (the rest stays in the linked JSON)
RECORD_FIELDS = ("run_id", "status", "created", "spec", "dataset", "provenance", "train", "times", "curves", "fid_protocol",
                 "seed_changes", "diverged_at_step", "diverged_value")


def finite(value: Any) -> Any:
    """NaN and infinities as None, recursively: JSON has no NaN (JSON.parse rejects it)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    return value


def metric_meta(name: str) -> dict[str, Any]:
    """A column's header and legend: direction (arrow, words), unit, definition, why informational."""
    higher, desc = describe_metric(name)
    return {"name": name, "higher": higher, "arrow": direction_arrow(higher), "direction": direction_word(higher),
            "unit": metric_unit(name), "description": desc, "why": informational_why(name) or ""}


def row_identity(row: dict) -> tuple:
    """The row's ROW_KEY values (protocol None where the row has none)."""
    return tuple(row.get(k) for k in ROW_KEY)


def _runs_of(identity: tuple, by_key: dict[tuple, list[dict]], by_triple: dict[tuple, list[dict]]) -> list[dict]:
    """The records of a row: on the full identity, or on the first three fields for a row
    without a protocol."""
    recs = by_key.get(identity, []) if identity[3] is not None else by_triple.get(identity[:3], [])
    return sorted(recs, key=lambda r: (r["spec"].get("seed", 0), r["run_id"]))


def _figures(key: tuple, several: bool, plots: Path) -> list[dict[str, str]]:
    stem = figure_stem(key, several)
    return [{"kind": kind, "src": f"../plots/{stem}_{kind}.png"} for kind in FIGURE_KINDS
            if (plots / f"{stem}_{kind}.png").is_file()]


def _record_href(record: dict, folder: Path) -> str | None:
    path = record.get("_path")
    if not path:
        return None
    rel = os.path.relpath(Path(path).resolve(), (folder / "site").resolve())
    return None if rel.startswith("../..") or os.path.isabs(rel) else rel.replace(os.sep, "/")


def column_order(rows: list[dict], metrics: list[str]) -> list[str]:
    """Judged metrics (those with a direction) first, the ones most rows have first among them
    (so the first columns are not mostly empty: ELBO is blank for PCA and AE), then the
    informational ones; ties keep the table's order."""
    def key(item):
        i, m = item
        judged = describe_metric(m)[0] is not None
        have = sum(f"{m}_mean" in r for r in rows)
        return (not judged, -have, i)

    return [m for _, m in sorted(enumerate(metrics), key=key)]


def summary(rows: list[dict], metrics: list[str], marks: list[dict], all_floors: dict | None = None) -> list[dict[str, Any]]:
    """Per dataset, what a reader wants first: the best row of every judged metric (its mean,
    seed std and n), and `recommend`'s choices (from DIR/recommend.csv) when there are any."""
    out = []
    for dataset in sorted({r["dataset"] for r in rows}):
        drows = [r for r in rows if r["dataset"] == dataset]
        best = []
        for m in metrics:
            higher = describe_metric(m)[0]
            have = [r for r in drows if f"{m}_mean" in r and r[f"{m}_mean"] is not None and math.isfinite(r[f"{m}_mean"])]
            if higher is None or not have:
                continue
            top = (max if higher else min)(have, key=lambda r: r[f"{m}_mean"])
            best.append({"metric": m, "arrow": direction_arrow(higher), "model": top["model"], "latent_dim": top["latent_dim"],
                         "protocol": top.get("protocol"), "mean": top[f"{m}_mean"], "std": top.get(f"{m}_std"),
                         "n": top.get("n_seeds"), "of": len(have), "row": rows.index(top)})
            hit = floor_for(all_floors or {}, dataset, m)
            if hit and at_floor(m, top[f"{m}_mean"], hit[0]):  # no better than two draws of the data: not a "best"
                best[-1]["floor"] = hit[0]
        choices: dict[tuple, list[str]] = defaultdict(list)
        for mk in marks:
            if mk.get("dataset") == dataset:
                choices[(mk["model"], mk.get("protocol") or "", mk["latent_dim"])].append(
                    str(mk.get("label", "")).removeprefix("recommend: "))
        out.append({"dataset": dataset, "best": best, "choices": [
            {"model": m, "protocol": p, "latent_dim": d, "criteria": sorted(set(c))} for (m, p, d), c in sorted(choices.items())]})
    return out


def _series(rows: list[dict], metrics: list[str], all_floors: dict | None = None) -> list[dict]:
    """Per (dataset, metric): one series per (model, protocol), points over latent dims, and for a
    sampled source's column its real-data floor ({value, label}; report.floor), drawn as a line."""
    charts = []
    for dataset in sorted({r["dataset"] for r in rows}):
        drows = [r for r in rows if r["dataset"] == dataset]
        for metric in metrics:
            series: dict[tuple, list] = defaultdict(list)
            for r in drows:
                if f"{metric}_mean" in r:
                    series[(r["model"], r.get("protocol") or "")].append(
                        [r["latent_dim"], r[f"{metric}_mean"], r.get(f"{metric}_std")])
            if series:
                charts.append({"dataset": dataset, "metric": metric, "series": [
                    {"model": m, "protocol": p, "colour": model_colour(m), "points": sorted(pts)}
                    for (m, p), pts in sorted(series.items())]})
                if (hit := floor_for(all_floors or {}, dataset, metric)) is not None:
                    charts[-1]["floor"] = {"value": hit[0], "label": f"floor: {hit[1].label}"}
    return charts


def site_data(records: list[dict], rows: list[dict], folder: Path, marks: list[dict] | None = None) -> dict[str, Any]:
    """Everything the results page shows. `marks` is the hook for `recommend` (not written yet):
    a list of {dataset, metric, model, latent_dim, label} points the metric charts ring and label."""
    folder = Path(folder)
    metrics = column_order(rows, row_metrics(rows))
    by_key: dict[tuple, list[dict]] = defaultdict(list)
    by_triple: dict[tuple, list[dict]] = defaultdict(list)
    for r in records:
        k = row_key(r["spec"])
        by_key[k].append(r)
        by_triple[k[:3]].append(r)
    with_figures = [r for r in records if r.get("status") == "ok" and r.get("_path")
                    and Path(r["_path"]).with_suffix(".npz").is_file()]
    has_figures = {id(r) for r in with_figures}
    protocols: dict[tuple, set] = defaultdict(set)
    for r in with_figures:
        k = row_key(r["spec"])
        protocols[k[:3]].add(k[3])
    out_rows = []
    for i, row in enumerate(rows):
        identity = row_identity(row)
        runs = _runs_of(identity, by_key, by_triple)
        ok = [r for r in runs if r.get("status") == "ok"]
        cells = {}
        for m in metrics:
            if f"{m}_mean" not in row:
                continue
            values = [r["metrics"][m] for r in ok if m in (r.get("metrics") or {})]
            cells[m] = {"mean": row[f"{m}_mean"], "std": row.get(f"{m}_std"), "n": len(values) or row.get("n_seeds")}
        figure_key = next((row_key(r["spec"]) for r in ok if id(r) in has_figures), None)  # plots: the first seed's
        out_rows.append({
            "id": i, **{k: row.get(k) for k in ROW_KEY}, "n_seeds": row.get("n_seeds"), "n_diverged": row.get("n_diverged", 0),
            "cells": cells,
            "figures": _figures(figure_key, len(protocols[figure_key[:3]]) > 1, folder / "plots") if figure_key else [],
            "runs": [{"seed": r["spec"].get("seed"), "status": r.get("status"), "href": _record_href(r, folder),
                      "metrics": r.get("metrics") or {}, "record": {k: r[k] for k in RECORD_FIELDS if k in r}} for r in runs],
        })
    return finite({
        "kind": "results",
        "title": f"vaebench results: {folder.resolve().name}",
        "key": [k for k in ROW_KEY if any(row.get(k) is not None for row in rows)],
        "metrics": [metric_meta(m) for m in metrics],
        "rows": out_rows,
        "charts": _series(rows, metrics, floors(records)),
        "marks": list(marks or []),
        "summary": summary(rows, metrics, list(marks or []), floors(records)),
        "mixed_code": mixed_code_line(records),
    })
