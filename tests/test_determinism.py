"""Determinism per mode (vaebench.runner.determinism): the default mode holds every run to
deterministic kernels without ever failing for want of one (warn_only) and sets cuBLAS's
workspace before CUDA can start; the fast mode lifts both. On CPU: the flags each mode's
Trainer sets, that they are restored after a measurement, and the order of the settings (the
environment variable is there before the first torch.cuda call of a whole `vaebench run`)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import torch

from tests.conftest import ROOT
from vaebench.config import Protocol
from vaebench.runner import determinism
from vaebench.runner.train import Launch, make_trainer

CPU = Launch("cpu", 1)


def test_default_mode_is_deterministic_and_warns_instead_of_raising():
    with determinism.restored_flags():
        make_trainer(Protocol(), CPU)
        assert torch.are_deterministic_algorithms_enabled()
        assert torch.is_deterministic_algorithms_warn_only_enabled()
        assert torch.backends.cudnn.benchmark is False
    assert determinism.trainer_flags(True) == {"deterministic": "warn", "benchmark": False}


def test_fast_mode_autotunes_without_the_constraint():
    with determinism.restored_flags():
        make_trainer(Protocol(deterministic=False), CPU)
        assert not torch.are_deterministic_algorithms_enabled()
        assert torch.backends.cudnn.benchmark is True


def test_flags_are_restored_after_a_measurement():
    before = determinism.flags()
    with determinism.restored_flags():
        determinism.apply_mode(False)
        assert determinism.flags()["cudnn_benchmark"] is True
        determinism.apply_mode(True)
        assert determinism.flags()["deterministic_algorithms"] and determinism.flags()["warn_only"]
    assert determinism.flags() == before


def test_apply_mode_matches_what_the_trainer_sets():
    for deterministic in (True, False):
        with determinism.restored_flags():
            make_trainer(Protocol(deterministic=deterministic), CPU)
            by_trainer = determinism.flags()
        with determinism.restored_flags():
            determinism.apply_mode(deterministic)
            assert {k: v for k, v in determinism.flags().items() if k != "cudnn_deterministic"} == \
                {k: v for k, v in by_trainer.items() if k != "cudnn_deterministic"}


SPY = textwrap.dedent("""
    import json, os, sys
    os.environ.pop("CUBLAS_WORKSPACE_CONFIG", None)
    import torch  # the user's program may import torch first: only CUDA calls matter
    calls = []
    for name in ("is_available", "device_count", "init", "_lazy_init", "is_initialized", "current_device"):
        original = getattr(torch.cuda, name)
        def spy(*a, _original=original, _name=name, **k):
            calls.append([_name, os.environ.get("CUBLAS_WORKSPACE_CONFIG")])
            return _original(*a, **k)
        setattr(torch.cuda, name, spy)
    from vaebench.cli import main
    code = main(sys.argv[2:])
    open(sys.argv[1], "w").write(json.dumps({"code": code, "calls": calls}))
""")


def test_cublas_workspace_is_set_before_any_cuda_call(tmp_path):
    out = tmp_path / "calls.json"
    suite = tmp_path / "tiny.yaml"
    suite.write_text("name: tiny\ndatasets: [digits]\nmodels: [vae]\nlatent_dims: [2]\nseeds: [0]\n"
                     "protocol: {max_epochs: 1, max_steps: 2, patience: 0, iwae_k: 2, fid_backbone: none, num_threads: 1}\n")
    args = ["run", "--suite", str(suite), "--accelerator", "cpu", "--devices", "1", "--out", str(tmp_path / "r"),
            "--wandb", "disabled", "--quiet", "--no-report"]
    res = subprocess.run([sys.executable, "-c", SPY, str(out), *args], cwd=ROOT, capture_output=True, text=True, timeout=300,
                         env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "VAEBENCH_OFFLINE": "1"})
    assert res.returncode == 0, res.stderr
    got = json.loads(out.read_text())
    assert got["code"] == 0
    assert got["calls"], "a vaebench run asks torch.cuda at least whether CUDA is there"
    assert {value for _, value in got["calls"]} == {determinism.CUBLAS_WORKSPACE_CONFIG}, got["calls"]


def test_the_package_sets_the_workspace_unless_the_user_did():
    code = "import os; import vaebench; print(os.environ['CUBLAS_WORKSPACE_CONFIG'])"
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)}
    mine = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env={**env, "CUBLAS_WORKSPACE_CONFIG": ":16:8"},
                          capture_output=True, text=True, check=True)
    assert mine.stdout.strip() == ":16:8"
    default = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    assert default.stdout.strip() == determinism.CUBLAS_WORKSPACE_CONFIG
