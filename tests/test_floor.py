"""The real-data floor: computed once per data set and backbone (vaebench.metrics.fid.real_data_floor,
cached in vaebench.runner.fit_cache), and drawn by the report as a table row, a plot line and a site line."""

from __future__ import annotations

import pytest
import torch

from tests.test_compare import record
from vaebench.report.floor import FLOOR_MARK, floor_for, floors
from vaebench.report.site.data import site_data
from vaebench.report.table import build_rows, write_tables

BB = "digits-mlp"
FLOOR = {"backbone": BB, "n_train": 360, "n_reference": 360, "seed": 1,
         "metrics": {f"fid[{BB}]": 2.0, f"kid[{BB}]": 0.01, f"kid_std[{BB}]": 0.0, f"precision[{BB}]": 0.8,
                     f"recall[{BB}]": 0.8, f"density[{BB}]": 1.0, f"coverage[{BB}]": 0.9}}


def _records():
    good = {"mse": 0.04, f"fid_samples[{BB}]": 1.5, f"fid_recon[{BB}]": 1.0, f"recall_samples[{BB}]": 0.85}
    bad = {"mse": 0.05, f"fid_samples[{BB}]": 9.0, f"fid_recon[{BB}]": 5.0, f"recall_samples[{BB}]": 0.3}
    recs = [record("vae", 0, good), record("ae", 0, bad)]
    for r in recs:
        r["fid_protocol"] = {"backbone": BB, "real_data_floor": FLOOR}
    return recs


def test_floor_is_read_for_sampled_columns_only():
    fl = floors(_records())
    assert floor_for(fl, "digits", f"fid_samples[{BB}]")[0] == 2.0
    assert floor_for(fl, "digits", f"recall_samples_gmm[{BB}]")[0] == 0.8
    assert floor_for(fl, "digits", f"fid_recon[{BB}]") is None  # a perfect reconstruction is the test set itself
    assert floor_for(fl, "digits", "mse") is None


def test_table_has_the_floor_row_and_marks_cells_at_the_floor(tmp_path):
    recs = _records()
    write_tables(recs, tmp_path)
    md = (tmp_path / "table.md").read_text()
    floor_line = next(line for line in md.splitlines() if line.startswith("| digits | real data (360 train vs 360 test images)"))
    assert "| 2 |" in floor_line and "| 0.8 |" in floor_line
    vae_line = next(line for line in md.splitlines() if line.startswith("| digits | vae |"))
    ae_line = next(line for line in md.splitlines() if line.startswith("| digits | ae |"))
    assert f"1.5{FLOOR_MARK}" in vae_line and f"0.85{FLOOR_MARK}" in vae_line  # beyond the floor: at the noise floor
    assert FLOOR_MARK not in ae_line
    assert "at the noise floor" in md
    assert "real data" not in (tmp_path / "table.csv").read_text()  # compare reads model rows only
    assert (tmp_path / "floor.csv").read_text().splitlines()[1].startswith("digits,digits-mlp,360,360,2,0.01")


def test_plots_and_site_draw_the_floor(tmp_path):
    from vaebench.report import plots

    recs = _records()
    rows = build_rows(recs)
    drawn = []
    real = plots.plt.Axes.axhline
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(plots.plt.Axes, "axhline", lambda self, y, **kw: drawn.append((y, kw.get("label"))) or real(self, y, **kw))
        plots.metric_plots(rows, tmp_path, all_floors=floors(recs))
    assert (2.0, "floor: real data (360 train vs 360 test images)") in drawn and (0.8, drawn[-1][1]) in drawn
    data = site_data(recs, rows, tmp_path)
    best = {b["metric"]: b for b in data["summary"][0]["best"]}
    assert best[f"fid_samples[{BB}]"]["floor"] == 2.0  # the "best" row is at the noise floor, and the summary says so
    assert "floor" not in best["mse"]
    charts = {c["metric"]: c for c in data["charts"]}
    assert charts[f"fid_samples[{BB}]"]["floor"]["value"] == 2.0
    assert "floor" not in charts[f"fid_recon[{BB}]"]


def test_real_data_floor_on_digits_is_cached_and_plausible(digits):
    from vaebench.runner import fit_cache

    fit_cache.clear()
    torch.set_num_threads(1)
    a = fit_cache.real_data_floor(digits, "classifier", None, "cpu")
    b = fit_cache.real_data_floor(digits, "classifier", None, "cpu")
    assert a == b and a["n_train"] == len(digits.test_x) and a["backbone"] == BB
    m = a["metrics"]
    # measured: FID 1.03, KID -0.81 (unbiased: noise round 0), while a 4-component PCA's samples score FID 20.0, KID 6.9
    assert 0 < m[f"fid[{BB}]"] < 5 and abs(m[f"kid[{BB}]"]) < 2
    assert 0.5 < m[f"precision[{BB}]"] <= 1 and 0.5 < m[f"recall[{BB}]"] <= 1 and 0.5 < m[f"coverage[{BB}]"] <= 1
