"""Every registered model runs in a suite, fills the columns its kind defines, and goes
through `compare`: one short digits sweep over the whole registry (new models are covered by
registering them)."""

from __future__ import annotations

import math

import pytest
import yaml

from vaebench.models.registry import MODELS, model_class
from vaebench.store import load_records


@pytest.fixture(scope="module")
def every_model_run(tmp_path_factory):
    from tests.conftest import run_cli

    tmp = tmp_path_factory.mktemp("every_model")
    suite = {
        "name": "every_model",
        "description": "every registered model, a few steps on digits",
        "datasets": ["digits"],
        "models": list(MODELS),
        "latent_dims": [2],
        "seeds": [0],
        "protocol": {"optimizer": "adam", "lr": 0.003, "batch_size": 64, "max_epochs": 2, "max_steps": 6,
                     "patience": 10, "iwae_k": 4, "eval_batch_size": 1000, "fid_backbone": "classifier",
                     "num_threads": 1, "figure_latent_dims": []},
    }
    path = tmp / "every_model.yaml"
    path.write_text(yaml.safe_dump(suite))
    res = run_cli("run", "--suite", str(path), "--out", str(tmp / "out"), "--quiet", "--wandb", "disabled")
    assert res.returncode == 0, res.stderr[-3000:]
    return tmp / "out"


def _kind(name: str) -> str:
    cls = model_class(name)
    if hasattr(cls, "bound_terms"):
        return "cvae" if getattr(cls, "conditional", False) else "bound"
    return "pca" if name == "pca" else "deterministic"


@pytest.mark.parametrize("name", list(MODELS))
def test_every_model_trains_evaluates_and_fills_its_columns(every_model_run, name):
    (rec,) = [r for r in load_records(every_model_run) if r["spec"]["model"] == name]
    m = rec["metrics"]
    for key in ("mse", "probe_acc", "active_units"):
        assert math.isfinite(m[key]), (name, key)
    assert any(k.startswith("fid_samples[") for k in m) and any(k.startswith("fid_recon[") for k in m)
    kind = _kind(name)
    if kind == "bound":  # a posterior and a prior: the ELBO and the k-sample bound, iwae >= elbo up to noise
        assert math.isfinite(m["elbo"]) and math.isfinite(m["iwae"])
        assert "ppca_ll" not in m and "elbo_cond" not in m
    elif kind == "cvae":
        assert "elbo" not in m and math.isfinite(m["iwae"]) and math.isfinite(m["elbo_cond"])
    elif kind == "pca":
        assert math.isfinite(m["ppca_ll"]) and math.isfinite(m["bpd"]) and "elbo" not in m
    else:  # no likelihood bound: the bound columns stay empty
        assert not {"elbo", "iwae", "bpd", "ppca_ll"} & set(m), sorted(m)


def test_every_model_goes_through_compare(every_model_run, cli):
    res = cli("compare", str(every_model_run), str(every_model_run))
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    for name in MODELS:
        assert name in res.stdout
