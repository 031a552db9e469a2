"""`vaebench recommend`: each criterion on synthetic curves with a known answer, Minka's evidence
against scikit-learn's, and end to end on the `manifold` data set whose latent dim is known."""

from __future__ import annotations

import math

import numpy as np
import pytest

from vaebench.cli import main
from vaebench.report import recommend as rec

DIMS = [1, 2, 4, 8, 16, 32]


def test_one_se_rule_picks_the_smallest_dim_within_one_standard_error():
    means = [0.5, 0.8, 0.95, 1.0, 0.99, 0.98]  # best at 8; se = 0.3 / sqrt(9) = 0.1 -> 4 is within
    assert rec.one_se_rule(DIMS, means, [0.3] * 6, [9] * 6, higher_better=True) == (4, "")
    assert rec.one_se_rule(DIMS, means, [0.03] * 6, [9] * 6, higher_better=True).dim == 8  # se 0.01: only the best
    bpd = [-m for m in means]  # lower-better: the same answer
    assert rec.one_se_rule(DIMS, bpd, [0.3] * 6, [9] * 6, higher_better=False).dim == 4
    # order of the input does not matter
    assert rec.one_se_rule(DIMS[::-1], means[::-1], [0.3] * 6, [9] * 6, higher_better=True).dim == 4


def test_one_se_rule_with_one_seed_degenerates_to_the_best_and_says_so():
    ch = rec.one_se_rule(DIMS, [0.5, 0.8, 0.95, 1.0, 0.99, 0.98], [math.nan] * 6, [1] * 6, higher_better=True)
    assert ch.dim == 8 and "one seed" in ch.note


def test_one_se_rule_with_seeds_of_zero_spread_says_deterministic_not_one_seed():
    """PCA: three seeds, one fit, spread exactly 0."""
    ch = rec.one_se_rule(DIMS, [0.5, 0.8, 0.95, 1.0, 0.99, 0.98], [0.0] * 6, [3] * 6, higher_better=True)
    assert ch.dim == 8 and "deterministic across seeds (3 seeds, spread 0)" in ch.note and "one seed" not in ch.note


def test_active_units_plateau():
    assert rec.active_units_plateau(DIMS, [1, 2, 4, 5, 5, 5.5]) == (8, "")  # 4 -> 8 grows by a full unit: not yet
    assert rec.active_units_plateau(DIMS, [1, 2, 3, 3, 3, 3]).dim == 4
    ch = rec.active_units_plateau(DIMS, DIMS)  # PCA: every unit active, never stops
    assert ch.dim == 32 and "still growing" in ch.note
    # a slow drift (less than one unit per doubling) after the plateau does not move the answer
    assert rec.active_units_plateau(DIMS, [1, 2, 3, 3.5, 4.2, 4.9]).dim == 4


def test_kneedle_finds_the_corner_of_a_piecewise_linear_curve_on_log2_dims():
    dims = [1, 2, 4, 8, 16, 32, 64]
    mse = [4.0, 3.0, 2.0, 1.0, 1.0, 1.0, 1.0]  # linear in log2(d) down to 8, then flat: the knee is 8
    assert rec.kneedle(dims, mse).dim == 8
    # invariant to an affine change of the error scale
    assert rec.kneedle(dims, [0.01 * v + 3 for v in mse]).dim == 8
    assert rec.kneedle(dims, [4.0, 2.0, 1.0, 1.0, 1.0, 1.0, 1.0]).dim == 4
    assert rec.kneedle(dims, [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]).dim is None  # not decreasing
    assert rec.kneedle(dims, [7.0, 6.0, 5.0, 4.0, 3.0, 2.0, 1.0]).dim is None  # a straight line has no knee


def test_reduction_threshold():
    dims, mse = [1, 2, 4, 8, 16], [10.0, 5.0, 2.0, 1.0, 0.0]
    assert rec.reduction_threshold(dims, mse, 0.5).dim == 2
    assert rec.reduction_threshold(dims, mse, 0.8).dim == 4
    assert rec.reduction_threshold(dims, mse, 0.9).dim == 8
    assert rec.reduction_threshold(dims, mse, 0.99).dim == 16
    assert rec.reduction_threshold(dims, [1.0, 1.0, 1.0, 1.0, 1.0], 0.9).dim is None


def test_explained_variance_dim():
    spectrum = [5.0, 3.0, 1.0, 0.5, 0.5]  # cumulative 0.5, 0.8, 0.9, 0.95, 1.0
    assert [rec.explained_variance_dim(spectrum, f).dim for f in (0.5, 0.8, 0.9, 0.95, 0.99)] == [1, 2, 3, 4, 5]


