"""The worker pool's per-worker environment: each of W workers gets cores // W (at least 1)
OpenMP / MKL / OpenBLAS threads, and torch's intra-op threads follow, unless the user set them."""

from __future__ import annotations

import os
import subprocess
import sys

from vaebench.runner import pool


def test_thread_share_is_cores_over_workers_at_least_one():
    assert pool.thread_env(4, environ={}, cores=16) == {v: "4" for v in pool.THREAD_VARIABLES}
    assert pool.thread_env(8, environ={}, cores=2) == {v: "1" for v in pool.THREAD_VARIABLES}
    assert pool.thread_env(3, environ={}, cores=16)["OMP_NUM_THREADS"] == "5"


def test_a_thread_count_the_user_set_is_kept():
    env = pool.thread_env(4, environ={"OMP_NUM_THREADS": "3"}, cores=16)
    assert "OMP_NUM_THREADS" not in env and env["MKL_NUM_THREADS"] == "4"


def test_every_planned_worker_gets_its_share(monkeypatch):
    for name in pool.THREAD_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(pool, "host_cores", lambda: 8)
    workers = pool.plan("cpu", "auto", 1, 4)
    assert len(workers) == 4
    assert all(w.env == {v: "2" for v in pool.THREAD_VARIABLES} for w in workers)


def test_a_worker_process_runs_torch_with_that_many_threads():
    """What run_pool passes (os.environ updated by the worker's env) sets torch's threads."""
    base = {k: v for k, v in os.environ.items() if k not in pool.THREAD_VARIABLES}
    env = {**base, **pool.thread_env(2, environ={}, cores=4)}
    out = subprocess.run([sys.executable, "-c", "import torch; print(torch.get_num_threads())"], env=env,
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "2"
