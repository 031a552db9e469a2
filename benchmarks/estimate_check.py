"""Is the expected total that `run` prints right? Estimate a suite, run it, compare.

    .venv/bin/python benchmarks/estimate_check.py SUITE --out DIR [--json OUT]

Computes the estimate exactly as `run` does before its first run (runner.estimate on this
machine, the suite's runs, the same data), then runs the suite into DIR (an empty or new folder:
every run is measured) and prints estimate, wall time and their ratio (goal: within +-30 %).
Run it on an otherwise steady machine: the estimate is measured at the start, the wall time over
the whole sweep.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("suite")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--json", type=Path)
    args = p.parse_args()
    if args.out.exists() and any(args.out.iterdir()):
        print(f"error: --out {args.out} is not empty: every run must be measured", file=sys.stderr)
        return 2
    from vaebench.config import expand, load_suite
    from vaebench.data import load_dataset
    from vaebench.runner.estimate import estimate, format_seconds
    from vaebench.runner.sweep import run_suite

    suite = load_suite(args.suite)
    runs = expand(suite)
    data = {d: load_dataset(d) for d in {s.dataset_spec for s in runs}}
    t = time.perf_counter()
    plan = estimate(runs, data, "cpu")
    measure_s = time.perf_counter() - t
    t = time.perf_counter()
    summary = run_suite(suite, args.out, quiet=True)
    wall = time.perf_counter() - t
    ratio = plan.total / wall
    print(f"{suite.name}: {len(runs)} runs, estimate {format_seconds(plan.total)} (measured in {measure_s:.0f} s), "
          f"wall {format_seconds(wall)}, estimate / wall = {ratio:.2f}; {summary.finished} finished")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"suite": suite.name, "runs": len(runs), "estimate_s": plan.total, "wall_s": wall,
                                         "ratio": ratio, "estimate_measure_s": measure_s,
                                         "per_run_estimate_s": plan.seconds, "notes": plan.notes}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
