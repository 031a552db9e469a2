"""dSprites in the pipeline: uint8 splits with ground truth, the 64x64 network, the
disentanglement evaluation (by grid index, equal to encoding every draw), the traversal
figure and the bar charts."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from vaebench.config import Protocol, RunSpec, available_suites, load_suite
from vaebench.data.base import pixels
from vaebench.data.dsprites import load_dsprites_splits
from vaebench.data.dsprites_render import FACTOR_SIZES, DSprites, index_to_factors
from vaebench.metrics.disentanglement import evaluate_all
from vaebench.models.registry import resolve_model
from vaebench.runner.disentanglement import EncodedGrid


@pytest.fixture(scope="module")
def small():
    return load_dsprites_splits(subsample=6000)


def test_splits_are_uint8_disjoint_and_labelled_by_shape(small):
    assert small.train_x.dtype == torch.uint8 and small.image_shape == (1, 64, 64)
    assert set(torch.unique(small.train_x).tolist()) == {0, 255}
    x = pixels(small.test_x[:5])
    assert x.dtype == torch.float32 and set(torch.unique(x).tolist()) == {0.0, 1.0}
    assert len(small.val_x) == len(small.test_x) == 81 and len(small.train_x) == 6000 - 162
    assert small.num_classes == 3 and set(small.train_y.tolist()) == {0, 1, 2}
    assert isinstance(small.ground_truth, DSprites)
    # labels are the shape factor of the image actually stored
    first = small.ground_truth.images(np.arange(1))  # a square at grid index 0
    assert first.shape == (1, 64, 64)


def test_full_grid_split_sizes_match_the_documentation():
    from vaebench.data.base import fixed_split

    train, val, test = fixed_split(int(np.prod(FACTOR_SIZES)), 10_000, 10_000)
    assert (len(train), len(val), len(test)) == (717_280, 10_000, 10_000)
    shapes = index_to_factors(train[:: 1000])[:, 0]
    assert set(shapes.tolist()) == {0, 1, 2}


def _linear_rep(seed=0, k=6):
    w = np.random.RandomState(seed).randn(64 * 64, k)

    def rep(obs):
        return obs.reshape(len(obs), -1) @ w

    return rep


def test_encoded_grid_scores_equal_encoding_every_draw():
    ds = DSprites()
    rep = _linear_rep()
    kw = dict(random_state=3, num_train=300, num_test=200, n_jobs=1,
              beta_vae={"num_train": 60, "num_eval": 30, "batch_size": 8},
              factor_vae={"num_train": 60, "num_eval": 30, "batch_size": 8, "num_variance_estimate": 300})
    direct = evaluate_all(ds, rep, **kw)
    grid = EncodedGrid(ds, rep)
    cached = evaluate_all(grid, grid.representation, **kw)
    assert cached == direct
    assert grid.draws > grid.known.sum() > 0  # some draws repeat an index


def test_dsprites_network_is_disentanglement_libs_conv_net():
    from vaebench.models.networks import Decoder, Encoder

    enc, dec = Encoder((1, 64, 64), 20), Decoder(10, (1, 64, 64))
    convs = [m for m in enc.body if isinstance(m, torch.nn.Conv2d)]
    assert [(c.out_channels, c.kernel_size, c.stride) for c in convs] == [(w, (4, 4), (2, 2)) for w in (32, 32, 64, 64)]
    assert [m.out_features for m in enc.head if isinstance(m, torch.nn.Linear)] == [256, 20]
    assert [m.out_features for m in dec.head if isinstance(m, torch.nn.Linear)] == [256, 1024]
    deconvs = [m for m in dec.body if isinstance(m, torch.nn.ConvTranspose2d)]
    assert [d.out_channels for d in deconvs] == [64, 32, 32, 1]
    assert dec(torch.zeros(2, 10)).shape == (2, 1, 64, 64)


def test_disentanglement_suite_is_the_issue_protocol():
    suite = load_suite("disentanglement")
    assert [str(d) for d in suite.datasets] == ["dsprites"] and suite.latent_dims == (10,) and suite.seeds == (0, 1, 2)
    # disentanglement_lib's six methods over the study's grids (Locatello et al. 2019, Table 2)
    grids = {}
    for m in suite.models:
        grids.setdefault(m.name, []).append(m.params_dict())
    assert list(grids) == ["pca", "ae", "beta_vae", "annealed_vae", "factor_vae", "dip_vae_i", "dip_vae_ii", "beta_tcvae"]
    assert [g["beta"] for g in grids["beta_vae"]] == [1, 2, 4, 6, 8, 16]
    assert [g["c_max"] for g in grids["annealed_vae"]] == [5, 10, 25, 50, 75, 100]
    assert {(g["gamma"], g["anneal_steps"]) for g in grids["annealed_vae"]} == {(1000, 100_000)}
    assert [g["gamma"] for g in grids["factor_vae"]] == [10, 20, 30, 40, 50, 100]
    for dip, factor in (("dip_vae_i", 10), ("dip_vae_ii", 1)):
        assert [g["lambda_od"] for g in grids[dip]] == [1, 2, 5, 10, 20, 50]
        assert {g["lambda_d_factor"] for g in grids[dip]} == {factor}
    assert [g["beta"] for g in grids["beta_tcvae"]] == [1, 2, 4, 6, 8, 10]
    p = suite.protocol
    assert (p.lr, p.batch_size, p.max_steps, p.fid_backbone) == (1e-4, 64, 300_000, "none")
    # the shipped suite measures DCI with disentanglement_lib's reference estimator (the README's claim)
    assert p.dci_estimator == "gbt"


# The shipped data sets without ground-truth factors (no disentanglement scores are computed).
NO_FACTORS = {"digits", "fashion_mnist", "mnist", "cifar10", "svhn", "celeba64", "manifold"}


def test_no_published_suite_measures_dci_with_the_fast_estimator():
    """The fast DCI estimator's scores differ from the reference by more than run-to-run noise
    (docs/disentanglement.md), so a published suite that scores disentanglement uses gbt."""
    for name in available_suites():
        suite = load_suite(name)
        if suite.protocol.dci_estimator != "gbt":
            assert {d.name for d in suite.datasets} <= NO_FACTORS, name


def test_protocol_fields_added_later_leave_existing_run_ids_alone():
    d = Protocol().to_dict()
    for key in ("max_steps", "steps_per_epoch", "dci_estimator", "disentanglement_sample_scale"):
        assert key not in d
    spec = RunSpec("s", "digits", resolve_model("vae", {}), 2, 0, Protocol())
    assert RunSpec("s", "digits", resolve_model("vae", {}), 2, 0, dataclasses.replace(Protocol(), max_steps=5)).run_id != spec.run_id


@pytest.mark.parametrize("model", ["vae", "pca"])
def test_a_dsprites_run_records_the_six_scores_and_a_traversal(small, model):
    from vaebench.runner.sweep import run_one
    from vaebench.runner.train import Launch

    protocol = Protocol(lr=1e-3, batch_size=64, max_epochs=2, max_steps=30, steps_per_epoch=15, patience=0, iwae_k=2,
                        fid_backbone="none", disentanglement_sample_scale=0.01, figure_latent_dims=(4,), num_threads=1)
    spec = RunSpec("t", "dsprites", resolve_model(model, {}), 4, 0, protocol)
    record, visuals = run_one(spec, small, Launch("cpu", 1))
    assert record["status"] == "ok"
    m = record["metrics"]
    for key in ("mig", "dci_disentanglement", "dci_completeness", "sap", "modularity", "beta_vae_eval_accuracy", "factor_vae_eval_accuracy"):
        assert np.isfinite(m[key]), key
    if model == "vae":
        assert record["train"]["steps"] == 30 and "elbo" in m
    dp = record["disentanglement_protocol"]
    assert dp["beta_vae"] == {"num_train": 100, "num_eval": 50} and dp["dci_estimator"] == "fast"
    assert 0 < dp["distinct_images_encoded"] <= dp["observations_drawn"]
    assert "factor_vae_num_active_dims" in dp["extra"]
    assert visuals["latent_traversal"].shape == (4, 10, 1, 64, 64)


def test_official_file_under_data_root_is_used_and_a_bad_one_is_a_clear_error(tmp_path, cli):
    from vaebench.data.dsprites_render import OFFICIAL_FILENAME
    from vaebench.data.registry import dataset_status
    from vaebench.errors import DataError

    assert dataset_status("dsprites", tmp_path)[1].startswith("rendered procedurally")
    (tmp_path / "dsprites").mkdir()
    (tmp_path / "dsprites" / OFFICIAL_FILENAME).write_bytes(b"not an npz")
    assert dataset_status("dsprites", tmp_path)[1].endswith(OFFICIAL_FILENAME)
    with pytest.raises(DataError, match="cannot be used"):
        load_dsprites_splits(tmp_path)
    res = cli("run", "--suite", "disentanglement", "--data-root", str(tmp_path), "--out", str(tmp_path / "out"))
    assert res.returncode == 2 and "cannot be used" in res.stderr and "Traceback" not in res.stderr
