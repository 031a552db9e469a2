"""W&B tracking: mode resolution, offline runs read back from disk, and failures that never raise.

wandb 0.31 writes offline runs only to the binary transaction log (run-<id>.wandb: a LevelDB-style
log of protobuf `Record`s); there is no files/wandb-summary.json or files/config.yaml until a
run is synced, and wandb 0.31 ships no Python reader for the log (the old DataStore is gone with
the Go core). So the run's config, history and summary are read back from that log here, waiting
for its exit record. Media (images, tables) are plain files under files/media/.
"""

import json
import pickle
import struct
import time
import warnings
from pathlib import Path

import lightning as L
import numpy as np
import pytest
import torch

from vaebench import tracking
from vaebench.tracking import Tracker, TrackingWarning, resolve_mode, sanitize_config

LEAK = "wandb-key-should-never-leak-0123456789"
RUN_ID = "digits-vae-z2-s0-abc"


# ---------------------------------------------------------------- reading offline runs back


def _records(path: Path):
    """The protobuf payloads of a .wandb file (header ':W&B', magic, version; 32 KiB blocks of
    records, each with a 7-byte header: crc32c, length, type FULL/FIRST/MIDDLE/LAST)."""
    data = path.read_bytes()
    ident, _magic, _version = struct.unpack("<4sHB", data[:7])
    assert ident == b":W&B"
    block, off, parts = 32768, 7, []
    while off + 7 <= len(data):
        left = block - off % block
        if left < 7:  # block trailer padding
            off += left
            continue
        _crc, length, kind = struct.unpack("<IHB", data[off : off + 7])
        off += 7
        if kind == 0 and length == 0:  # zero padding up to the block end
            off += left - 7
            continue
        chunk, off = data[off : off + length], off + length
        if kind == 1:
            yield chunk
        elif kind == 2:
            parts = [chunk]
        elif kind == 3:
            parts.append(chunk)
        elif kind == 4:
            yield b"".join([*parts, chunk])
            parts = []


def _key(item):
    if item.key:
        return item.key
    return item.nested_key[0] if len(item.nested_key) == 1 else tuple(item.nested_key)


def _read_once(log: Path) -> dict:
    from wandb.proto import wandb_internal_pb2 as pb

    out = {"config": {}, "summary": {}, "history": [], "run": None, "exit": False}
    for payload in _records(log):
        rec = pb.Record()
        rec.ParseFromString(payload)
        kind = rec.WhichOneof("record_type")
        if kind == "run":
            out["run"] = rec.run
            out["config"].update({_key(i): json.loads(i.value_json) for i in rec.run.config.update})
        elif kind == "config":
            out["config"].update({_key(i): json.loads(i.value_json) for i in rec.config.update})
        elif kind == "summary":
            out["summary"].update({_key(i): json.loads(i.value_json) for i in rec.summary.update})
        elif kind == "history":
            out["history"].append({_key(i): json.loads(i.value_json) for i in rec.history.item})
        elif kind == "exit":
            out["exit"] = True
    return out


def read_run(run_dir: Path, timeout: float = 60.0) -> dict:
    """config, summary, history (list of dicts) and run info of one finished offline run directory.

    run.finish() can return before wandb-core has flushed the log (seen about 1 in 10 times for
    the first run of a process: the file is still just its 7-byte header), so wait for its exit
    record.
    """
    (log,) = run_dir.glob("run-*.wandb")
    deadline = time.monotonic() + timeout
    while True:
        try:
            out = _read_once(log)
            if out["exit"]:
                return out
        except Exception:  # a record cut short by a flush in progress
            if time.monotonic() > deadline:
                raise
        if time.monotonic() > deadline:
            raise AssertionError(f"{log} has no exit record after {timeout} s")
        time.sleep(0.05)


def run_dirs(root: Path) -> list[Path]:
    return sorted((root / "wandb").glob("offline-run-*"))


def files_containing(root: Path, needle: str) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and needle.encode() in p.read_bytes()]


# ---------------------------------------------------------------- fixtures


@pytest.fixture
def wandb_env(monkeypatch, tmp_path):
    """Offline W&B with a (fake) API key in the environment that must never reach a file."""
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_API_KEY", LEAK)
    monkeypatch.setenv("WANDB_BASE_URL", "http://127.0.0.1:9")  # any network attempt fails fast
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("WANDB_DIR", raising=False)
    return tmp_path / "out"


