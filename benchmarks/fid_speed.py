"""FID speed and reference figures on Fashion-MNIST with the classifier backbone (CPU).

    .venv/bin/python benchmarks/fid_speed.py [--threads 2] [--rebuild] [--json OUT]

Prints and (with --json) writes:
  * the classifier backbone: id, weights SHA-256, test accuracy, load time of the shipped weights,
    and with --rebuild the time to train one here;
  * FID of an untrained VAE (latent 16) at 10,000 samples: seconds for fid_samples alone
    (sampling + features + distance) and for the whole compute_fid_metrics call (test-set
    reference features + fid_samples + fid_recon); target <= 30 s on 2 CPU cores;
  * the floor: FID between classifier features of 10,000 training images and the test set.

Not a test: run it by hand, once, on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=2, help="torch intra-op threads (default 2)")
    p.add_argument("--n-samples", type=int, default=10_000)
    p.add_argument("--rebuild", action="store_true", help="also train the backbone here (measures its build time)")
    p.add_argument("--data-root")
    p.add_argument("--json", type=Path, help="also write the figures here")
    args = p.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    from vaebench.data import load_dataset
    from vaebench.metrics.fid import compute_fid_metrics, fid_of_images
    from vaebench.metrics.fid_backbone import get_backbone, shipped_classifier, train_classifier
    from vaebench.models.vae import VAE

    t = time.perf_counter()
    splits = load_dataset("fashion_mnist", args.data_root)
    load_data_s = time.perf_counter() - t

    t = time.perf_counter()
    clf = shipped_classifier(splits)
    backbone_s = time.perf_counter() - t
    built = train_classifier(splits) if args.rebuild else None
    print(f"backbone {clf.id}: test acc {clf.test_acc:.4f} (val {clf.val_acc:.4f}), sha256 {clf.weights_sha256[:16]}..., "
          f"shipped, loaded in {backbone_s:.2f}s" + (f"; trained here in {built.build_seconds:.1f}s" if built else ""), flush=True)

    torch.manual_seed(0)
    model = VAE(splits.image_shape, 16)  # untrained: the timing does not depend on the weights
    t = time.perf_counter()
    metrics, proto = compute_fid_metrics(model, splits, backbone="classifier", n_samples=args.n_samples, seed=0)
    call_s = time.perf_counter() - t
    sec = proto["seconds"]
    print(f"untrained VAE (latent 16), {args.n_samples} samples: fid_samples {sec['fid_samples']:.2f}s "
          f"(sampling + features + distance); whole call {call_s:.2f}s "
          f"(backbone load, reference features {sec['reference_features']:.2f}s, fid_recon {sec['fid_recon']:.2f}s)", flush=True)
    for k, v in metrics.items():
        print(f"  {k} = {v:.3f}")

    bb = get_backbone(splits, "classifier")
    idx = torch.randperm(len(splits.train_x), generator=torch.Generator().manual_seed(0))[: args.n_samples]
    t = time.perf_counter()
    floor = fid_of_images(splits.train_x[idx], splits.test_x, bb)
    floor_s = time.perf_counter() - t
    print(f"floor: fid(train {len(idx)} vs test {len(splits.test_x)})[{bb.id}] = {floor:.4f} ({floor_s:.2f}s)", flush=True)

    out = {
        "backbone": clf.id, "weights_sha256": clf.weights_sha256, "test_acc": clf.test_acc, "val_acc": clf.val_acc,
        "build_seconds": built.build_seconds if built else None, "backbone_load_seconds": backbone_s,
        "n_samples": args.n_samples, "fid_samples_seconds": sec["fid_samples"], "compute_fid_metrics_seconds": call_s,
        "seconds": sec, "metrics": metrics, "floor_train_vs_test": floor, "floor_seconds": floor_s,
        "load_data_seconds": load_data_s, "threads": torch.get_num_threads(), "cpu_count": os.cpu_count(),
        "platform": platform.platform(), "torch": str(torch.__version__),
        "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None,
    }
    if args.json:
        args.json.write_text(json.dumps(out, indent=2) + "\n")
    print(f"target fid_samples <= 30 s: {'met' if call_s <= 30 else 'NOT met'} (whole call {call_s:.1f}s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
