"""Per-epoch losses in the record (`curves`), from the EpochCurves callback."""

from __future__ import annotations

import math

import pytest

from vaebench.config import expand, load_suite, with_overrides
from vaebench.runner.sweep import run_one
from vaebench.store import validate_record


def test_a_trained_run_records_its_per_epoch_losses(digits):
    suite = with_overrides(load_suite("smoke"), models=["vae"], latent_dims=[2], seeds=[0], max_epochs=3,
                           sets=["protocol.figure_latent_dims=[]", "protocol.fid_backbone=none"])
    (spec,) = expand(suite)
    record, _ = run_one(spec, digits)
    curves = record["curves"]
    assert curves["epoch"] == [0, 1, 2] and len(curves["train_loss"]) == len(curves["val_loss"]) == 3
    assert all(math.isfinite(v) for v in curves["train_loss"] + curves["val_loss"])
    assert min(curves["val_loss"]) == pytest.approx(record["train"]["best_val_loss"])  # the same validation loss
    assert curves["train_loss"][-1] < curves["train_loss"][0]
    validate_record(record, "fresh record")


def test_pca_has_no_curves(digits):
    (spec,) = expand(with_overrides(load_suite("smoke"), models=["pca"], latent_dims=[2], seeds=[0],
                                    sets=["protocol.figure_latent_dims=[]", "protocol.fid_backbone=none"]))
    record, _ = run_one(spec, digits)
    assert "curves" not in record
