"""A table row is one configuration: dataset (with its parameters), model (with its non-default
parameters), latent dim and protocol. Records that differ in any of these never share a row (a
shared row would average them: mean and std of two different things)."""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import json

from vaebench.config import Protocol, RunSpec
from vaebench.models.registry import resolve_model
from vaebench.report.table import build_rows, to_csv, to_markdown

EXAMPLE = "examples.wide_decoder_vae:WideDecoderVAE"


def record(spec: RunSpec, elbo: float, status: str = "ok") -> dict:
    return {"run_id": spec.run_id, "spec": spec.to_dict(), "status": status,
            "metrics": {"elbo": elbo} if status == "ok" else {}}


def spec(model="vae", params=None, seed=0, protocol=None, dim=2) -> RunSpec:
    return RunSpec("t", "digits", resolve_model(model, params or {}), dim, seed, protocol or Protocol())


def test_beta_1_and_beta_8_are_two_rows():
    rows = build_rows([record(spec(params={"beta": 1.0}), -10.0), record(spec(params={"beta": 8.0}), -30.0)])
    assert [(r["model"], r["n_seeds"], r["elbo_mean"]) for r in rows] == [("vae", 1, -10.0), ("vae[beta=8]", 1, -30.0)]


def test_two_protocols_are_two_rows_and_the_legend_spells_out_each():
    short = Protocol(max_epochs=5)
    rows = build_rows([record(spec(protocol=Protocol()), -10.0), record(spec(protocol=short), -30.0)])
    assert len(rows) == 2 and len({r["protocol"] for r in rows}) == 2
    assert sorted(r["elbo_mean"] for r in rows) == [-30.0, -10.0]
    text = to_markdown(rows)
    header = text.splitlines()[0]
    assert header.startswith("| dataset | model | latent_dim | protocol | n_seeds | n_diverged |")
    for r in rows:
        epochs = 5 if r["elbo_mean"] == -30.0 else 50
        legend = [line for line in text.splitlines() if line.startswith(f"- `{r['protocol']}`: ")]
        assert len(legend) == 1 and f"max_epochs={epochs}," in legend[0] and "lr=0.001" in legend[0]


def test_a_plugin_with_two_parameter_settings_is_two_rows(plugin_registry):
    rows = build_rows([record(spec(EXAMPLE, {"width": 64}), -10.0), record(spec(EXAMPLE, {"width": 128}), -30.0),
                       record(spec(EXAMPLE, {"width": 128}, seed=1), -32.0)])
    assert [(r["model"], r["n_seeds"]) for r in rows] == [(f"{EXAMPLE}[width=128]", 2), (f"{EXAMPLE}[width=64]", 1)]
    assert rows[0]["elbo_mean"] == -31.0 and rows[1]["elbo_mean"] == -10.0


def test_seeds_of_one_configuration_share_a_row_and_engineering_fields_do_not_split_it():
    threads = Protocol(num_threads=1, eval_batch_size=20)  # how it was computed, not what was measured
    rows = build_rows([record(spec(seed=0), -10.0), record(spec(seed=1, protocol=threads), -12.0),
                       record(spec(seed=2), 0.0, status="diverged")])
    assert len(rows) == 1
    assert (rows[0]["n_seeds"], rows[0]["n_diverged"], rows[0]["elbo_mean"]) == (2, 1, -11.0)


def test_records_without_stored_labels_get_the_same_rows():
    """Records written before the spec stored model_label / protocol_id derive them."""
    recs = [record(spec(params={"beta": 8.0}), -30.0), record(spec(params={"beta": 8.0}, seed=1), -32.0)]
    del recs[0]["spec"]["model_label"], recs[0]["spec"]["protocol_id"]
    rows = build_rows(recs)
    assert [(r["model"], r["n_seeds"]) for r in rows] == [("vae[beta=8]", 2)]


def test_csv_names_the_protocol_and_carries_the_protocol_it_hashes():
    rows = build_rows([record(spec(protocol=Protocol(max_epochs=5)), -10.0), record(spec(model="pca"), 1.0)])
    table = list(csv.DictReader(io.StringIO(to_csv(rows))))
    assert list(table[0])[:6] == ["dataset", "model", "latent_dim", "protocol", "n_seeds", "n_diverged"]
    assert list(table[0])[-1] == "protocol_json"
    for row in table:
        # the id is the hash of exactly the JSON beside it: a reader can check it
        assert hashlib.sha256(row["protocol_json"].encode()).hexdigest()[:8] == row["protocol"]
        assert "num_threads" not in json.loads(row["protocol_json"])
    assert {json.loads(r["protocol_json"])["max_epochs"] for r in table} == {5, 50}


def test_dataset_parameters_split_rows(monkeypatch):
    from vaebench.data import registry

    monkeypatch.setitem(registry.DATASETS, "toy", registry.Dataset(lambda root, k=1: None, {"k": 1}))
    a = dataclasses.replace(spec(), dataset="toy", dataset_params=(("k", 1),))
    b = dataclasses.replace(spec(), dataset="toy", dataset_params=(("k", 5),))
    rows = build_rows([record(a, -10.0), record(b, -30.0)])
    assert [(r["dataset"], r["elbo_mean"]) for r in rows] == [("toy", -10.0), ("toy[k=5]", -30.0)]


def test_the_tracker_logs_one_row_per_configuration(monkeypatch, tmp_path):
    """`run` logs build_rows' table to W&B (tracking.log_table): two betas, two rows, with the
    protocol id and the protocol it stands for."""
    from vaebench.tracking import Tracker

    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_BASE_URL", "http://127.0.0.1:9")  # never the network
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("WANDB_DIR", raising=False)
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    rows = build_rows([record(spec(params={"beta": 1.0}), -10.0), record(spec(params={"beta": 8.0}), -30.0)])
    tracker = Tracker("offline", out_dir=tmp_path / "out", group="g")
    tracker.log_table(rows)
    assert tracker.enabled and not tracker._warned
    (path,) = (tmp_path / "out" / "wandb").glob("offline-run-*/files/media/table/results_*.table.json")
    table = json.loads(path.read_text())
    assert table["columns"][:4] == ["dataset", "model", "latent_dim", "protocol"] and "protocol_json" in table["columns"]
    assert [row[1] for row in table["data"]] == ["vae", "vae[beta=8]"]
