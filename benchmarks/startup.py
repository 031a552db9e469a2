"""How soon `list`, `--help` and `report` answer: seconds from process start to the first line of
output, and to exit, and the CPU seconds the process used, median of --repeat runs, each in a
fresh interpreter (imports included).

    python benchmarks/startup.py [--repeat 5] [--code DIR ...]

`--code DIR` (repeatable) measures other checkouts' packages with this Python, alternating
between them run by run so that a before/after is measured side by side. `report` rebuilds a
copy of results/smoke in a temporary folder (the committed one is never written). Wall times grow
with the machine's load; the CPU seconds of a one-thread start barely do, and approximate the wall
time on an idle machine.
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


def first_line_and_exit(argv: list[str], env: dict, cwd: str) -> tuple[float, float, float]:
    t0 = time.perf_counter()
    # cwd outside any checkout: `-m` puts the working folder first on sys.path, before PYTHONPATH
    proc = subprocess.Popen([sys.executable, "-m", "vaebench", *argv], env=env, cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    proc.stdout.readline()
    first = time.perf_counter() - t0
    proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{argv} failed with exit {os.waitstatus_to_exitcode(status)}")
    return first, time.perf_counter() - t0, usage.ru_utime + usage.ru_stime


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--code", type=Path, action="append", help="checkout whose vaebench package is measured (repeatable)")
    args = p.parse_args()
    codes = [c.resolve() for c in (args.code or [ROOT])]
    envs = {c: {**os.environ, "PYTHONPATH": str(c), "VAEBENCH_OFFLINE": "1", "OMP_NUM_THREADS": "1"} for c in codes}
    with tempfile.TemporaryDirectory() as tmp:
        results = Path(tmp) / "smoke"
        shutil.copytree(ROOT / "results" / "smoke", results)
        commands = {"--help": ["--help"], "list": ["list"], "report": ["report", str(results)]}
        print(f"cpus: {os.cpu_count()}  load: {os.getloadavg()[0]:.2f}  repeat: {args.repeat}")
        print(f"{'code':<28} {'command':<8} {'first line s':>13} {'exit s':>8} {'cpu s':>7}")
        for name, argv in commands.items():
            times = {c: [] for c in codes}
            for _ in range(args.repeat):
                for c in codes:
                    times[c].append(first_line_and_exit(argv, envs[c], tmp))
            for c in codes:
                first, total, cpu = (statistics.median(t[i] for t in times[c]) for i in range(3))
                print(f"{str(c)[-28:]:<28} {name:<8} {first:>13.2f} {total:>8.2f} {cpu:>7.2f}")


if __name__ == "__main__":
    main()
