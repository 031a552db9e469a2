"""FID under 2-process DDP on CPU (gloo): each rank feeds half of the data, compute() runs on
every rank, and the synced value equals the single-process one.

The ranks are started by torch.multiprocessing with the "fork" start method where the platform
has it: "spawn" re-imports torch + torchmetrics in every child (about 25 s on a 2-core machine),
fork inherits them. Each child sets one intra-op thread first (as DataLoader workers do), so no
OpenMP pool is used across the fork.
"""

from __future__ import annotations

import json
import os

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from tests.gloo import free_port, init_gloo

WORLD = 2


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _worker(rank: int, world: int, port: int, out_dir: str) -> None:
    init_gloo(rank, world, port)
    try:
        from vaebench.data import load_dataset
        from vaebench.metrics.fid import make_fid_metric
        from vaebench.metrics.fid_backbone import get_backbone

        splits = load_dataset("digits")
        backbone = get_backbone(splits, "classifier")  # the shipped weights
        metric = make_fid_metric(backbone)  # syncs on compute (torchmetrics' default)
        # uneven shards on purpose: rank r takes every world-th image from offset r
        metric.update(splits.test_x[rank::world], real=True)
        metric.update(splits.train_x[rank::world], real=False)
        value = float(metric.compute())
        local = int(metric.fake_features_num_samples)  # compute() restores the local states after syncing
        with open(os.path.join(out_dir, f"rank{rank}.json"), "w") as f:
            json.dump({"value": value, "n_fake_local": local}, f)
    finally:
        dist.barrier()
        dist.destroy_process_group()


@pytest.mark.slow
def test_ddp_synced_fid_equals_single_process(digits, tmp_path):
    from vaebench.metrics.fid import make_fid_metric
    from vaebench.metrics.fid_backbone import get_backbone

    backbone = get_backbone(digits, "classifier")
    single = make_fid_metric(backbone, sync_on_compute=False)
    single.update(digits.test_x, real=True)
    single.update(digits.train_x, real=False)
    expected = float(single.compute())

    method = "fork" if "fork" in mp.get_all_start_methods() else "spawn"
    mp.start_processes(_worker, args=(WORLD, free_port(), str(tmp_path)), nprocs=WORLD, join=True, start_method=method)
    results = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(WORLD)]
    for r in results:  # every rank computed, and got the full-data value from its half
        assert r["value"] == pytest.approx(expected, rel=1e-9)
        assert r["n_fake_local"] < len(digits.train_x)
    assert sum(r["n_fake_local"] for r in results) == len(digits.train_x)
    assert results[0]["value"] == results[1]["value"]
