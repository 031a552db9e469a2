"""FID backbones are checked before the first run: a data set that no shipped classifier (and no
Inception) can measure is an error before any training when the protocol names a backbone, and a
recorded skip (no FID columns, never a failure after training) with `auto`."""

from __future__ import annotations

import dataclasses
import json

import pytest

from vaebench.config import parse_suite
from vaebench.errors import UserError
from vaebench.metrics.fid_backbone import fid_unavailable, shipped_classifier_id
from vaebench.runner.sweep import run_suite


@pytest.fixture
def unmeasured(monkeypatch, digits):
    """digits under another name: no FID classifier is shipped for it."""
    from vaebench.data import registry

    monkeypatch.setenv("VAEBENCH_OFFLINE", "1")
    renamed = dataclasses.replace(digits, name="unmeasured")
    monkeypatch.setitem(registry.DATASETS, "unmeasured", registry.Dataset(lambda data_root=None: renamed))
    return renamed


def _suite(dataset: str, backbone: str):
    return parse_suite({"name": "t", "datasets": [dataset], "models": ["pca"], "latent_dims": [2], "seeds": [0],
                        "protocol": {"fid_backbone": backbone, "fid_samples": 100}})


def test_the_shipped_classifier_is_found_only_for_its_own_data(digits, unmeasured):
    assert shipped_classifier_id(digits) == "digits-mlp"
    assert fid_unavailable(digits, "classifier") is None
    assert shipped_classifier_id(unmeasured) is None
    assert "no shipped FID classifier for dataset 'unmeasured'" in fid_unavailable(unmeasured, "classifier")
    assert fid_unavailable(unmeasured, "none") is None


def test_a_named_backbone_that_cannot_measure_the_data_fails_before_any_run(unmeasured, tmp_path):
    with pytest.raises(UserError, match="protocol.fid_backbone classifier cannot measure unmeasured"):
        run_suite(_suite("unmeasured", "classifier"), tmp_path / "out", quiet=True)
    assert not list((tmp_path / "out").glob("runs/*.json"))


def test_auto_without_a_backbone_records_the_skip_and_no_fid_columns(unmeasured, digits, tmp_path):
    run_suite(_suite("unmeasured", "auto"), tmp_path / "a", quiet=True)
    (record,) = [json.loads(p.read_text()) for p in (tmp_path / "a").glob("runs/*.json")]
    assert record["status"] == "ok"
    assert "no shipped FID classifier" in record["fid_protocol"]["skipped"]
    assert not [m for m in record["metrics"] if m.startswith("fid")]
    run_suite(_suite("digits", "auto"), tmp_path / "b", quiet=True)  # the shipped classifier measures digits
    (record,) = [json.loads(p.read_text()) for p in (tmp_path / "b").glob("runs/*.json")]
    assert "fid_samples[digits-mlp]" in record["metrics"]
