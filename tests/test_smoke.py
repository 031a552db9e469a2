"""The smoke suite end to end through the CLI, the re-run skip, report, and determinism."""

import csv
import json

import pytest

from vaebench.metrics.catalog import METRICS, parse_fid_metric_name


def records(out):
    return [json.loads(p.read_text()) for p in sorted((out / "runs").glob("*.json"))]


def test_smoke_writes_one_complete_record_per_run(smoke_out):
    recs = records(smoke_out)
    assert len(recs) == 8
    assert {(r["spec"]["model"], r["spec"]["latent_dim"]) for r in recs} == {(m, d) for m in ("pca", "ae", "vae", "cvae") for d in (2, 8)}
    for r in recs:
        assert r["status"] == "ok"
        assert set(r["provenance"]["versions"]) >= {"torch", "lightning", "scikit-learn", "vaebench"}
        assert r["dataset"]["checksum"] and r["times"]["total_s"] > 0
        m = r["metrics"]
        assert 0 <= m["mse"] < 0.1 and 0 < m["probe_acc"] <= 1 and 0 <= m["active_units"] <= r["spec"]["latent_dim"]
        if r["spec"]["model"] == "vae":
            assert m["elbo"] <= m["iwae"] < 0 and m["kl"] > 0
            assert m["elbo"] == pytest.approx(-(m["rec_nll"] + m["kl"]))
        if r["spec"]["model"] == "cvae":  # bounds given the label in *_cond; iwae bounds log p(x); no marginal elbo
            assert m["elbo_cond"] <= m["iwae_cond"] < 0 and m["kl_cond"] > 0 and m["iwae"] < 0
            assert m["elbo_cond"] == pytest.approx(-(m["rec_nll_cond"] + m["kl_cond"]))
            assert not {"elbo", "rec_nll", "kl"} & set(m)
        if r["spec"]["model"] == "pca":
            assert "ppca_ll" in m and "elbo" not in m
    assert not list((smoke_out / "runs").glob(".*tmp"))


def test_smoke_science_sanity(smoke_out):
    by = {(r["spec"]["model"], r["spec"]["latent_dim"]): r["metrics"] for r in records(smoke_out)}
    # more latent dimensions reconstruct better, for every model
    for model in ("pca", "ae", "vae"):
        assert by[(model, 8)]["mse"] < by[(model, 2)]["mse"]
    # the CVAE's z carries much less class information than the VAE's (the label is given)
    assert by[("cvae", 8)]["probe_acc"] < by[("vae", 8)]["probe_acc"] - 0.3
    # a plain AE is not a generative model: N(0, I) through its decoder is far worse than a VAE's
    # prior samples, and fitting a Gaussian to its codes repairs much of that
    fid = "fid_samples[digits-mlp]"
    for d in (2, 8):
        assert by[("ae", d)][fid] > 2 * by[("vae", d)][fid]
        assert by[("ae", d)]["fid_samples_fitted[digits-mlp]"] < by[("ae", d)][fid] / 2


def test_table_and_plots(smoke_out):
    rows = list(csv.DictReader((smoke_out / "table.csv").open()))
    assert len(rows) == 8
    assert {"dataset", "model", "latent_dim", "n_seeds", "mse_mean", "mse_std", "elbo_mean", "probe_acc_mean"} <= set(rows[0])
    md = (smoke_out / "table.md").read_text()
    assert "NOT comparable" in md and "| digits | cvae | 2 |" in md
    plots = {p.name for p in (smoke_out / "plots").glob("*.png")}
    for metric in ("mse", "elbo", "iwae", "probe_acc", "active_units"):
        assert f"digits_{metric}.png" in plots
    for kind in ("samples", "recon", "interpolation"):
        assert {f"digits_{m}_z2_{kind}.png" for m in ("pca", "ae", "vae", "cvae")} <= plots
    assert "digits_vae_z2_traversal.png" in plots and "digits_cvae_z2_class_grid.png" in plots
    assert "digits_fid_samples_digits-mlp.png" in plots


def test_rerun_skips_finished_runs_and_report_rebuilds_the_same_table(smoke_out, cli):
    table = (smoke_out / "table.csv").read_text()
    mtimes = {p: p.stat().st_mtime_ns for p in (smoke_out / "runs").iterdir()}
    res = cli("run", "--suite", "smoke", "--out", str(smoke_out))
    assert res.returncode == 0, res.stderr
    assert "0 run(s) finished, 8 skipped" in res.stderr
    assert {p: p.stat().st_mtime_ns for p in (smoke_out / "runs").iterdir()} == mtimes
    (smoke_out / "table.csv").unlink()
    assert cli("report", str(smoke_out)).returncode == 0
    assert (smoke_out / "table.csv").read_text() == table


def test_same_command_twice_gives_bitwise_identical_metrics(tmp_path, cli):
    outs = []
    for name in ("a", "b"):
        out = tmp_path / name
        res = cli("run", "--suite", "smoke", "--models", "pca,cvae", "--latent-dims", "2", "--max-epochs", "4", "--out", str(out), "--quiet")
        assert res.returncode == 0, res.stderr
        outs.append({r["run_id"]: r["metrics"] for r in records(out)})
    assert outs[0] == outs[1] and len(outs[0]) == 2
    names = set(next(iter(outs[0].values())))
    assert {n for n in names if not parse_fid_metric_name(n)} <= set(METRICS)
    assert {"fid_samples[digits-mlp]", "fid_recon[digits-mlp]", "kid_samples[digits-mlp]", "recall_recon[digits-mlp]"} <= names