class Tiny(L.LightningModule):
    def __init__(self, lr: float = 0.05, api_key: str = "SECRET"):
        super().__init__()
        self.save_hyperparameters()  # goes to the logger's log_hyperparams: api_key must be dropped
        self.lin = torch.nn.Linear(4, 1)

    def training_step(self, batch, _):
        loss = self.lin(batch[0]).pow(2).mean()
        self.log("train_loss", loss)
        return loss

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=self.hparams.lr)


def fit_tiny(logger):
    torch.manual_seed(0)
    data = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.randn(12, 4)), batch_size=4)
    trainer = L.Trainer(max_epochs=2, logger=logger, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, accelerator="cpu", devices=1, log_every_n_steps=1)
    trainer.fit(Tiny(), data)
    return trainer


RECORD = {"metrics": {"elbo": -20.5, "fid_samples[digits-mlp]": 3.0}, "status": "ok", "times": {"total_s": 1.0}}
VISUALS = {"samples": np.zeros((4, 1, 8, 8), np.uint8), "recon": np.zeros((2, 4, 1, 8, 8), np.uint8),
           "traversal_dims": np.array([0, 1])}


# ---------------------------------------------------------------- mode


def _clean_env(monkeypatch, tmp_path):
    for var in ("WANDB_API_KEY", "WANDB_MODE", "WANDB_DISABLED", "NETRC", "WANDB_BASE_URL"):
        monkeypatch.delenv(var, raising=False)
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    monkeypatch.setenv("HOME", str(home))
    return home


def test_resolve_mode_default_follows_api_key(monkeypatch, tmp_path):
    home = _clean_env(monkeypatch, tmp_path)
    assert resolve_mode(None) == "offline"
    monkeypatch.setenv("WANDB_API_KEY", LEAK)
    assert resolve_mode(None) == "online"
    monkeypatch.delenv("WANDB_API_KEY")
    (home / ".netrc").write_text("machine example.org\n  login user\n  password x\n")
    assert resolve_mode(None) == "offline"
    (home / ".netrc").write_text("machine api.wandb.ai\n  login user\n  password 0123abcd\n")
    assert resolve_mode(None) == "online"


def test_resolve_mode_env_and_explicit(monkeypatch, tmp_path):
    _clean_env(monkeypatch, tmp_path)
    monkeypatch.setenv("WANDB_API_KEY", LEAK)
    monkeypatch.setenv("WANDB_MODE", "dryrun")
    assert resolve_mode(None) == "offline"
    monkeypatch.setenv("WANDB_MODE", "disabled")
    assert resolve_mode(None) == "disabled"
    assert resolve_mode("online") == "online"  # an explicit request wins over WANDB_MODE
    monkeypatch.setenv("WANDB_MODE", "online")
    assert resolve_mode("offline") == "offline"
    assert resolve_mode("disabled") == "disabled"
    with pytest.raises(ValueError):
        resolve_mode("sometimes")


def test_missing_wandb_means_disabled_with_one_warning(monkeypatch, tmp_path):
    _clean_env(monkeypatch, tmp_path)
    monkeypatch.setattr(tracking, "_wandb_installed", lambda: False)
    monkeypatch.setattr(tracking, "_missing_note", None)
    assert resolve_mode("disabled") == "disabled"
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        Tracker("disabled")  # asked for: no warning
        assert resolve_mode(None) == "disabled"
        tr = Tracker(resolve_mode(None))
        Tracker("disabled")
    msgs = [str(w.message) for w in seen if issubclass(w.category, TrackingWarning)]
    assert len(msgs) == 1 and "W&B tracking failed" in msgs[0] and "continuing without it" in msgs[0]
    assert not tr.enabled and tr.logger(RUN_ID, {}) is None


# ---------------------------------------------------------------- offline runs


