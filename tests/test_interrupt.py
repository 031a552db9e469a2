"""Ctrl-C during a run: exit 130 with the resume message, finished records and the checkpoint kept."""

import json
import os
import signal
import subprocess
import sys
import time

from tests.conftest import ROOT


def test_ctrl_c_during_training_exits_130_and_keeps_finished_runs(tmp_path):
    out = tmp_path / "res"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "VAEBENCH_CHECKPOINT_EVERY_S": "0", "VAEBENCH_OFFLINE": "1"}
    argv = ["run", "--suite", "smoke", "--models", "pca,vae", "--latent-dims", "2,8", "--max-epochs", "400",
            "--out", str(out), "--quiet", "--wandb", "disabled"]
    proc = subprocess.Popen([sys.executable, "-m", "vaebench", *argv], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 300
        # the PCA runs come first; a checkpoint means the VAE is inside Lightning's fit loop
        while not list((out / "checkpoints").glob("*.ckpt")):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "no checkpoint appeared"
            time.sleep(0.02)
        records = {p.name: p.read_bytes() for p in (out / "runs").glob("*.json")}
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "interrupted; finished runs are kept, re-run the same command to resume" in err
    assert "Traceback" not in err
    assert len(records) == 2 and all(name.startswith("digits-pca") for name in records)
    after = {p.name: p.read_bytes() for p in (out / "runs").glob("*.json")}
    assert {k: after[k] for k in records} == records  # finished records untouched
    for data in records.values():
        assert json.loads(data)["status"] == "ok"
    assert not list(out.rglob("*.tmp"))  # no half-written file left behind
    ckpt = list((out / "checkpoints").glob("digits-vae-*.ckpt"))
    assert len(ckpt) == 1  # the VAE resumes from here

    # --dry-run tells the three states apart, with the partial run's epoch, and counts them
    res = subprocess.run([sys.executable, "-m", "vaebench", *argv, "--dry-run"], env=env, capture_output=True,
                         text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert sum(line.startswith("done ") for line in lines) == 2
    partial = [line for line in lines if line.startswith("partial ")]
    import torch

    epoch = torch.load(ckpt[0], map_location="cpu", weights_only=True)["epoch"]
    assert len(partial) == 1 and ckpt[0].stem in partial[0] and f"epoch {epoch + 1}/400 done" in partial[0]
    assert "runs: 4: 2 done, 1 partial, 1 to do" in res.stdout
    assert "expected time on this cpu" in res.stdout
