"""How soon `list`, `--help` and `report` answer: seconds from process start to the first line of
output, and to exit, median of --repeat runs, each in a fresh interpreter (imports included).

    python benchmarks/startup.py [--repeat 5] [--code DIR]

`--code DIR` measures another checkout's package (e.g. the main branch's) with this Python, for
a before/after. `report` rebuilds a copy of results/smoke in a temporary folder (the committed one
is never written). Measure on an idle machine: under load every number grows with the load.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def first_line_and_exit(argv: list[str], env: dict, cwd: str) -> tuple[float, float]:
    t0 = time.perf_counter()
    # cwd outside any checkout: `-m` puts the working folder first on sys.path, before PYTHONPATH
    proc = subprocess.Popen([sys.executable, "-m", "vaebench", *argv], env=env, cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    proc.stdout.readline()
    first = time.perf_counter() - t0
    proc.stdout.read()
    if proc.wait() != 0:
        raise SystemExit(f"{argv} failed with exit {proc.returncode}")
    return first, time.perf_counter() - t0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--code", type=Path, default=ROOT, help="checkout whose vaebench package is measured")
    args = p.parse_args()
    env = {**os.environ, "PYTHONPATH": str(args.code.resolve()), "VAEBENCH_OFFLINE": "1"}
    with tempfile.TemporaryDirectory() as tmp:
        results = Path(tmp) / "smoke"
        shutil.copytree(ROOT / "results" / "smoke", results)
        commands = {"--help": ["--help"], "list": ["list"], "report": ["report", str(results)]}
        print(f"code: {args.code.resolve()}  cpus: {os.cpu_count()}  load: {os.getloadavg()[0]:.2f}  repeat: {args.repeat}")
        print(f"{'command':<10} {'first line s':>13} {'exit s':>8}")
        for name, argv in commands.items():
            times = [first_line_and_exit(argv, env, tmp) for _ in range(args.repeat)]
            first = statistics.median(t[0] for t in times)
            total = statistics.median(t[1] for t in times)
            print(f"{name:<10} {first:>13.2f} {total:>8.2f}")


if __name__ == "__main__":
    main()
