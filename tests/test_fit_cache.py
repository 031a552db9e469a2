"""A PCA is fitted once per configuration: the seeds of a sweep share the fit and change only
the sampling-based metrics, which the record names."""

import json

from vaebench.config import load_suite, with_overrides
from vaebench.models.pca import PCAModel
from vaebench.runner import fit_cache
from vaebench.runner.sweep import run_suite

DETERMINISTIC = ("mse", "ppca_ll", "probe_acc", "active_units", "fid_recon[digits-mlp]", "precision_recon[digits-mlp]",
                 "recall_recon[digits-mlp]", "density_recon[digits-mlp]", "coverage_recon[digits-mlp]")
MEASURES = ("fid", "kid", "kid_std", "precision", "recall", "density", "coverage")


def test_three_seed_pca_sweep_fits_once_per_latent_dim(tmp_path, monkeypatch):
    fits = []
    real_fit = PCAModel.fit
    monkeypatch.setattr(PCAModel, "fit", lambda self, x: fits.append(self.latent_dim) or real_fit(self, x))
    fit_cache.clear()
    suite = with_overrides(load_suite("smoke"), ["digits"], ["pca"], [2, 3], [0, 1, 2], None)
    summary = run_suite(suite, tmp_path, quiet=True)
    assert summary.finished == 6
    assert sorted(fits) == [2, 3]  # one fit per (data, latent dim), not one per seed
    records = [json.loads(p.read_text()) for p in (tmp_path / "runs").glob("*.json")]
    for dim in (2, 3):
        recs = sorted((r for r in records if r["spec"]["latent_dim"] == dim), key=lambda r: r["spec"]["seed"])
        assert [r["spec"]["seed"] for r in recs] == [0, 1, 2]
        for name in DETERMINISTIC:
            assert len({r["metrics"][name] for r in recs}) == 1, name  # bitwise the same
        for r in recs:
            sampled = {f"{m}_{s}[digits-mlp]" for m in MEASURES for s in ("samples", "samples_fitted", "samples_gmm")}
            assert r["seed_changes"] == sorted(sampled | {"kid_recon[digits-mlp]", "kid_std_recon[digits-mlp]"})
            assert r["dataset"]["num_classes"] == 10
        for name in recs[0]["seed_changes"]:  # and the seed does change the continuous ones of the samples
            if name.startswith(("fid_samples", "kid_samples")):
                assert len({r["metrics"][name] for r in recs}) == 3, name


def test_a_reused_fit_equals_a_fresh_one_and_is_not_shared_state(digits):
    fit_cache.clear()
    a, b = PCAModel(digits.image_shape, 4), PCAModel(digits.image_shape, 4)
    assert fit_cache.fit_closed_form(a, digits) is False
    assert fit_cache.fit_closed_form(b, digits) is True
    fresh = PCAModel(digits.image_shape, 4).fit(digits.train_x)
    for attr in ("mean", "components", "eigenvalues", "W"):
        assert getattr(b, attr).equal(getattr(fresh, attr))
    assert b.noise_variance == fresh.noise_variance
    b.mean += 1.0  # a run that mutated its copy leaves the cache (and other runs) untouched
    c = PCAModel(digits.image_shape, 4)
    fit_cache.fit_closed_form(c, digits)
    assert c.mean.equal(fresh.mean) and not c.mean.equal(b.mean)
    # another latent dim is another configuration
    assert fit_cache.fit_closed_form(PCAModel(digits.image_shape, 5), digits) is False
    assert fit_cache.stats == {"fits": 2, "reuses": 2}


def test_two_subsamples_of_one_data_set_do_not_share_a_fit(digits):
    """Subsamples keep their data set's checksum (dSprites' `subsample`): the rows decide."""
    import dataclasses

    fit_cache.clear()
    a = dataclasses.replace(digits, train_x=digits.train_x[:600])
    b = dataclasses.replace(digits, train_x=digits.train_x[600:1200])
    ma, mb = PCAModel(digits.image_shape, 3), PCAModel(digits.image_shape, 3)
    assert fit_cache.fit_closed_form(ma, a) is False and fit_cache.fit_closed_form(mb, b) is False
    assert mb.mean.equal(PCAModel(digits.image_shape, 3).fit(b.train_x).mean) and not mb.mean.equal(ma.mean)