def test_minka_evidence_equals_scikit_learns_and_recovers_the_rank():
    from sklearn.decomposition import PCA
    from sklearn.decomposition._pca import _assess_dimension

    rng = np.random.default_rng(0)
    x = rng.standard_normal((400, 3)) @ rng.standard_normal((3, 20)) * 2 + 0.3 * rng.standard_normal((400, 20))
    spectrum, n = rec.train_spectrum(x)
    ours = rec.minka_log_evidence(spectrum, n)
    theirs = [_assess_dimension(spectrum, r, n) for r in range(1, 20)]
    np.testing.assert_allclose(ours[1:], theirs, rtol=1e-10)
    assert rec.minka_dim(spectrum, n).dim == 3 == PCA(n_components="mle", svd_solver="full").fit(x).n_components_


def _rows(metric, dims, means, stds=None, n=1):
    return [{"latent_dim": d, f"{metric}_mean": m, f"{metric}_std": (stds or [math.nan] * len(dims))[i], "n_seeds": n}
            for i, (d, m) in enumerate(zip(dims, means, strict=True))]


def test_the_likelihood_is_bpd_when_rows_have_it_else_iwae():
    rows = _rows("iwae", DIMS, [-10, -8, -7, -6, -6.5, -7])
    for r, b in zip(rows, [3.0, 2.0, 1.0, 1.5, 1.6, 1.7], strict=True):
        r["bpd_mean"], r["bpd_std"] = b, math.nan
    assert rec.recommend_configuration(rows)["likelihood_1se"].dim == 4  # bpd's best, not iwae's (8)
    assert "on bpd" in rec.recommend_configuration(rows)["likelihood_1se"].note
    for r in rows:
        del r["bpd_mean"]
    ch = rec.recommend_configuration(rows)["likelihood_1se"]
    assert ch.dim == 8 and ch.note.startswith("on iwae")


def test_csv_round_trips_into_plot_marks():
    rows = _rows("iwae", DIMS, [-10, -8, -7, -6, -6.5, -7])
    for r, m in zip(rows, [4.0, 3.0, 2.0, 1.0, 1.0, 1.0], strict=True):
        r["mse_mean"], r["mse_std"] = m, math.nan
    result = {"dataset": "manifold[k=4]", "model": "vae", "protocol": "abcd1234", "dims": DIMS,
              "choices": rec.recommend_configuration(rows)}
    marks = rec.marks_from_csv(rec.to_csv([result]))
    got = {(m["metric"], m["label"].removeprefix("recommend: "), m["latent_dim"]) for m in marks}
    assert ("iwae", "likelihood_1se", 8) in got and ("mse", "mse_knee", 8) in got
    assert all(m["model"] == "vae" and m["protocol"] == "abcd1234" for m in marks)
    assert "| manifold[k=4] | vae |" in rec.to_markdown([result])


# ---------------------------------------------------------------- end to end on `manifold`


def _suite(tmp_path, k, generator, models, dims, epochs=1):
    path = tmp_path / f"s_{k}_{generator}.yaml"
    path.write_text(f"""name: t
datasets: [{{name: manifold, k: {k}, generator: {generator}, n: 1500}}]
models: [{", ".join(models)}]
latent_dims: [{", ".join(map(str, dims))}]
seeds: [0]
protocol: {{optimizer: adam, lr: 0.001, batch_size: 64, max_epochs: {epochs}, patience: 5, iwae_k: 8,
  eval_batch_size: 1000, fid_backbone: none, num_threads: 1}}
""")
    return path


@pytest.mark.parametrize("k", [3, 6])
def test_recommend_recovers_k_for_pca_on_a_linear_manifold(tmp_path, k, capsys):
    out = tmp_path / "r"
    assert main(["run", "--suite", str(_suite(tmp_path, k, "linear", ["pca"], [1, 2, 3, 4, 5, 6, 8, 12])),
                 "--out", str(out), "--wandb", "disabled", "--quiet", "--no-report"]) == 0
    assert main(["recommend", str(out)]) == 0
    import csv

    (line,) = list(csv.DictReader((out / "recommend.csv").open()))
    assert int(line["minka"]) == k  # Minka's evidence: exactly k
    assert int(line["mse_knee"]) == k  # the knee of the reconstruction error
    assert (out / "recommend.md").is_file() and "minka" in capsys.readouterr().out
    assert list((out / "plots").glob("*_mse.png"))  # recommend rebuilt the report with its marks


def test_recommend_refuses_a_sweep_of_fewer_than_three_dims(tmp_path, capsys):
    out = tmp_path / "r"
    assert main(["run", "--suite", str(_suite(tmp_path, 3, "linear", ["pca"], [2, 4])),
                 "--out", str(out), "--wandb", "disabled", "--quiet", "--no-report"]) == 0
    assert main(["recommend", str(out)]) == 2
    err = capsys.readouterr().err
    assert "at least 3 latent dims" in err and "manifold" in err and "pca" in err and "[2, 4]" in err
    assert not (out / "recommend.csv").exists()


