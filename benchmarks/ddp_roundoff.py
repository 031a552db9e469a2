"""How far a 2-process DDP run (gloo, CPU) drifts from the 1-process run, per epoch.

    .venv/bin/python benchmarks/ddp_roundoff.py [--epochs 1,2,3,6] [--caps native,avx2,default]

A DDP step is the single-device step up to float32 summation order (tests/test_scale.py checks
the first step's gradients); training amplifies that round-off. For each ATEN_CPU_CAPABILITY
setting and each epoch count this runs tests/test_scale.py's suite (digits, AE/VAE/CVAE/PCA,
z=2, lr 3e-3, no FID) on 1 process and on 2 DDP processes and prints, per metric, the largest
relative difference over the models: the numbers the DDP tolerance in tests/test_scale.py is
derived from. Every command is printed.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.test_scale import SCALE_SUITE, rel_diffs  # noqa: E402


def run(suite: Path, out: Path, cap: str, ddp: bool) -> dict:
    cmd = [sys.executable, "-m", "vaebench", "run", "--suite", str(suite), "--accelerator", "cpu", "--devices",
           "2" if ddp else "1", *(["--strategy", "ddp"] if ddp else []), "--out", str(out), "--wandb", "disabled", "--quiet"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    if cap != "native":
        env["ATEN_CPU_CAPABILITY"] = cap
    print(("" if cap == "native" else f"ATEN_CPU_CAPABILITY={cap} ") + shlex.join(cmd), flush=True)
    subprocess.run(cmd, env=env, check=True)
    return {p.stem: json.loads(p.read_text()) for p in sorted((out / "runs").glob("*.json"))}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", default="1,2,3,6")
    ap.add_argument("--caps", default="native,avx2,default", help="ATEN_CPU_CAPABILITY values (native = unset)")
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for cap in args.caps.split(","):
            for epochs in map(int, args.epochs.split(",")):
                suite = Path(tmp) / f"scale_{epochs}.yaml"
                suite.write_text(yaml.safe_dump({**SCALE_SUITE, "protocol": {**SCALE_SUITE["protocol"], "max_epochs": epochs}}))
                single = run(suite, Path(tmp) / f"{cap}-{epochs}-single", cap, False)
                ddp = run(suite, Path(tmp) / f"{cap}-{epochs}-ddp", cap, True)
                per_metric: dict[str, float] = defaultdict(float)
                for key, d in rel_diffs(single, ddp).items():
                    metric = key.split(":", 1)[1]
                    per_metric[metric] = max(per_metric[metric], d)
                rows.append((cap, epochs, dict(per_metric)))
    metrics = sorted({m for _, _, d in rows for m in d})
    print("\n| ATEN_CPU_CAPABILITY | epochs | max over metrics | " + " | ".join(metrics) + " |")
    print("|---|---|---|" + "---|" * len(metrics))
    for cap, epochs, d in rows:
        print(f"| {cap} | {epochs} | {max(d.values()):.2g} | " + " | ".join(f"{d.get(m, 0):.2g}" for m in metrics) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
