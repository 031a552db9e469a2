"""benchmarks/gpu_check.py, the prepared GPU check, on CPU: end to end at `--tiny` size (every
benchmark it runs: determinism_check, throughput in fp32 and fast mode, concurrency, a sharded
suite pool), its budget (stages that do not fit are skipped, one that overruns is interrupted,
then killed) and what it leaves under $OUT (four plain files, as the device tool brings back)."""

from __future__ import annotations

import json
import lzma
import os
import subprocess
import sys
import tarfile
import time

import pytest

from tests.conftest import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))
import gpu_check  # noqa: E402

OUT_FILES = {"summary.json", "check.log", "stages.tar.gz", "latent_dim.tar.gz"}


def check(out, *args, timeout=900):
    env = {k: v for k, v in os.environ.items() if k != "VAEBENCH_COMPILE_BACKEND"}  # --tiny's own choice
    env.update(PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu_check.py"), "--out", str(out), *args],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.mark.slow
def test_tiny_check_runs_every_stage_end_to_end(tmp_path):
    start = time.monotonic()
    # --tiny's budget (1500 s) is for a loaded machine: on 2 idle cores the whole check takes ~4 minutes
    res = check(tmp_path, "--tiny", timeout=1700)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert time.monotonic() - start < 1600
    assert {p.name for p in tmp_path.iterdir()} == OUT_FILES and all(p.is_file() for p in tmp_path.iterdir())
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert {name: s["status"] for name, s in summary["stages"].items()} == dict.fromkeys(
        ["device", "determinism", "throughput", "fast", "concurrency", "suite"], "ok")
    r = summary["results"]
    assert r["device"]["torch"] and r["device"]["cuda_available"] is False
    assert r["determinism"]["modes"]["fp32"]["bitwise"] is True  # the default mode, here on CPU
    assert "bitwise" in r["determinism"]["modes"]["fast"]
    for stage, mode in (("throughput", "fp32"), ("fast", "fast")):
        m = r[stage]["modes"][mode]
        assert m["plain_img_s"] > 0 and m["vaebench_img_s"] > 0 and m["ratio"] == pytest.approx(m["vaebench_img_s"] / m["plain_img_s"])
        assert r[stage]["environment"]["torch"] and "cuda" in r[stage]["environment"]
    assert r["fast"]["modes"]["fast"]["protocol"]["deterministic"] is False
    levels = r["concurrency"]["levels"]
    assert set(levels) == {"1", "2"} and all(lv["train_img_s"] > 0 and lv["finished"] == int(k) for k, lv in levels.items())
    assert "OMP_NUM_THREADS" not in levels["2"]["thread_env"]  # the caller set it (1): the pool keeps it
    assert levels["2"]["thread_env"]["MKL_NUM_THREADS"] == str(max(1, r["concurrency"]["host_cores"] // 2))
    assert r["suite"]["ok"] == 2 and r["suite"]["checkpoints_left"] == 0
    with tarfile.open(tmp_path / "stages.tar.gz") as tar:
        names = set(tar.getnames())
    assert {"determinism.json", "throughput.json", "fast.json", "concurrency.json", "logs/suite.log"} <= names
    with tarfile.open(tmp_path / "latent_dim.tar.gz") as tar:
        names = tar.getnames()
    assert sum(n.startswith("latent_dim/runs/") and n.endswith(".json") for n in names) == 2
    assert "latent_dim/table.md" in names and any(n.startswith("latent_dim/logs/worker-") for n in names)
    print(f"tiny GPU check on CPU: {time.monotonic() - start:.0f} s")


def test_no_time_left_skips_every_stage_and_still_writes_the_summary(tmp_path):
    res = check(tmp_path, "--tiny", "--budget", "1", "--reserve", "0")
    assert res.returncode == 1
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["stages"] and all(s["status"].startswith("skipped") for s in summary["stages"].values())
    assert {"summary.json", "check.log", "stages.tar.gz"} <= {p.name for p in tmp_path.iterdir()}


def test_a_stage_past_its_time_is_interrupted_then_killed(tmp_path):
    polite = [sys.executable, "-c", "import time\ntry:\n    time.sleep(60)\nexcept KeyboardInterrupt:\n    raise SystemExit(130)"]
    start = time.monotonic()
    code, how = gpu_check.run_stage(polite, dict(os.environ), 1.5, tmp_path / "a.log", grace=10)
    assert (code, how) == (130, "interrupted at its time limit") and time.monotonic() - start < 10
    stubborn = [sys.executable, "-c", "import signal, time\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\ntime.sleep(60)"]
    code, how = gpu_check.run_stage(stubborn, dict(os.environ), 1.5, tmp_path / "b.log", grace=1)
    assert (code, how) == (None, "killed at its time limit") and time.monotonic() - start < 20


def test_the_suite_gets_the_concurrency_level_that_trained_fastest():
    cmd = ["python", "-m", "vaebench", "run", "--runs-per-device", "8", "--out", "x"]
    conc = {"levels": {"1": {"train_img_s": 10.0}, "4": {"train_img_s": 50.0}, "8": {"train_img_s": 40.0}}}
    assert gpu_check.with_runs_per_device(cmd, conc) == ["python", "-m", "vaebench", "run", "--runs-per-device", "4", "--out", "x"]
    assert gpu_check.with_runs_per_device(cmd, {"levels": {"1": {"error": "x"}}}) == cmd


def test_goals_are_none_where_unmeasured():
    assert gpu_check.goals({}) == dict.fromkeys(["ratio_fp32_b256_ge_0.95", "fast_ge_100k_img_s", "concurrency_gain_ge_3x"])
    got = gpu_check.goals({"throughput": {"modes": {"fp32": {"ratio": 0.97}}},
                           "fast": {"modes": {"fast": {"vaebench_img_s": 90_000.0}, "fast_cg": {"error": "x"}}},
                           "concurrency": {"levels": {"1": {"gain": 1.0}, "4": {"gain": 3.2}}}})
    assert got == {"ratio_fp32_b256_ge_0.95": True, "fast_ge_100k_img_s": False, "concurrency_gain_ge_3x": True}


def test_carried_data_unpacks_to_a_data_root(tmp_path):
    packed = tmp_path / "t10k-labels-idx1-ubyte.xz"
    packed.write_bytes(lzma.compress(b"idx bytes"))
    root = gpu_check.unpack([packed], tmp_path / "root")
    assert (root / "fashion_mnist" / "t10k-labels-idx1-ubyte").read_bytes() == b"idx bytes"


def test_pack_leaves_out_bulky_files_to_stay_within_the_size_limit(tmp_path):
    work, out = tmp_path / "work", tmp_path / "out"
    (work / "logs").mkdir(parents=True)
    (work / "latent_dim" / "runs").mkdir(parents=True)
    out.mkdir()
    (work / "device.json").write_text("{}")
    (work / "latent_dim" / "runs" / "a.json").write_text("{}")
    (work / "latent_dim" / "runs" / "a.npz").write_bytes(os.urandom(50_000))
    gpu_check.pack(out, work, limit=20_000)
    with tarfile.open(out / "latent_dim.tar.gz") as tar:
        assert tar.getnames() == ["latent_dim/runs/a.json"]
    with tarfile.open(out / "stages.tar.gz") as tar:
        assert tar.getnames() == ["device.json"]
