"""Benchmark: procedural dSprites rendering and the six disentanglement metrics.

Measures, on this machine:

1. rendering all 737,280 dSprites images (in chunks of 16,384, as a data loader would);
2. ``evaluate_all`` — MIG, DCI (fast estimator), SAP, modularity/explicitness, BetaVAE and
   FactorVAE with disentanglement_lib's sample counts — for a realistic 10-d code of rendered
   dSprites images (see ``moment_code``), with the time of each metric;
3. DCI with the reference estimator (``"gbt"``) on the same sample, and the differences
   between its scores and the fast estimator's;
4. the same DCI comparison on a small panel of codes of the dSprites factors (disentangled,
   rotated, realistic) at a reduced sample size.

Run from the repository root (16 minutes on a busy two-core machine, most of it the reference
DCI estimator):

    .venv/bin/python benchmarks/disentanglement_metrics.py [--quick] [--skip-gbt] [--json F]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import numpy as np

from vaebench.data.dsprites_render import (
    NUM_IMAGES,
    DSprites,
    _sprite_bank,
    index_to_factors,
    render,
)
from vaebench.metrics.disentanglement import dci, evaluate_all, sample_train_test


# --------------------------------------------------------------------------- the code
class MomentCode:
    """A deterministic 10-d "encoder" of dSprites images, standing in for a trained model.

    Five dims are image moments that a decent VAE also finds — centre of mass (pos_x, pos_y),
    square root of the area (scale) and the two second-moment contrasts (orientation modulo
    the shape's symmetry) — mixed pairwise by a fixed 30-degree rotation, so that no metric
    sees a perfect code. Five dims are fixed random projections of the pixels (nuisance dims
    that carry a little of everything). One matrix product per batch.
    """

    def __init__(self, seed: int = 0):
        g = np.arange(64.0)
        r, c = np.meshgrid(g, g, indexing="ij")
        moments = [np.ones_like(r), r, c, r * r, c * c, r * c]
        rng = np.random.RandomState(seed)
        proj = rng.randn(5, 64, 64) / 64.0
        self.w = np.stack([m.ravel() for m in moments] + [p.ravel() for p in proj], 1)
        self.w = self.w.astype(np.float32)
        a = np.deg2rad(30)
        rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
        self.mix = np.eye(5)
        self.mix[:2, :2] = rot  # pos_x and pos_y share two dims
        self.mix[3:, 3:] = rot  # so do the two orientation contrasts

    def __call__(self, images: np.ndarray) -> np.ndarray:
        x = images.reshape(len(images), -1).astype(np.float32, copy=False)
        m = (x @ self.w).astype(np.float64)
        mass = np.maximum(m[:, 0], 1.0)
        r, c = m[:, 1] / mass, m[:, 2] / mass
        rr, cc, rc = m[:, 3] / mass - r * r, m[:, 4] / mass - c * c, m[:, 5] / mass - r * c
        core = np.stack([(c - 32) / 9, (r - 32) / 9, np.sqrt(mass) / 5, (cc - rr) / 20, rc / 10], 1)
        return np.hstack([core @ self.mix.T, m[:, 6:] / 3])


def factor_codes(kind: str):
    """Representation functions of a factor-level data set (observations = factor indices)."""
    sizes = np.array([3, 6, 40, 32, 32], dtype=float)
    q, _ = np.linalg.qr(np.random.RandomState(1).randn(10, 10))

    def code(f):
        f = np.asarray(f, dtype=float)
        u = f / (sizes - 1)
        ang = 2 * np.pi * f[:, 2] / 40
        noise = 0.05 * np.sin(f @ np.array([12.9898, 78.233, 37.719, 4.581, 9.151]))[:, None]
        z = np.stack([u[:, 0], u[:, 1], np.cos(ang), np.sin(ang), u[:, 3], u[:, 4]], 1)
        z = np.hstack([z, np.zeros((len(f), 4))]) + noise * np.arange(1, 11) / 10
        return z if kind == "disentangled" else z @ q

    return code


class FactorObservations(DSprites):
    """dSprites factors as observations (no rendering), for the factor-level panel."""

    def sample_observations_from_factors(self, factors, rng=None):
        return np.asarray(factors)


# --------------------------------------------------------------------------- measurements
def time_render_all(chunk: int = 16384) -> dict:
    _sprite_bank.cache_clear()
    t0 = time.perf_counter()
    _sprite_bank()
    bank = time.perf_counter() - t0
    checksum = 0
    t0 = time.perf_counter()
    for start in range(0, NUM_IMAGES, chunk):
        idx = np.arange(start, min(start + chunk, NUM_IMAGES))
        checksum += int(render(index_to_factors(idx)).sum(dtype=np.int64))
    total = time.perf_counter() - t0
    return {"sprite_bank_s": bank, "render_all_s": total, "pixels_on": checksum}


def dci_comparison(ztr, ftr, zte, fte, n_jobs) -> dict:
    out = {}
    for est in ("fast", "gbt"):
        t0 = time.perf_counter()
        out[est] = dci(ztr, ftr, zte, fte, estimator=est, n_jobs=n_jobs, random_state=0)
        out[est]["seconds"] = time.perf_counter() - t0
    keys = ("disentanglement", "completeness", "informativeness_train", "informativeness_test")
    out["fast_minus_gbt"] = {k: out["fast"][k] - out["gbt"][k] for k in keys}
    ri = np.asarray(out["fast"]["importance_matrix"]) - np.asarray(out["gbt"]["importance_matrix"])
    out["fast_minus_gbt"]["importance_max_abs"] = float(np.abs(ri).max())
    return out


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="a tenth of the sample counts")
    p.add_argument("--skip-gbt", action="store_true", help="skip the reference DCI estimator")
    p.add_argument("--json", help="also write the results to this file")
    args = p.parse_args(argv)
    scale = 10 if args.quick else 1
    n_train, n_test = 10000 // scale, 5000 // scale
    bv = dict(batch_size=64, num_train=10000 // scale, num_eval=5000 // scale)
    fv = dict(bv, num_variance_estimate=10000 // scale)
    results: dict = {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "sample_counts": {"train": n_train, "test": n_test, "beta_vae": bv, "factor_vae": fv},
    }

    print(f"== rendering all {NUM_IMAGES:,} dSprites images")
    results["render"] = time_render_all()
    print(json.dumps(results["render"], indent=1))

    print("== evaluate_all, realistic 10-d moment code on rendered dSprites (fast DCI, n_jobs=-1)")
    ds, enc = DSprites(), MomentCode()
    timings: dict = {}
    t0 = time.perf_counter()
    scores = evaluate_all(
        ds,
        enc,
        random_state=0,
        num_train=n_train,
        num_test=n_test,
        dci_estimator="fast",
        n_jobs=-1,
        beta_vae=bv,
        factor_vae=fv,
        timings=timings,
    )
    timings["total"] = time.perf_counter() - t0
    results["evaluate_all"] = {"scores": scores, "seconds": timings}
    print(json.dumps(results["evaluate_all"], indent=1))

    if not args.skip_gbt:
        print("== DCI: reference (gbt) vs fast estimator, same realistic sample, n_jobs=-1")
        sample = sample_train_test(ds, enc, n_train, n_test, 0)
        cmp = dci_comparison(*sample, n_jobs=-1)
        results["dci_realistic"] = cmp
        _print_cmp(cmp)

        print("== DCI panel on dSprites factor codes, 3,000 train / 1,500 test")
        fo = FactorObservations()
        results["dci_panel"] = {}
        for kind in ("disentangled", "rotated"):
            sample = sample_train_test(fo, factor_codes(kind), 3000 // scale, 1500 // scale, 1)
            results["dci_panel"][kind] = cmp = dci_comparison(*sample, n_jobs=-1)
            print(f"-- {kind}")
            _print_cmp(cmp)
        sample = sample_train_test(ds, enc, 3000 // scale, 1500 // scale, 1)
        results["dci_panel"]["realistic"] = cmp = dci_comparison(*sample, n_jobs=-1)
        print("-- realistic (moment code)")
        _print_cmp(cmp)

    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=1)
    return results


def _print_cmp(cmp: dict) -> None:
    keys = ("disentanglement", "completeness", "informativeness_train", "informativeness_test")
    print(f"{'':22s}{'gbt':>10s}{'fast':>10s}{'fast-gbt':>10s}")
    for k in keys:
        g, f = cmp["gbt"][k], cmp["fast"][k]
        print(f"{k:22s}{g:10.4f}{f:10.4f}{f - g:+10.4f}")
    print(f"{'seconds':22s}{cmp['gbt']['seconds']:10.1f}{cmp['fast']['seconds']:10.1f}")
    print(f"max |importance diff|: {cmp['fast_minus_gbt']['importance_max_abs']:.4f}")


if __name__ == "__main__":
    main()
