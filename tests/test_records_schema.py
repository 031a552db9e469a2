"""Run records are validated against one JSON Schema (vaebench/schemas/run_record.schema.json)
where they are read: a wrong type or a missing field is exit 2 naming the file and the field,
never a traceback; every committed record and every record the writer produces validates."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path

import jsonschema
import pytest

from vaebench.cli import main as vaebench_main
from vaebench.config import ModelSpec, Protocol, RunSpec
from vaebench.errors import UserError
from vaebench.store import RECORD_SCHEMA, RunStore, load_records, record_validator

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "vaebench" / RECORD_SCHEMA


def good_record(seed: int = 0) -> dict:
    spec = RunSpec("synthetic", "digits", ModelSpec("vae", (("beta", 1.0),)), 2, seed, Protocol(max_epochs=5))
    return {
        "schema_version": 1, "run_id": spec.run_id, "spec": spec.to_dict(), "status": "ok",
        "dataset": {"name": "digits", "checksum": "c0ffee", "n_train": 10, "n_val": 2, "n_test": 3},
        "metrics": {"elbo": -25.0, "iwae": -24.8, "mse": 0.04, "active_units": 2, "probe_acc": 0.7},
        "provenance": {"versions": {}, "git_sha": None, "device": "cpu"},
        "times": {"train_s": 1.0, "eval_s": 0.5, "total_s": 1.5},
    }


def write(folder: Path, *records: dict) -> Path:
    runs = folder / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    for i, r in enumerate(records):
        (runs / f"{r.get('run_id', 'x')}-{i}.json").write_text(json.dumps(r))
    return folder


def test_the_schema_file_is_a_valid_json_schema_shipped_with_the_package():
    schema = json.loads(SCHEMA.read_text())
    jsonschema.validators.validator_for(schema).check_schema(schema)
    assert "schemas/*.json" in (ROOT / "pyproject.toml").read_text()  # shipped as package data
    assert record_validator().schema == schema


@pytest.mark.parametrize("folder", sorted(p.parent.name for p in (ROOT / "results").glob("*/runs")))
def test_every_committed_record_validates(folder):
    records = load_records(ROOT / "results" / folder)
    assert records
    for r in records:
        r.pop("_path")
        record_validator().validate(r)


def test_records_from_the_writer_validate_including_nan_and_null(tmp_path):
    """RunStore writes NaN as a bare NaN (json's default); a reader gets a float NaN back."""
    rec = good_record()
    rec["metrics"].update(ppca_ll=math.nan, fid_recon=math.inf, iwae=None)
    RunStore(tmp_path).write(rec)
    assert "NaN" in next((tmp_path / "runs").glob("*.json")).read_text()
    (loaded,) = load_records(tmp_path)
    assert math.isnan(loaded["metrics"]["ppca_ll"]) and loaded["metrics"]["iwae"] is None
    diverged = {**good_record(1), "status": "diverged", "metrics": {}, "diverged_at_step": 3, "diverged_value": "nan"}
    RunStore(tmp_path).write(diverged)
    assert len(load_records(tmp_path)) == 2


def test_optional_identity_fields_and_any_metric_name_are_allowed(tmp_path):
    rec = good_record()
    rec["spec"].update(model_label="vae[beta=8]", protocol_id="0123abcd", dataset_label="manifold[k=5]",
                       dataset_params={"k": 5})
    rec["metrics"].update({"elbo_cond": -20.0, "iwae_cond": -19.5, "bpd": 1.2, "fid_samples[digits-cnn]": 3.0})
    rec["future_field"] = {"anything": [1, 2]}
    write(tmp_path, rec)
    assert load_records(tmp_path)[0]["spec"]["model_label"] == "vae[beta=8]"


def _broken(path: list, value=None, delete=False) -> dict:
    rec = copy.deepcopy(good_record())
    target = rec
    for part in path[:-1]:
        target = target[part]
    if delete:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return rec


@pytest.mark.parametrize(
    "path, value, delete, message",
    [
        (["metrics", "elbo"], "abc", False, "metrics.elbo: 'abc' is not of type 'number', 'null'"),
        (["metrics", "mse"], [0.1], False, "metrics.mse: [0.1] is not of type"),
        (["spec", "latent_dim"], None, True, "spec: 'latent_dim' is a required property"),
        (["spec", "latent_dim"], "2", False, "spec.latent_dim: '2' is not of type 'integer'"),
        (["spec", "model_label"], 8, False, "spec.model_label: 8 is not of type 'string'"),
        (["spec", "protocol_id"], "not hex!", False, "spec.protocol_id: 'not hex!' does not match"),
        (["spec", "protocol"], "fast", False, "spec.protocol: 'fast' is not of type 'object'"),
        (["status"], "done", False, "status: 'done' is not one of ['ok', 'diverged']"),
        (["metrics"], None, True, "'metrics' is a required property"),
    ],
)
def test_a_bad_record_is_exit_2_naming_file_and_field(capsys, tmp_path, path, value, delete, message):
    """Failed before: `report` on a string metric or a missing spec field printed a traceback."""
    folder = write(tmp_path / "res", good_record(1), _broken(path, value, delete))
    bad = sorted((folder / "runs").glob("*-1.json"))[0]
    with pytest.raises(UserError) as info:
        load_records(folder)
    assert str(info.value).startswith(f"{bad}: {message}"), info.value
    assert vaebench_main(["report", str(folder)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {bad}: {message}") and err.count("\n") == 1
    assert not (folder / "table.csv").exists()  # fails closed: nothing written from a bad folder
    assert vaebench_main(["compare", str(folder), str(folder)]) == 2
    assert str(bad) in capsys.readouterr().err


def test_several_problems_are_counted(tmp_path):
    rec = _broken(["metrics", "elbo"], "abc")
    rec["spec"]["seed"] = "zero"
    write(tmp_path, rec)
    with pytest.raises(UserError, match=r"\(and 1 more problem\)"):
        load_records(tmp_path)


def test_atomic_writes_make_files_readable_like_any_other(tmp_path):
    """mkstemp creates 0600 files; results (records, tables, the site) must be readable by others
    as a plain write would make them (0666 less the umask)."""
    import os

    from vaebench.store import atomic_write_text

    mask = os.umask(0o022)
    os.umask(mask)
    path = tmp_path / "table.md"
    atomic_write_text(path, "x\n")
    assert path.stat().st_mode & 0o777 == 0o666 & ~mask
