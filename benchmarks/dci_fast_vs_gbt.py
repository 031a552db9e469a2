"""DCI's fast estimator against the reference (gbt) on the analytic codes of the tests, over seeds.

    OMP_NUM_THREADS=1 PYTHONPATH=. .venv/bin/python benchmarks/dci_fast_vs_gbt.py [--seeds 0,1,2,3,4] [--json F]

For every code of ``tests/test_disentanglement.py``'s ``DCI_CODES`` (1,000 training and 500
test points, three factors) and every seed, fits both estimators on the same sample and prints
fast − gbt for disentanglement, completeness and test informativeness (mean and range over the
seeds), the largest importance difference, and the band over all cases: the numbers behind
docs/disentanglement.md's "fast vs reference" paragraph and the tests' tolerance.
About 4 s per case and seed on one core, most of it the reference.
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from tests.test_disentanglement import DCI_CODES, dci_case
from vaebench.metrics.disentanglement import dci

KEYS = ("disentanglement", "completeness", "informativeness_test")


def measure(name: str, seed: int) -> dict:
    sets = dci_case(name, seed)
    out = {est: dci(*sets, estimator=est, n_jobs=1, random_state=seed) for est in ("fast", "gbt")}
    diff = {k: out["fast"][k] - out["gbt"][k] for k in KEYS}
    r = np.asarray(out["fast"]["importance_matrix"]) - np.asarray(out["gbt"]["importance_matrix"])
    diff["importance_max_abs"] = float(np.abs(r).max())
    return {"fast": {k: out["fast"][k] for k in KEYS}, "gbt": {k: out["gbt"][k] for k in KEYS}, "diff": diff}


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", default="0,1,2,3,4", help="comma-separated seeds (sample and estimators)")
    p.add_argument("--cases", default=",".join(DCI_CODES), help="comma-separated DCI_CODES names")
    p.add_argument("--json", help="write every measurement to this file")
    args = p.parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",")]
    results = {name: [measure(name, s) for s in seeds] for name in args.cases.split(",")}

    def cell(rows, side, key):
        v = np.array([r[side][key] for r in rows])
        return f"{v.mean():+.3f} [{v.min():+.3f}, {v.max():+.3f}]" if side == "diff" else f"{v.mean():.3f}"

    print(f"fast − gbt over seeds {args.seeds}: mean [min, max]")
    print("| code | D gbt | D fast − gbt | C gbt | C fast − gbt | I test gbt | I test fast − gbt | max abs. importance diff |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, rows in results.items():
        cells = [f"{cell(rows, 'gbt', k)} | {cell(rows, 'diff', k)}" for k in KEYS]
        imp = max(r["diff"]["importance_max_abs"] for r in rows)
        print(f"| {name} | {' | '.join(cells)} | {imp:.3f} |")
    for k in KEYS:
        v = [r["diff"][k] for rows in results.values() for r in rows]
        print(f"{k}: fast − gbt in [{min(v):+.4f}, {max(v):+.4f}] over all cases and seeds")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=1)
    return results


if __name__ == "__main__":
    main()
