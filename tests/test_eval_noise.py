"""Evaluation noise is keyed by test image, so the batch size and DDP sharding change no metric.

Measured when written (digits, VAE z = 8, k = 64, 1 thread): the stochastic metrics at
evaluation batch 1000, 20 and 7 agree to ~1e-9 relative; the residue is the float32 network's
own batch-size round-off (the deterministic `kl` and `mse` move by the same amount at batch 7),
not the noise. Before the change the noise was seeded per batch: elbo moved by 2e-2 nats.
"""

from __future__ import annotations

import dataclasses
import json
import os

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from scipy import stats

from tests.gloo import free_port, init_gloo
from vaebench.config import Protocol
from vaebench.metrics.noise import image_generator, image_normals, mix
from vaebench.models.cvae import CVAE
from vaebench.models.vae import VAE
from vaebench.runner.evaluate import evaluate

STOCHASTIC = ("elbo", "iwae", "rec_nll", "elbo_cond", "iwae_cond", "rec_nll_cond")
PROTOCOL = Protocol(iwae_k=16, eval_batch_size=1000)


def _splitmix64(x: int) -> int:
    m = (1 << 64) - 1
    x = (x + 0x9E3779B97F4A7C15) & m
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & m
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & m
    return x ^ (x >> 31)


def test_mix_is_splitmix64_with_wrapping_int64():
    xs = [0, 1, 2, 7919, 2**31, 2**62 + 3, 2**63, 2**63 + 5, 2**64 - 1]
    t = torch.tensor([x - (1 << 64) if x >= 1 << 63 else x for x in xs], dtype=torch.int64)
    assert [int(v) & ((1 << 64) - 1) for v in mix(t)] == [_splitmix64(x) for x in xs]


def test_image_normals_are_keyed_by_image_and_standard_normal():
    idx = torch.arange(2000)
    z = image_normals(3, idx, 8, 5, torch.float64)
    assert z.shape == (8, 2000, 5)
    # any subset, in any order, gets the same numbers for the same images
    perm = torch.randperm(2000, generator=torch.Generator().manual_seed(0))[:37]
    assert torch.equal(image_normals(3, idx[perm], 8, 5, torch.float64), z[:, perm])
    assert torch.equal(image_normals(3, idx[5:6], 8, 5, torch.float64), z[:, 5:6])
    # fewer samples or dims are a prefix of more (dims come in Box-Muller pairs: an odd dim too)
    assert torch.equal(image_normals(3, idx[:50], 3, 5, torch.float64), z[:3, :50])
    assert torch.equal(image_normals(3, idx[:50], 8, 2, torch.float64), z[:, :50, :2])
    # other seeds, other images, other samples and dims: different numbers
    assert not torch.equal(image_normals(4, idx[:10], 8, 5, torch.float64), z[:, :10])
    flat = z.flatten()
    assert len(torch.unique(flat)) == len(flat)
    assert stats.kstest(flat.numpy(), "norm").pvalue > 1e-3
    assert abs(flat.mean().item()) < 0.01 and abs(flat.var().item() - 1) < 0.01
    # neighbouring images' and dims' numbers are uncorrelated
    assert abs(torch.corrcoef(torch.stack([z[:, :-1].flatten(), z[:, 1:].flatten()]))[0, 1]) < 0.01
    assert abs(torch.corrcoef(torch.stack([z[..., :-1].flatten(), z[..., 1:].flatten()]))[0, 1]) < 0.01
    g1, g2 = image_generator(0, 5), image_generator(0, 5)
    assert torch.equal(torch.randn(4, generator=g1), torch.randn(4, generator=g2))
    assert not torch.equal(torch.randn(4, generator=image_generator(0, 6)), torch.randn(4, generator=image_generator(0, 5)))


@pytest.fixture(scope="module")
def models(digits):
    out = {}
    for cls in (VAE, CVAE):
        torch.manual_seed(0)
        m = cls(digits.image_shape, 4)
        opt = torch.optim.Adam(m.parameters(), lr=3e-3)
        for _ in range(100):  # a little training, so that the posterior is not the prior
            i = torch.randint(len(digits.train_x), (128,))
            loss = m.objective(digits.train_x[i], digits.train_y[i])["loss"]
            opt.zero_grad()
            loss.backward()
            opt.step()
        out[cls.__name__] = m.eval()
    return out


@pytest.mark.parametrize("name", ["VAE", "CVAE"])
def test_metrics_do_not_depend_on_the_evaluation_batch_size(models, digits, name):
    res = {bs: evaluate(models[name], digits, dataclasses.replace(PROTOCOL, eval_batch_size=bs), 0)[0] for bs in (1000, 20, 7)}
    keys = [k for k in STOCHASTIC if k in res[1000]]
    assert len(keys) >= 3
    for bs in (20, 7):
        for key in keys:
            # float32 network round-off between batch shapes, not noise (which moved elbo by ~1e-3)
            assert res[bs][key] == pytest.approx(res[1000][key], rel=1e-7, abs=0), (bs, key)
    # and the noise is real: another seed moves the stochastic metrics
    other = evaluate(models[name], digits, PROTOCOL, 1)[0]
    assert other[keys[0]] != pytest.approx(res[1000][keys[0]], rel=1e-7)


def test_the_vae_bound_is_the_one_of_the_image_keyed_noise(models, digits):
    """evaluate's iwae is the mean of bound_terms over the test set with eps[:, j] = image_normals(seed', j)."""
    model = models["VAE"]
    metrics = evaluate(model, digits, PROTOCOL, 0)[0]
    n = len(digits.test_x)
    eps = image_normals(0 + 7919, torch.arange(n), PROTOCOL.iwae_k, model.latent_dim, torch.float64)
    with torch.no_grad():
        t = model.bound_terms(digits.test_x, k=PROTOCOL.iwae_k, eps=eps)
    assert metrics["iwae"] == pytest.approx(t["iwae"].double().mean().item(), rel=1e-6)
    assert metrics["elbo"] == pytest.approx(-(t["rec_nll"] + t["kl"]).double().mean().item(), rel=1e-6)


# ---------------------------------------------------------------- DDP: two gloo ranks


def _worker(rank: int, world: int, port: int, state: dict, out_dir: str) -> None:
    init_gloo(rank, world, port)
    try:
        from vaebench.data import load_dataset

        splits = load_dataset("digits")
        model = CVAE(splits.image_shape, 4)
        model.load_state_dict(state)
        metrics = evaluate(model, splits, PROTOCOL, 0)[0]
        with open(os.path.join(out_dir, f"rank{rank}.json"), "w") as f:
            json.dump(metrics, f)
    finally:
        dist.barrier()
        dist.destroy_process_group()


@pytest.mark.slow
def test_ddp_sharded_evaluation_equals_one_process(models, digits, tmp_path):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        single = evaluate(models["CVAE"], digits, PROTOCOL, 0)[0]
        method = "fork" if "fork" in mp.get_all_start_methods() else "spawn"
        mp.start_processes(_worker, args=(2, free_port(), models["CVAE"].state_dict(), str(tmp_path)), nprocs=2,
                           join=True, start_method=method)
    finally:
        torch.set_num_threads(threads)
    for r in range(2):
        ranked = json.loads((tmp_path / f"rank{r}.json").read_text())
        assert set(ranked) == set(single)
        for key, value in single.items():  # float64 summation order differs, nothing else
            assert ranked[key] == pytest.approx(value, rel=1e-12), key