def test_offline_run_roundtrip(wandb_env):
    out = wandb_env
    tr = Tracker("offline", out_dir=out, group="smoke")
    cfg = {"model": "vae", "protocol": {"lr": 0.003, "auth": [{"Token": "SECRET"}]}, "api_key": "SECRET"}
    lg = tr.logger(RUN_ID, cfg)
    assert lg is not None and tr.enabled
    again = pickle.loads(pickle.dumps(lg))  # ddp_spawn pickles the logger: the worker re-attaches by id
    assert type(again) is type(lg) and again._id == RUN_ID and again._experiment is None
    fit_tiny(lg)
    tr.start_run(RUN_ID, cfg)  # the same vaebench run: no second W&B run
    tr.log_result(RECORD, VISUALS)
    tr.finish_run()
    assert tr.enabled and not tr._warned

    (d,) = run_dirs(out)
    run = read_run(d)
    assert run["run"].run_id == RUN_ID and run["run"].display_name == RUN_ID
    assert run["run"].run_group == "smoke" and run["run"].job_type == "train" and run["run"].project == "vaebench"
    cfg_read = run["config"]
    assert cfg_read["model"] == "vae" and cfg_read["protocol"] == {"lr": 0.003, "auth": [{}]}
    assert "api_key" not in cfg_read
    assert cfg_read["lr"] == 0.05  # the module's hyperparameters, through the logger
    losses = [h["train_loss"] for h in run["history"] if "train_loss" in h]
    assert len(losses) >= 2 and all(np.isfinite(losses))
    assert [h["trainer/global_step"] for h in run["history"] if "train_loss" in h][:2] == [0, 1]
    s = run["summary"]
    assert s["elbo"] == -20.5 and s["fid_samples[digits-mlp]"] == 3.0
    assert s["eval/elbo"] == -20.5 and s["eval/fid_samples[digits-mlp]"] == 3.0
    assert s["status"] == "ok" and s["times"] == {"total_s": 1.0}
    assert ("visuals/samples", "_type") in s and ("visuals/traversal_dims", "_type") not in s
    pngs = sorted(p.name for p in (d / "files" / "media" / "images").rglob("*.png"))
    assert len(pngs) == 2 and pngs[0].startswith("recon") and pngs[1].startswith("samples")
    assert not files_containing(out, "SECRET")
    assert not files_containing(out, LEAK)
    assert not (d / "files" / "output.log").exists()  # console capture off


def test_start_run_then_table(wandb_env):
    out = wandb_env
    tr = Tracker("offline", out_dir=out, group="smoke")
    tr.start_run("digits-pca-z2-s0-def", {"model": "pca", "password": "SECRET"})  # no Trainer
    tr.log_result({"metrics": {"elbo": float("nan")}, "status": "diverged", "diverged_at_step": 7,
                   "times": {"total_s": 2.0}}, None)
    tr.finish_run()
    tr.log_result(RECORD, None)  # nothing open any more: a no-op, not a run of its own
    rows = [{"run_id": "a", "elbo": -20.5, "model": "vae"}, {"run_id": "b", "fid": float("nan"), "latent_dim": 2}]
    tr.log_table(rows)
    assert tr.enabled and not tr._warned

    pca, table = sorted(run_dirs(out), key=lambda d: "table" in read_run(d)["run"].job_type)
    s = read_run(pca)["summary"]
    assert s["status"] == "diverged" and s["diverged_at_step"] == 7
    # wandb 0.31 stores a NaN summary value as null; logged (history) NaN stays NaN
    assert s["elbo"] is None and np.isnan(s["eval/elbo"]) and s["times"] == {"total_s": 2.0}
    t = read_run(table)
    assert t["run"].display_name == "smoke-table" and t["run"].job_type == "table" and t["run"].run_group == "smoke"
    (tj,) = (table / "files" / "media" / "table").glob("results_*.table.json")
    data = json.loads(tj.read_text())  # NaN is written as a bare NaN, which json.loads accepts
    assert data["columns"] == ["run_id", "elbo", "model", "fid", "latent_dim"]
    assert data["data"][0] == ["a", -20.5, "vae", None, None]
    assert data["data"][1][0] == "b" and np.isnan(data["data"][1][3]) and data["data"][1][4] == 2
    assert not files_containing(out, "SECRET") and not files_containing(out, LEAK)


# ---------------------------------------------------------------- failures and disabled


def test_failing_init_never_raises(wandb_env, monkeypatch):
    import wandb

    def boom(*a, **k):
        raise RuntimeError("no W&B today")

    monkeypatch.setattr(wandb, "init", boom)
    tr = Tracker("offline", out_dir=wandb_env, group="smoke")
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        assert tr.logger(RUN_ID, {"model": "vae"}) is None
        assert tr.logger(RUN_ID, {"model": "vae"}) is None
        tr.start_run(RUN_ID, {})
        tr.log_result(RECORD, VISUALS)
        tr.finish_run()
        tr.log_table([{"a": 1}])
    msgs = [str(w.message) for w in seen if issubclass(w.category, TrackingWarning)]
    assert msgs == ["W&B tracking failed (RuntimeError: no W&B today); continuing without it"]
    assert not tr.enabled


