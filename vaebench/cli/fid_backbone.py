"""`python -m vaebench fid-backbone`: show a dataset's shipped FID classifier, or build one here and compare."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from vaebench.cli._args import add_data_root


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "fid-backbone",
        help="show the shipped dataset classifier FID uses (file, hashes, test accuracy); --build trains one here and compares",
    )
    p.add_argument("--dataset", required=True, help="dataset name (see `list`)")
    p.add_argument("--build", action="store_true",
                   help="train the classifier here (minutes on CPU) and report how far it is from the shipped one")
    p.add_argument("--seed", type=int, default=0, help="with --build: training seed (the shipped weights used 0)")
    p.add_argument("--out", help="with --build: write the trained weights (a state dict) to this file")
    add_data_root(p)
    p.set_defaults(handler=cmd_fid_backbone)
    return p


def cmd_fid_backbone(args) -> int:
    from vaebench.data.registry import check_dataset_name, load_dataset
    from vaebench.errors import UserError
    from vaebench.metrics import fid_backbone as fb
    from vaebench.metrics.fid_ruler import compare_with_shipped

    check_dataset_name(args.dataset)
    if not args.build and (args.out or args.seed):
        raise UserError("fid-backbone: --out and --seed only apply with --build")
    splits = load_dataset(args.dataset, getattr(args, "data_root", None))
    shipped = fb.shipped_classifier(splits)
    w = fb.SHIPPED[shipped.id]
    now = fb.classifier_accuracy(shipped.net, splits.test_x.cpu(), splits.test_y.long().cpu())
    print(f"backbone:       {shipped.id} (shipped; FID always uses it)")
    print(f"weights file:   {w.path}")
    print(f"file sha256:    {w.file_sha256} (checked)")
    print(f"weights sha256: {w.weights_sha256} (records' backbone_weights_sha256)")
    print(f"test accuracy:  {now:.4f} measured now, {w.test_acc:.4f} stated ({len(splits.test_x)} test images)")
    print(f"feature dim:    {shipped.feature_dim}")
    legacy = Path(os.environ.get("VAEBENCH_CACHE") or Path.home() / ".cache" / "vaebench") / "fid_backbones"
    if legacy.is_dir():
        print(f"note:           {legacy} (per-machine backbones of vaebench < shipped weights) is no longer read; you may delete it")
    if not args.build:
        ok, why = fb.inception_status()
        print(f"inception:      {'available' if ok else 'unavailable'} ({why})")
        return 0
    print(f"training {fb.classifier_id(splits.name, shipped.arch, args.seed)} here ...", flush=True)
    built = fb.train_classifier(splits, seed=args.seed)
    cmp = compare_with_shipped(built, splits)
    print(f"built:          {built.id} in {built.build_seconds:.1f}s, weights sha256 {built.weights_sha256}"
          + (" (= shipped)" if built.weights_sha256 == shipped.weights_sha256 else " (differs from shipped)"))
    print(f"test accuracy:  built {cmp['other']['test_acc_now']:.4f} vs shipped {cmp['shipped']['test_acc_now']:.4f}")
    print("FID vs the test split, same images measured with each ruler:")
    print(f"  {'images':<22} {'shipped':>12} {'built':>12} {'rel diff':>10}")
    for name, r in cmp["fid"].items():
        print(f"  {name:<22} {r['shipped']:>12.6g} {r['other']:>12.6g} {r['rel_diff']:>+10.3%}")
    print(f"a FID measured with the built net would differ by up to {cmp['max_abs_rel_diff']:.3%} on these pairs;"
          " records always use the shipped one")
    if args.out:
        sha = fb.save_state_dict(built.net, args.out)
        print(f"wrote {args.out} (file sha256 {sha}); to ship it, copy it to {w.path} and update SHIPPED in {fb.__file__}")
    return 0
