"""The sweep's expected time: each run's work, the measured rates, and an ETA on work left."""

import io
import re

import pytest
from rich.console import Console

from vaebench.config import Protocol, RunSpec, parse_model
from vaebench.runner.estimate import (
    Estimate,
    Rates,
    estimate,
    format_seconds,
    run_seconds,
    run_work,
)
from vaebench.runner.progress import SweepProgress, eta_seconds


def spec(model="vae", **protocol):
    return RunSpec("t", "digits", parse_model(model), 2, 0, Protocol(**protocol))


def test_run_work_counts_images_of_whole_epochs_steps_and_resumed_runs(digits):
    n_train, n_val, n_test = len(digits.train_x), len(digits.val_x), len(digits.test_x)
    assert (n_train, n_val, n_test) == (1257, 180, 360)
    w = run_work(spec(max_epochs=3, batch_size=100), digits)  # 13 steps per epoch (the last one short)
    assert (w.train_images, w.val_images, w.test_images, w.epochs) == (3 * 13 * 100, 3 * 180, 360, 3)
    w = run_work(spec(max_epochs=50, batch_size=100, max_steps=20), digits)  # max_steps ends it in epoch 2
    assert (w.train_images, w.val_images, w.epochs) == (2000, 2 * 180, 2)
    w = run_work(spec(max_epochs=3, batch_size=100), digits, epochs_done=2)
    assert (w.train_images, w.val_images, w.epochs) == (13 * 100, 180, 1)
    w = run_work(spec(max_epochs=3, batch_size=100, steps_per_epoch=5), digits)
    assert (w.train_images, w.epochs) == (1500, 3)


def test_run_seconds_is_rates_times_work(digits):
    """Training (steps x batch, validation per epoch), evaluation (reconstructions, the bound pass,
    the probe's encoding and fit of the train split), FID (each sample source decoded and
    featurised, the reconstructions featurised, the code mixture's fit) and the sample metrics
    beyond it, each rate times its images (or pairs)."""
    rates = Rates(train=1e-3, forward=2e-4, bound=5e-3, encode=1e-4, reconstruct=3e-4, probe=2e-5)
    s = spec(max_epochs=2, batch_size=100)
    n_train, n_test = 1257, 360
    evaluation = 3e-4 * n_test + 5e-3 * n_test + (1e-4 + 2e-5) * n_train
    expected = 1.0 + 1e-3 * 2 * 13 * 100 + 2e-4 * 2 * 180 + evaluation
    assert run_seconds(s, digits, rates) == pytest.approx(expected)
    with_fid = Rates(**{**rates.__dict__, "decode": 1e-4, "features": 4e-4, "fid_sources": 3, "mixture": 1e-5})
    fid = 3 * n_test * (1e-4 + 4e-4) + n_test * 4e-4 + 1e-5 * n_train
    assert run_seconds(s, digits, with_fid) == pytest.approx(expected + fid)
    # the sample metrics beyond FID, per source (3 sample sources + the reconstructions): the
    # samples' own k-NN radii and their distances to the test split, then KID's fixed subsets
    with_more = Rates(**{**with_fid.__dict__, "pair": 2e-8, "kid": 0.5})
    more = 4 * (2e-8 * (n_test * n_test + n_test * n_test) + 0.5)
    assert run_seconds(s, digits, with_more) == pytest.approx(expected + fid + more)
    pca = Rates(0, 0, 0, fit=1e-4, fit_const=0.5)
    assert run_seconds(spec("pca"), digits, pca) == pytest.approx(0.5 + 1e-4 * n_train)


def test_estimate_measures_each_network_once_and_leaves_the_random_stream_alone(digits):
    import torch

    runs = [spec("vae", max_epochs=2), spec("pca"), RunSpec("t", "digits", parse_model("vae"), 8, 1, Protocol(max_epochs=2))]
    torch.manual_seed(123)
    before = torch.rand(3)
    torch.manual_seed(123)
    plan = estimate(runs, {runs[0].dataset_spec: digits}, "cpu")  # keyed like the sweep's data: by dataset spec
    assert torch.equal(torch.rand(3), before)
    assert plan.device == "cpu" and plan.unknown == 0 and len(plan.seconds) == 3
    vae2, pca, vae8 = (plan.seconds[r.run_id] for r in runs)
    assert vae2 == vae8 > pca > 0  # one measurement per (dataset, model); PCA's fit is quick
    assert 0 < plan.total < 600


