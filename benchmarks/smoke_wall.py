"""Smoke-suite wall time (including interpreter start-up) and bitwise reproducibility.

    .venv/bin/python benchmarks/smoke_wall.py [--out DIR]

Runs `python -m vaebench run --suite smoke` twice into fresh folders, prints each wall time,
checks that every metric of every run is bitwise identical between the two, and times the
re-run of a finished suite (everything skipped). The budget is 60 s on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BUDGET_S = 60.0


def run(out: Path) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "vaebench", "run", "--suite", "smoke", "--out", str(out), "--quiet"], check=True)
    return time.perf_counter() - start


def metrics(out: Path) -> dict:
    return {p.stem: json.loads(p.read_text())["metrics"] for p in sorted((out / "runs").glob("*.json"))}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, help="keep the first run's results here")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        a = args.out or Path(tmp) / "a"
        b = Path(tmp) / "b"
        t_a, t_b = run(a), run(b)
        t_skip = run(a)
        ma, mb = metrics(a), metrics(b)
    identical = ma == mb and len(ma) == 8
    print(f"smoke wall time: {t_a:.1f} s, {t_b:.1f} s (budget {BUDGET_S:.0f} s); re-run with all runs done: {t_skip:.1f} s")
    print(f"bitwise-identical metrics across the two runs: {identical} ({len(ma)} runs, {sum(len(m) for m in ma.values())} values)")
    return 0 if identical and max(t_a, t_b) <= BUDGET_S else 1


if __name__ == "__main__":
    raise SystemExit(main())
