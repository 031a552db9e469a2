"""Where a sweep's time went: per run train / evaluation (metrics, FID, disentanglement, figures) /
overhead, from the records in DIR, plus totals.

    python benchmarks/suite_breakdown.py DIR [--wall SECONDS]

`--wall` is the sweep's measured wall time (e.g. from `/usr/bin/time`); with concurrent runs
(`--runs-per-device`) the summed run times exceed it, and their ratio is the concurrency gain.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

PARTS = ("train_s", "eval_s", "fid_s", "disentanglement_s", "figures_s", "overhead_s", "total_s")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("dir", type=Path)
    ap.add_argument("--wall", type=float, help="the sweep's wall-clock seconds")
    args = ap.parse_args()
    recs = [json.loads(p.read_text()) for p in sorted((args.dir / "runs").glob("*.json"))]
    if not recs:
        raise SystemExit(f"no records under {args.dir / 'runs'}")
    print(f"{'run':<44}" + "".join(f"{p.removesuffix('_s'):>12}" for p in PARTS))
    totals = dict.fromkeys(PARTS, 0.0)
    for r in recs:
        t = r.get("times", {})
        for p in PARTS:
            totals[p] += t.get(p, 0.0)
        print(f"{r['run_id'][:44]:<44}" + "".join(f"{t.get(p, 0.0):>12.1f}" for p in PARTS))
    print(f"{'sum over ' + str(len(recs)) + ' runs':<44}" + "".join(f"{totals[p]:>12.1f}" for p in PARTS))
    if args.wall:
        print(f"wall {args.wall:.1f} s; summed run time / wall = {totals['total_s'] / args.wall:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
