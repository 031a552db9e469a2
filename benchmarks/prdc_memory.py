"""Peak memory and time of the sample measures at the full protocol's size on a CPU.

    .venv/bin/python benchmarks/prdc_memory.py [--n 10000] [--dim 128] [--threads 1] [--json OUT]

Random float64 features (N x dim, dim 128 = the Fashion-MNIST classifier's; Inception's is 2048),
real and fake N each: the peak resident memory (ru_maxrss) added by `manifold_metrics` (chunked,
CHUNK_ELEMENTS per block) and by `kernel_inception_distance` (100 subsets of 1,000), and their wall
times. A full N x N float64 distance matrix would be N^2 * 8 bytes (800 MB at N = 10,000); the
chunked pass holds one block at a time. Each measure runs in a fresh subprocess so one peak does
not hide the other. Not a test.
"""

from __future__ import annotations

import argparse
import ast
import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

CHILD = """
import resource, sys, time, torch
torch.set_num_threads({threads})
from vaebench.metrics.kid import kernel_inception_distance
from vaebench.metrics.prdc import manifold_metrics
g = torch.Generator().manual_seed(0)
real = torch.randn({n}, {dim}, generator=g, dtype=torch.float64)
fake = torch.randn({n}, {dim}, generator=g, dtype=torch.float64) + 0.05
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t = time.perf_counter()
out = manifold_metrics(real, fake) if "{what}" == "prdc" else kernel_inception_distance(real, fake, seed=0)
seconds = time.perf_counter() - t
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(repr({{"what": "{what}", "seconds": seconds, "peak_added_mib": (after - before) / 1024, "inputs_mib": 2 * {n} * {dim} * 8 / 2**20,
            "full_matrix_mib": {n} ** 2 * 8 / 2**20, "value": out}}))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    rows = []
    for what in ("prdc", "kid"):
        code = CHILD.format(n=args.n, dim=args.dim, threads=args.threads, what=what)
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                             cwd=Path(__file__).resolve().parents[1])
        rows.append(ast.literal_eval(out.stdout.strip().splitlines()[-1]))
        print(rows[-1], flush=True)
    if args.json:
        args.json.write_text(json.dumps({"n": args.n, "dim": args.dim, "threads": args.threads, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