def test_recommend_chooses_for_the_swept_configurations_and_names_the_ones_left_out(tmp_path, capsys):
    """A sweep still filling in: PCA at three dims is recommended; the same PCA under another
    protocol (one dim so far) is left out, named in recommend.md and the output."""
    out = tmp_path / "r"
    suite = str(_suite(tmp_path, 3, "linear", ["pca"], [2, 4, 8]))
    assert main(["run", "--suite", suite, "--out", str(out), "--wandb", "disabled", "--quiet", "--no-report"]) == 0
    assert main(["run", "--suite", suite, "--latent-dims", "2", "--set", "protocol.iwae_k=7", "--out", str(out),
                 "--wandb", "disabled", "--quiet", "--no-report"]) == 0
    capsys.readouterr()
    assert main(["recommend", str(out)]) == 0
    printed = capsys.readouterr().out
    import csv

    (line,) = list(csv.DictReader((out / "recommend.csv").open()))
    assert line["model"] == "pca"
    md = (out / "recommend.md").read_text()
    assert "Left out (fewer than 3 latent dims so far" in md and "latent dims [2]" in md and "Left out" in printed


def test_metric_plots_ring_the_marked_points(tmp_path, monkeypatch):
    from vaebench.report import plots

    rows = [{"dataset": "m", "model": "vae", "protocol": "p", "latent_dim": d, "mse_mean": v, "mse_std": math.nan}
            for d, v in zip([1, 2, 4, 8], [4.0, 2.0, 1.0, 1.0], strict=True)]
    drawn = []
    monkeypatch.setattr(plots, "_draw_marks", lambda ax, series, marks: drawn.append(marks))
    mark = {"dataset": "m", "metric": "mse", "model": "vae", "protocol": "p", "latent_dim": 4, "label": "recommend: mse_knee"}
    other = {**mark, "metric": "iwae"}
    assert plots.metric_plots(rows, tmp_path, marks=[mark, other])
    assert drawn == [[mark]]  # the mse figure gets the mse mark only
    monkeypatch.undo()
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    plots._draw_marks(ax, {("vae", "p"): [(4, 1.0, math.nan)]}, [mark, {**mark, "latent_dim": 16}])
    assert len(ax.lines) == 1 and ax.lines[0].get_xydata().tolist() == [[4.0, 1.0]]  # 16 is not on the curve
    assert [t.get_text() for t in ax.texts] == ["mse_knee"]
    plt.close(fig)


def test_the_committed_manifold_results_recover_k(tmp_path):
    """results/manifold (benchmarks/suites/manifold.yaml, one seed): recommend recomputed from its
    records gives the committed recommend.csv, and the criteria that recover k do so. PCA on the
    linear k=3 manifold: likelihood, mse knee and 90/95 %, Minka -> 3. The VAE on the MLP k=4
    manifold: iwae and the mse reduction thresholds -> 4 (active units and the knee do not)."""
    import csv
    import shutil
    from pathlib import Path

    from vaebench.cli.recommend import recommendations

    committed = Path(__file__).resolve().parents[1] / "results" / "manifold"
    shutil.copytree(committed / "runs", tmp_path / "runs")
    fresh = rec.to_csv(recommendations(tmp_path))
    assert fresh == (committed / "recommend.csv").read_text()
    got = {(r["dataset"], r["model"]): r for r in csv.DictReader(fresh.splitlines())}
    pca = got[("manifold[generator=linear,k=3]", "pca")]
    assert [int(pca[c]) for c in ("likelihood_1se", "mse_knee", "mse_90pct", "mse_95pct", "minka")] == [3] * 5
    vae = got[("manifold[k=4]", "vae")]
    assert [int(vae[c]) for c in ("likelihood_1se", "mse_90pct", "mse_95pct", "mse_99pct")] == [4] * 4


@pytest.mark.slow
def test_recommend_recovers_k_for_a_vae_on_an_mlp_manifold(tmp_path):
    """About a minute on 2 loaded CPU cores (4 VAEs): a short-trained VAE on a random-MLP k=2 manifold."""
    import csv

    out = tmp_path / "r"
    assert main(["run", "--suite", str(_suite(tmp_path, 2, "mlp", ["vae"], [1, 2, 3, 4], epochs=15)),
                 "--out", str(out), "--wandb", "disabled", "--quiet", "--no-report"]) == 0
    assert main(["recommend", str(out)]) == 0
    (line,) = list(csv.DictReader((out / "recommend.csv").open()))
    assert int(line["likelihood_1se"]) == 2 and int(line["mse_90pct"]) == 2, line
