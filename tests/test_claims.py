"""The results folder as a shared place: a run is claimed (a lock per run id) before it is done,
so two sweeps into one folder never train the same run twice; an unreadable record never counts
as done."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys

import yaml

from tests.conftest import ROOT, run_cli
from vaebench.cli import main
from vaebench.store import Claim, RunStore

HOLD = """
import sys, time
from pathlib import Path
from vaebench.store import Claim
claim = Claim.take(Path(sys.argv[1]))
print("held" if claim else "busy", flush=True)
time.sleep(120)
"""


def test_a_claim_is_exclusive_and_a_kill_9_frees_it(tmp_path):
    store = RunStore(tmp_path)
    path = store.lock_path("r1")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(path)], env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        assert store.claim("r1") is None  # a live holder: not ours
        assert store.claimed_by("r1").startswith(f"pid {holder.pid} on ")
        other = store.claim("r2")  # other runs are free
        assert other is not None
        other.release()
        assert not store.lock_path("r2").exists()
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert path.exists() and store.claimed_by("r1") is None  # left by kill -9: stale, and said so
    with store.claim("r1") as claim:  # the kernel dropped the dead process's lock
        assert claim is not None and path.read_text().split()[1] == str(os.getpid())
        assert Claim.take(path) is None  # one holder at a time, also within a process
    assert not path.exists()


SUITE = {
    "name": "claims", "datasets": ["digits"], "models": ["ae"], "latent_dims": [2, 3], "seeds": [0, 1, 2],
    "protocol": {"max_epochs": 4, "patience": 0, "num_threads": 1, "fid_backbone": "none", "iwae_k": 4},
}


def test_two_identical_sweeps_into_one_folder_do_each_run_once(tmp_path):
    suite = tmp_path / "claims.yaml"
    suite.write_text(yaml.safe_dump(SUITE))
    out = tmp_path / "res"
    cmd = [sys.executable, "-m", "vaebench", "run", "--suite", str(suite), "--out", str(out), "--wandb", "disabled",
           "--accelerator", "cpu"]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    procs = [subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    logs = [p.communicate(timeout=600)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], logs
    trained = [m for log in logs for m in re.findall(r"^\[\d+/\d+\] .*?\((claims-\S+|digits-\S+)\)", log, re.M)]
    records = sorted(p.stem for p in (out / "runs").glob("*.json"))
    assert len(records) == 6 and sorted(trained) == records, logs  # each run trained by exactly one sweep
    assert not list((out / "locks").glob("*.lock")) and not list(out.rglob("*.tmp"))
    for p in (out / "runs").glob("*.json"):
        assert json.loads(p.read_text())["status"] == "ok"


def test_a_truncated_record_is_listed_unreadable_and_stops_the_run_before_any_work(capsys, tmp_path):
    out = tmp_path / "res"
    argv = ["run", "--suite", "smoke", "--models", "pca", "--latent-dims", "2", "--seeds", "0,1", "--out", str(out),
            "--quiet", "--wandb", "disabled"]
    assert main(argv) == 0
    capsys.readouterr()
    first, second = sorted((out / "runs").glob("*.json"))
    torn = first.read_text()[:100]
    first.write_text(torn)  # a torn copy, a full disk, a bad edit
    kept = second.read_bytes()
    code = main([*argv, "--dry-run"])
    res = capsys.readouterr()
    assert code == 2 and "1 unreadable" in res.out and "delete them to re-run" in res.err
    assert [line for line in res.out.splitlines() if line.startswith("UNREADABLE")][0].startswith(f"UNREADABLE {first.stem}")
    assert f"done     {second.stem}  pca z2 s1" in res.out
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and f"run record {first} is unreadable" in err and "delete it" in err
    assert first.read_text() == torn and second.read_bytes() == kept


def test_the_plan_comes_first_with_row_labels_and_a_resume_says_so(tmp_path):
    res = run_cli("run", "--suite", "smoke", "--models", "pca", "--latent-dims", "2", "--seeds", "0",
                  "--out", str(tmp_path / "r"), "--wandb", "disabled")
    assert res.returncode == 0, res.stderr
    lines = res.stderr.splitlines()
    assert lines[0] == "smoke: 1 runs: 0 done, 1 to do", lines
    assert any(line.startswith("[1/1] pca z2 s0 (digits-pca-z2-s0-") for line in lines), lines


def test_a_resumed_run_says_from_which_epoch():
    import io

    from rich.console import Console

    from vaebench.runner.progress import SweepProgress

    bar = SweepProgress(Console(file=io.StringIO()), "t", 1, enabled=True)
    with bar:
        bar.start("digits-vae-z2-s0-abc", {"model": "vae", "model_params": {}, "latent_dim": 2, "seed": 0,
                                           "protocol": {"max_epochs": 10}}, 3)
    assert "resuming vae z2 s0 (digits-vae-z2-s0-abc) from epoch 3 (3/10 epochs done" in bar.console.file.getvalue()
