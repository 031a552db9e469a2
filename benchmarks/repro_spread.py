"""Cross-configuration spread of every metric of a suite, next to its seed-to-seed spread, and
the CI tolerances derived from both.

    .venv/bin/python benchmarks/repro_spread.py [--suite smoke] [--out runs/repro_spread]
        [--configs native,aten_default,...] [--seeds 0,1,2] [--cross-seeds 0]
        [--write-tolerances scripts/smoke_tolerances.yaml] [--k-cross 3] [--k-seed 1]

Runs `python -m vaebench run --suite SUITE` once per machine configuration (CONFIGS: CPU kernel
level, MKL code path, threads, oneDNN) into OUT/<config>, with the suite's seeds replaced by
--cross-seeds, and once more in the `native` configuration with --seeds (the seed-to-seed
spread). Finished runs are skipped (`run` resumes), so a re-run only reads; after a code change,
use a fresh --out. Every command is printed before it runs. Then, for every metric column the
records hold (whatever they are; nothing is hard-wired), per row and per metric:

- cross: max |value(config) - value(native)| over configurations (and cross seeds),
- seed: the sample std over --seeds in the native configuration,

written to OUT/spread.md (per metric: the maximum over rows; then per row) and printed.

--write-tolerances FILE writes a `compare --tolerances` file (docs/compare.md) for CI, whose
check compares n_ci seeds (the suite's seed count) with n_ci seeds. Per row, what a machine change
may move the CI's mean by is

    need = max(k_cross * cross, k_seed * seed * sqrt(2 / n_ci))

(two independent n_ci-seed means differ by seed * sqrt(2 / n_ci) in standard deviation). Per
metric the tolerance is the tightest of three forms that covers every row's need: relative
(rel = max need/|value|), absolute (abs = max need), or relative for the rows at or above the
median |value| with an absolute floor for the rest; tightest = smallest geometric mean of
allowed/need over the rows. A metric with integer values only (a count) gets abs >= 1; any other
metric gets rel >= REL_FLOOR (so bitwise-equal inputs never make a zero tolerance that the
next library version breaks).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shlex
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from vaebench.config import load_suite  # noqa: E402
from vaebench.identity import row_key  # noqa: E402

REL_FLOOR = 1e-4  # relative floor for continuous metrics: above float noise, far below any effect users care about
# oneDNN (mkldnn) has no environment switch in torch: this launcher turns it off before vaebench starts
NO_ONEDNN = ("import sys, torch; torch.backends.mkldnn.enabled = False; from vaebench.cli import main; "
             "raise SystemExit(main(sys.argv[1:]))")


@dataclass(frozen=True)
class Config:
    """One machine configuration: environment variables, protocol overrides, the launcher."""

    why: str
    env: dict[str, str] = field(default_factory=dict)
    protocol: dict = field(default_factory=dict)
    launcher: tuple[str, ...] = ("-m", "vaebench")


CONFIGS: dict[str, Config] = {
    "native": Config("this machine's defaults (torch picks its best CPU kernels, MKL its code path)"),
    "aten_default": Config("ATen's portable kernels (no SIMD): a CPU without AVX", {"ATEN_CPU_CAPABILITY": "default"}),
    "aten_avx2": Config("ATen's AVX2 kernels: a CPU without AVX-512", {"ATEN_CPU_CAPABILITY": "avx2"}),
    "mkl_avx2": Config("MKL's AVX2 code path (BLAS/GEMM of a CPU without AVX-512)", {"MKL_CBWR": "AVX2"}),
    "mkl_compatible": Config("MKL's generic SSE2 code path (BLAS of an old or other-vendor CPU)", {"MKL_CBWR": "COMPATIBLE"}),
    "avx2_machine": Config("a CPU without AVX-512: ATen's and MKL's AVX2 paths together",
                           {"ATEN_CPU_CAPABILITY": "avx2", "MKL_CBWR": "AVX2"}),
    "threads2": Config("torch on 2 threads (protocol.num_threads: 2)", protocol={"num_threads": 2}),
    "blas_omp1": Config("OpenMP/MKL/OpenBLAS pinned to 1 thread by environment",
                        {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}),
    "onednn_off": Config("oneDNN (mkldnn) off: torch.backends.mkldnn.enabled = False", launcher=("-c", NO_ONEDNN)),
}


def suite_file(suite: str, out: Path, name: str, protocol: dict) -> str:
    """The suite as given, or (with protocol overrides) a copy of it under OUT with them applied."""
    if not protocol:
        return suite
    load_suite(suite)  # a bad name or file fails here, with vaebench's message
    source = Path(suite) if Path(suite).is_file() else ROOT / "vaebench" / "suites" / f"{suite}.yaml"
    raw = yaml.safe_load(source.read_text())
    raw["protocol"] = {**(raw.get("protocol") or {}), **protocol}
    path = out / f"suite-{name}.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return str(path)


def run_config(name: str, suite: str, out: Path, seeds: list[int], dry: bool) -> float:
    cfg = CONFIGS[name]
    folder = out / name
    cmd = [sys.executable, *cfg.launcher, "run", "--suite", suite_file(suite, out, name, cfg.protocol),
           "--seeds", ",".join(map(str, seeds)), "--out", str(folder), "--wandb", "disabled", "--quiet"]
    shown = " ".join(f"{k}={v}" for k, v in cfg.env.items()) + (" " if cfg.env else "") + shlex.join(cmd)
    print(f"[{name}] {shown}", flush=True)
    if dry:
        return 0.0
    t0 = time.perf_counter()
    subprocess.run(cmd, env={**os.environ, "PYTHONPATH": str(ROOT), **cfg.env}, check=True)
    return time.perf_counter() - t0


def read(folder: Path) -> dict[tuple, dict[int, dict[str, float]]]:
    """row key (dataset, model, z, protocol id) -> seed -> metric -> value (finished runs only)."""
    out: dict[tuple, dict[int, dict[str, float]]] = defaultdict(dict)
    for path in sorted((folder / "runs").glob("*.json")):
        rec = json.loads(path.read_text())
        if rec.get("status") != "ok":
            continue
        vals = {k: float(v) for k, v in rec["metrics"].items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
        out[row_key(rec["spec"])][int(rec["spec"]["seed"])] = vals
    return out


@dataclass
class Spread:
    value: float  # native, first cross seed
    cross: float  # max |config - native|
    seed: float  # sample std over seeds (nan below 2)
    integer: bool


def spreads(out: Path, configs: list[str], cross_seeds: list[int]) -> dict[str, dict[tuple, Spread]]:
    """metric -> row -> Spread."""
    data = {name: read(out / name) for name in configs}
    native = data["native"]
    result: dict[str, dict[tuple, Spread]] = defaultdict(dict)
    for key, by_seed in sorted(native.items()):
        metrics = sorted({m for vals in by_seed.values() for m in vals})
        for m in metrics:
            seed_vals = [v[m] for v in by_seed.values() if m in v]
            cross = 0.0
            for s in cross_seeds:
                if m not in by_seed.get(s, {}):
                    continue
                for name in configs[1:]:
                    other = data[name].get(key, {}).get(s, {})
                    if m in other:
                        cross = max(cross, abs(other[m] - by_seed[s][m]))
            first = by_seed[cross_seeds[0]][m] if m in by_seed.get(cross_seeds[0], {}) else seed_vals[0]
            result[m][key] = Spread(first, cross, statistics.stdev(seed_vals) if len(seed_vals) > 1 else math.nan,
                                    all(float(v).is_integer() for v in seed_vals))
    return result


def rel(x: float, value: float) -> float:
    return x / abs(value) if value else (0.0 if x == 0 else math.inf)


def derive(rows: dict[tuple, Spread], k_cross: float, k_seed: float, n_ci: int) -> tuple[dict, str]:
    """A tolerance entry {rel, abs} for one metric, and which form it took."""
    need = {k: max(k_cross * s.cross, k_seed * (0 if math.isnan(s.seed) else s.seed) * math.sqrt(2 / n_ci))
            for k, s in rows.items()}
    val = {k: abs(s.value) for k, s in rows.items()}
    integer = all(s.integer for s in rows.values())
    live = [k for k in rows if need[k] > 0]
    if integer:
        return {"abs": max(1.0, math.ceil(max(need.values(), default=0)))}, "abs (a count: at least 1)"
    if not live:
        return {"rel": REL_FLOOR}, f"rel floor {REL_FLOOR:g} (no spread measured)"
    median = statistics.median(val.values())
    big = [k for k in live if val[k] >= median and val[k] > 0]
    forms = {
        "rel": {"rel": max(rel(need[k], val[k]) for k in live)},
        "abs": {"abs": max(need[k] for k in live)},
    }
    if big:
        r = max(need[k] / val[k] for k in big)
        forms["rel + abs floor"] = {"rel": r, "abs": max((need[k] for k in live if need[k] > r * val[k]), default=0.0)}

    def looseness(t: dict) -> float:
        allowed = [max(t.get("abs", 0.0), t.get("rel", 0.0) * val[k]) / need[k] for k in live]
        return math.exp(sum(math.log(a) for a in allowed) / len(allowed)) if all(math.isfinite(a) for a in allowed) else math.inf

    form = min(forms, key=lambda f: looseness(forms[f]))
    tol = {k: v for k, v in forms[form].items() if v > 0}
    if "rel" in tol:
        tol["rel"] = max(tol["rel"], REL_FLOOR)
        if tol.get("abs", 0.0) <= tol["rel"] * min(val[k] for k in live):  # the floor covers it already
            tol.pop("abs", None)
    return {k: float(f"{v:.3g}") for k, v in tol.items()}, form


def fmt(x: float) -> str:
    return "–" if math.isnan(x) else ("0" if x == 0 else f"{x:.3g}")


def report(res: dict[str, dict[tuple, Spread]], tols: dict[str, tuple[dict, str]], header: list[str]) -> str:
    lines = header + ["", "## Per metric (maximum over rows)", "",
                      "| metric | cross abs | cross rel | seed std abs | seed std rel | cross / seed | tolerance | form |",
                      "|---|---|---|---|---|---|---|---|"]
    for m, rows in sorted(res.items()):
        ca = max(s.cross for s in rows.values())
        cr = max(rel(s.cross, s.value) for s in rows.values())
        seeds = [s.seed for s in rows.values() if not math.isnan(s.seed)]
        sa = max(seeds) if seeds else math.nan
        sr = max((rel(s.seed, s.value) for s in rows.values() if not math.isnan(s.seed)), default=math.nan)
        ratio = max((s.cross / s.seed for s in rows.values() if not math.isnan(s.seed) and s.seed > 0), default=math.nan)
        tol, form = tols.get(m, ({}, ""))
        shown = ", ".join(f"{k} {v:g}" for k, v in tol.items())
        lines.append(f"| `{m}` | {fmt(ca)} | {fmt(cr)} | {fmt(sa)} | {fmt(sr)} | {fmt(ratio)} | {shown} | {form} |")
    lines += ["", "## Per row", "", "| row | metric | native value | cross abs | cross rel | seed std |", "|---|---|---|---|---|---|"]
    for m, rows in sorted(res.items()):
        for key, s in rows.items():
            lines.append(f"| {key[0]} {key[1]} z={key[2]} | `{m}` | {s.value:.6g} | {fmt(s.cross)} | {fmt(rel(s.cross, s.value))} | {fmt(s.seed)} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--suite", default="smoke")
    ap.add_argument("--out", type=Path, default=ROOT / "runs" / "repro_spread")
    ap.add_argument("--configs", default=",".join(CONFIGS), help=f"comma-separated, first = reference; known: {', '.join(CONFIGS)}")
    ap.add_argument("--seeds", default="0,1,2", help="seeds for the seed-to-seed spread (native configuration)")
    ap.add_argument("--cross-seeds", default="0", help="seeds run under every configuration")
    ap.add_argument("--k-cross", type=float, default=3.0, help="margin on the largest measured cross-configuration difference")
    ap.add_argument("--k-seed", type=float, default=1.0, help="margin on the seed std x sqrt(2/n_ci) (a full re-draw of the training)")
    ap.add_argument("--n-ci", type=int, help="seeds per side in the CI check (default: the suite's seed count)")
    ap.add_argument("--write-tolerances", type=Path, help="write a `compare --tolerances` YAML here")
    ap.add_argument("--dry-run", action="store_true", help="print the commands only")
    ap.add_argument("--analyse-only", action="store_true", help="run nothing: read what OUT/<config> holds (partial folders too)")
    args = ap.parse_args()
    configs = [c.strip() for c in args.configs.split(",") if c.strip()]
    unknown = [c for c in configs if c not in CONFIGS]
    if unknown or configs[0] != "native":
        ap.error(f"--configs: unknown {unknown}; the first must be native" if unknown else "--configs: the first must be native")
    seeds = [int(s) for s in args.seeds.split(",")]
    cross_seeds = [int(s) for s in args.cross_seeds.split(",")]
    n_ci = args.n_ci or len(load_suite(args.suite).seeds)
    args.out.mkdir(parents=True, exist_ok=True)
    walls: dict[str, float] = {}
    for name in configs:
        if not args.analyse_only:
            walls[name] = run_config(name, args.suite, args.out, sorted(set(seeds) | set(cross_seeds)) if name == "native" else cross_seeds, args.dry_run)
    if args.dry_run:
        return 0
    res = spreads(args.out, configs, cross_seeds)
    tols = {m: derive(rows, args.k_cross, args.k_seed, n_ci) for m, rows in res.items()}
    cmdline = "benchmarks/repro_spread.py " + shlex.join(sys.argv[1:])
    header = [f"# Metric spread: {args.suite}", "",
              f"`{cmdline}`: configurations (reference first) {', '.join(configs)}; cross seeds {cross_seeds}; "
              f"seed spread over seeds {seeds} (native); CI seeds per side n_ci = {n_ci}.", "",
              "| configuration | what it stands for | wall s |", "|---|---|---|"]
    header += [f"| {c} | {CONFIGS[c].why} | {walls[c]:.0f} |" if c in walls else f"| {c} | {CONFIGS[c].why} | (not run now) |" for c in configs]
    header += ["", f"tolerance per row = max({args.k_cross:g} x cross, {args.k_seed:g} x seed std x sqrt(2/{n_ci})); "
               "per metric the tightest of rel / abs / rel + abs floor covering every row"]
    text = report(res, tols, header)
    (args.out / "spread.md").write_text(text)
    print(text)
    if args.write_tolerances:
        comment = [f"# Generated by `{cmdline}`", f"# ({time.strftime('%Y-%m-%d')}; configurations: {', '.join(configs)}; seeds {seeds}; n_ci {n_ci}).",
                   f"# Per row: max({args.k_cross:g} x the largest cross-configuration difference, {args.k_seed:g} x the seed std x sqrt(2/{n_ci}));",
                   "# per metric the tightest rel/abs form covering every row. Re-generate after a protocol change; see docs/compare.md."]
        from vaebench.report.compare import default_tolerance

        # only metrics that gate by default: a tolerance in the file turns a gate on (docs/compare.md)
        informational = sorted(m for m in tols if not default_tolerance(m).gated)
        comment.append(f"# Not gated (informational by default, left out): {', '.join(informational) or 'none'}.")
        body: dict[str, dict] = {}
        for m, (t, _form) in sorted(tols.items()):
            if m in informational:
                continue
            # a column named per backbone (`fid_samples[digits-mlp]`) is written as the pattern
            # `fid_samples[*`: it applies whichever backbone a run names, and compare accepts it
            # when a comparison has no such column (e.g. VAE rows only)
            name = m[: m.index("[") + 1] + "*" if "[" in m else m
            prev = body.get(name, {})
            body[name] = {k: max(t.get(k, 0.0), prev.get(k, 0.0)) for k in sorted(set(t) | set(prev))}
        args.write_tolerances.write_text("\n".join(comment) + "\n" + yaml.safe_dump(body, sort_keys=True, default_flow_style=None))
        print(f"tolerances written to {args.write_tolerances}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
