"""`python -m vaebench fid-backbone`: build (or load from the cache) a dataset's FID classifier."""

from __future__ import annotations

import argparse
import time

from vaebench.cli._args import add_data_root


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "fid-backbone",
        help="build (or load from the cache) the dataset classifier used as FID backbone; print its id, hash, accuracy",
    )
    p.add_argument("--dataset", required=True, help="dataset name (see `list`)")
    p.add_argument("--seed", type=int, default=0, help="training seed of the classifier (default 0, the one FID uses)")
    p.add_argument("--rebuild", action="store_true", help="retrain even when a valid cache file exists")
    add_data_root(p)
    p.add_argument("--cache-dir", help="backbone cache folder (default $VAEBENCH_CACHE/fid_backbones or ~/.cache/vaebench/fid_backbones)")
    p.set_defaults(handler=cmd_fid_backbone)
    return p


def cmd_fid_backbone(args) -> int:
    from vaebench.data.registry import check_dataset_name, load_dataset
    from vaebench.metrics.fid_backbone import build_classifier_backbone, inception_status

    check_dataset_name(args.dataset)
    splits = load_dataset(args.dataset, getattr(args, "data_root", None))
    start = time.perf_counter()
    clf = build_classifier_backbone(
        splits, seed=args.seed, cache_dir=getattr(args, "cache_dir", None), rebuild=getattr(args, "rebuild", False)
    )
    seconds = time.perf_counter() - start
    ok, why = inception_status()
    print(f"backbone:       {clf.id}")
    print(f"cache file:     {clf.path} ({clf.cache_note})")
    print(f"weights sha256: {clf.weights_sha256}")
    print(f"test accuracy:  {clf.test_acc:.4f} (val {clf.val_acc:.4f}, {len(splits.test_x)} test images)")
    print(f"feature dim:    {clf.feature_dim}")
    if clf.from_cache:
        print(f"build time:     {clf.build_seconds:.1f}s when built; loaded in {seconds:.2f}s")
    else:
        print(f"build time:     {clf.build_seconds:.1f}s")
    print(f"inception:      {'available' if ok else 'unavailable'} ({why})")
    print(f"FID metric names use it as e.g. fid_samples[{clf.id}]" + ("" if not ok else " when backbone='classifier'"))
    return 0
