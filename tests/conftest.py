import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("VAEBENCH_OFFLINE", "1")  # tests never try the network
os.environ.setdefault("WANDB_MODE", "offline")


def run_cli(*args, cwd=None, env=None, timeout=600):
    """Run `python -m vaebench ARGS` in a subprocess; returns CompletedProcess (text)."""
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run([sys.executable, "-m", "vaebench", *args], cwd=cwd, env=full_env,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def cli():
    return run_cli


@pytest.fixture(scope="session")
def smoke_out(tmp_path_factory):
    """One uninterrupted run of the smoke suite (shared by the smoke and the kill -9 tests)."""
    out = tmp_path_factory.mktemp("smoke")
    res = run_cli("run", "--suite", "smoke", "--out", str(out), "--quiet")
    assert res.returncode == 0, res.stderr
    return out


@pytest.fixture(scope="session")
def digits():
    from vaebench.data import load_dataset

    return load_dataset("digits")


@pytest.fixture
def plugin_registry(monkeypatch):
    """Plug-in classes under tests/ and examples/ importable as package.module:Class."""
    monkeypatch.syspath_prepend(str(ROOT))