def test_a_long_cpu_sweep_gets_the_hint():
    short = Estimate({"a": 10.0}).summary()
    assert "0:00:10 for 1 run(s)" in short and "GPU" not in short
    long = Estimate({"a": 86_400.0 + 3 * 3600, "b": None}).summary()
    assert "1 day 3:00:00" in long and "1 not measurable" in long and "GPU" in long and "smoke" in long
    assert "--accelerator" not in Estimate({"a": 90_000.0}, device="GPU").summary()
    assert format_seconds(59.6) == "0:01:00" and format_seconds(2 * 86_400) == "2 days 0:00:00"


def test_eta_is_work_left_not_runs_left():
    """The issue's case: 18 quick PCA runs first, then 54 long trainings. Finishing the PCA
    runs (1% of the work) in the time the estimate expected must leave the day, not minutes."""
    runs = [f"pca{i}" for i in range(18)] + [f"net{i}" for i in range(54)]
    plan = Estimate({r: (5.0 if r.startswith("pca") else 1600.0) for r in runs})
    bar = SweepProgress(Console(file=io.StringIO()), "latent_dim", len(runs), enabled=True, plan=plan)
    with bar:
        bar.plan_runs(runs)
        for r in runs[:18]:
            bar.start(r)
            bar.finish({"run_id": r, "status": "ok", "metrics": {}, "times": {"total_s": 5.0}})
        assert bar.work_done == pytest.approx(90.0) and bar.work_total == pytest.approx(90 + 54 * 1600)
        bar.started -= 90  # 90 s have passed: as expected
        assert eta_seconds(bar.work_total, bar.work_done, 90.0) == pytest.approx(54 * 1600)
        assert bar.eta() == pytest.approx(54 * 1600, rel=0.01)
        # counting runs, as before, would have said 54/18 x 90 s = 4.5 minutes
        bar.start("net0")
        bar.within_run(0.5)  # half its steps trained: the sweep moves within a long run
        assert bar.work_done == pytest.approx(90 + 0.9 * 0.5 * 1600)
    # the line printed when the 18th run finished (instantly here: faster than expected, so
    # the ETA is scaled down, but by the prior-weighted speed, not to minutes)
    last = [line for line in bar.console.file.getvalue().splitlines() if line.startswith("[18/72]")][-1]
    hours = re.search(r"\(ETA (\d+):\d\d:\d\d\)$", last)
    assert last.startswith("[18/72] pca17") and hours and int(hours.group(1)) >= 18, last


def test_eta_corrects_the_estimate_by_observed_speed():
    # twice as slow as measured, after long enough to outweigh the prior
    assert eta_seconds(10_000, 3000, 6000) == pytest.approx(7000 * 6300 / 3300)
    assert eta_seconds(100, 100, 50) == 0
    # nothing done yet: the estimate itself
    assert eta_seconds(1000, 0, 0) == pytest.approx(1000)


def test_estimate_check_benchmark_runs_a_suite_and_reports_the_ratio(tmp_path):
    """benchmarks/estimate_check.py end to end on a digits suite of two runs."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    suite = tmp_path / "tiny.yaml"
    suite.write_text("name: tiny\ndatasets: [digits]\nmodels: [pca, {name: cvae, likelihood: continuous_bernoulli}]\n"
                     "latent_dims: [2]\nseeds: [0]\nprotocol: {max_steps: 5, iwae_k: 4, num_threads: 1, fid_backbone: none}\n")
    script = Path(__file__).resolve().parents[1] / "benchmarks" / "estimate_check.py"
    out = tmp_path / "out.json"
    done = subprocess.run([sys.executable, str(script), str(suite), "--out", str(tmp_path / "runs"), "--json", str(out)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    result = json.loads(out.read_text())
    assert result["runs"] == 2 and result["estimate_s"] > 0 and result["wall_s"] > 0
    assert "estimate / wall" in done.stdout
    again = subprocess.run([sys.executable, str(script), str(suite), "--out", str(tmp_path / "runs")],
                           capture_output=True, text=True, timeout=300)
    assert again.returncode == 2 and "not empty" in again.stderr


def test_the_sample_metric_rates_scale_with_feature_pairs():
    """Timed at 2,000 features a set; the per-pair cost at 10,000 was measured within 17 % of it
    (CPU seconds, one thread), so pairs x rate is the model; KID's cost is its subsets'."""
    import torch

    from vaebench.runner.estimate import _sample_metric_rates

    pair, kid = _sample_metric_rates(128, 10_000, 10_000, torch.Generator().manual_seed(0))
    assert 0 < pair < 1e-5 and 0 < kid < 600
    assert _sample_metric_rates(128, 5, 5, torch.Generator().manual_seed(0)) == (0.0, 0.0)  # too few for k = 5
