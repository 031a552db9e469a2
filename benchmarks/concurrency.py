"""Aggregate throughput of a sweep run one run at a time vs R runs side by side on one device.

    python benchmarks/concurrency.py --suite latent_dim --runs-per-device 4 [--accelerator gpu]
        [--models ae,vae --latent-dims 2,16 --seeds 0 --max-epochs 3]

Runs the same (sub)suite twice into fresh folders: once plainly, once with
`--runs-per-device R` (a worker pool of R processes on the device), and prints both wall times
and their ratio (the concurrency gain; the issue's goal on one H100 is >= 3x for latent_dim).
The two sweeps must produce the same metrics (the pool only changes where runs execute); the
script checks that and says so.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def sweep(args, out: Path, extra: list[str]) -> float:
    cmd = [sys.executable, "-m", "vaebench", "run", "--suite", args.suite, "--out", str(out), "--quiet",
           "--wandb", "disabled", "--accelerator", args.accelerator, *extra]
    for flag in ("models", "latent_dims", "seeds", "max_epochs"):
        value = getattr(args, flag)
        if value:
            cmd += [f"--{flag.replace('_', '-')}", value]
    start = time.perf_counter()
    subprocess.run(cmd, check=True)
    return time.perf_counter() - start


def metrics(out: Path) -> dict:
    return {p.stem: json.loads(p.read_text())["metrics"] for p in sorted((out / "runs").glob("*.json"))}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--suite", default="latent_dim")
    ap.add_argument("--runs-per-device", type=int, default=4)
    ap.add_argument("--accelerator", default="auto")
    ap.add_argument("--models")
    ap.add_argument("--latent-dims", dest="latent_dims")
    ap.add_argument("--seeds")
    ap.add_argument("--max-epochs", dest="max_epochs")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        one = sweep(args, Path(tmp) / "sequential", ["--devices", "1"])
        many = sweep(args, Path(tmp) / "pool", ["--devices", "1", "--runs-per-device", str(args.runs_per_device)])
        same = metrics(Path(tmp) / "sequential") == metrics(Path(tmp) / "pool")
        n = len(metrics(Path(tmp) / "pool"))
    print(f"{n} runs: one at a time {one:.1f} s, {args.runs_per_device} side by side {many:.1f} s, gain {one / many:.2f}x; "
          f"identical metrics: {same}")
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