def test_failure_during_training_never_fails_the_run(wandb_env, monkeypatch):
    class Console:
        lines = []

        def print(self, text, **kw):
            self.lines.append(text)

    console = Console()
    tr = Tracker("offline", out_dir=wandb_env, group="smoke", console=console)
    lg = tr.logger(RUN_ID, {"model": "vae"})
    assert lg is not None

    def broken(*a, **k):
        raise OSError("disk full [maybe]")

    monkeypatch.setattr(tr._run, "log", broken)
    trainer = fit_tiny(lg)  # logs through the broken run every step
    assert trainer.current_epoch == 2 and not tr.enabled
    tr.log_result(RECORD, VISUALS)
    tr.finish_run()
    monkeypatch.undo()
    lg.experiment.finish()  # the run the tracker let go of (else wandb's exit hook closes it)
    assert console.lines == ["warning: W&B tracking failed (OSError: disk full [maybe]); continuing without it"]


def test_disabled_is_a_no_op(tmp_path):
    out = tmp_path / "out"
    tr = Tracker("disabled", out_dir=out, group="smoke")
    assert not tr.enabled
    assert tr.logger(RUN_ID, {"model": "vae"}) is None
    tr.start_run(RUN_ID, {})
    tr.log_result(RECORD, VISUALS)
    tr.finish_run()
    tr.log_table([{"a": 1}])
    assert not out.exists() and list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------- helpers


def test_sanitize_config_drops_secret_keys_at_any_level():
    cfg = {"model": "vae", "API_KEY": 1, "nested": {"auth_token": "x", "ok": [{"Secret": 1, "n": 2}], "Password": 3},
           "arr": np.arange(2), "x": np.float32(0.5), "p": Path("a/b")}
    assert sanitize_config(cfg) == {"model": "vae", "nested": {"ok": [{"n": 2}]}, "arr": [0, 1], "x": 0.5, "p": "a/b"}


def test_image_tiling():
    stack = tracking._as_image_stack(np.full((64, 1, 8, 8), 7, np.uint8))
    grid = tracking.tile(stack)
    assert grid.shape == (8 * 9 + 1, 8 * 9 + 1) and grid[0].max() == 255 and grid[1, 1] == 7 and grid[9, 1] == 255
    grid = tracking.tile(tracking._as_image_stack(np.zeros((2, 16, 3, 5, 5), np.uint8)))
    assert grid.shape == (2 * 6 + 1, 16 * 6 + 1, 3)
    assert tracking.tile(tracking._as_image_stack(np.zeros((5, 1, 4, 4), np.uint8))).shape == (2 * 5 + 1, 3 * 5 + 1)
    assert tracking._as_image_stack(np.array([0, 1])) is None
    assert tracking._as_image_stack(np.zeros((4, 2))) is None


def test_import_does_not_import_wandb():
    import subprocess
    import sys

    code = "import sys, vaebench.tracking as t; t.Tracker('disabled').logger('x', {}); assert 'wandb' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[1])


def test_a_sweep_logs_every_run_and_the_table_offline(wandb_env, tmp_path):
    """End to end through the CLI: `run --wandb offline` with a (fake) API key in the environment."""
    from tests.conftest import run_cli

    out = wandb_env
    res = run_cli("run", "--suite", "smoke", "--models", "pca,vae", "--latent-dims", "2", "--max-epochs", "3",
                  "--out", str(out), "--wandb", "offline", "--quiet")
    assert res.returncode == 0, res.stderr
    records = {json.loads(p.read_text())["run_id"]: json.loads(p.read_text()) for p in (out / "runs").glob("*.json")}
    by_name = {}
    for d in run_dirs(out):
        got = read_run(d)
        by_name[got["config"].get("run_id", d.name)] = got
    for run_id, record in records.items():
        got = by_name[run_id]
        assert got["config"]["model"] == record["spec"]["model"]
        assert got["summary"]["mse"] == pytest.approx(record["metrics"]["mse"])
        assert got["summary"]["status"] == "ok"
        if record["spec"]["model"] == "vae":
            assert got["summary"]["elbo"] == pytest.approx(record["metrics"]["elbo"])
            assert any("train_loss" in h for h in got["history"])  # training curve
    assert len(run_dirs(out)) == len(records) + 1  # + the table run
    assert list(out.rglob("*.table.json")), "the results table was not logged"
    assert files_containing(out, LEAK) == [] and files_containing(tmp_path, LEAK) == []
    from vaebench.tracking import Tracker

    hint = Tracker("offline", out_dir=out).sync_hint()  # what `run` prints at the end without --quiet
    assert hint and f"wandb sync {out / 'wandb'}/offline-run-*" in hint

