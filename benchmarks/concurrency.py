"""Aggregate training throughput of R runs side by side on one device, for R in --levels.

    python benchmarks/concurrency.py [--suite latent_dim] [--model vae] [--latent-dim 16]
        [--levels 1,4,8] [--max-steps 300] [--set protocol.KEY=VALUE ...] [--accelerator auto]
        [--json PATH] [--timeout S]

Level R runs R distinct runs of one configuration (the suite's `--model` at `--latent-dim`, seeds
0 .. R-1, `--max-steps` optimizer steps each, protocol changes from `--set`, e.g. a small
`protocol.iwae_k` so that evaluation does not dominate) as one `vaebench run --runs-per-device R`
worker pool into a fresh folder: the suite's own path, with the pool's per-worker thread counts
(cores // R OpenMP / MKL / OpenBLAS threads each, unless set in the environment). Level 1 runs
through the same pool, with one worker. No sequential sweep is run first: each level is its own
set of runs, and the levels compare by images/s:

  train_img_s  sum over runs of steps x batch, over the longest run's training time (the runs
               start together, so this is the aggregate rate while they train side by side)
  wall_img_s   the same images over the whole command's wall time (start-up and evaluation in)
  gain         train_img_s of level R / that of level 1 (the issue's goal on one big GPU: >= 3x
               at R = 4 or 8 for the latent_dim VAE)
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_level(args, r: int, out: Path) -> dict:
    seeds = ",".join(str(s) for s in range(r))
    cmd = [sys.executable, "-m", "vaebench", "run", "--suite", args.suite, "--models", args.model,
           "--latent-dims", str(args.latent_dim), "--seeds", seeds, "--max-steps", str(args.max_steps),
           "--accelerator", args.accelerator, "--devices", "1", "--devices-per-run", "1", "--runs-per-device", str(r),
           "--out", str(out), "--wandb", "disabled", "--quiet", "--no-report"]
    for item in args.set or ():
        cmd += ["--set", item]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)}
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, start_new_session=True, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        log, _ = proc.communicate(timeout=args.timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # the pool and its workers: the session this started
        log, _ = proc.communicate()
        return {"runs": r, "error": f"timed out after {args.timeout} s", "log_tail": log[-2000:]}
    except BaseException:  # interrupted (a caller's time budget): the pool, in its own session, goes too
        os.killpg(proc.pid, signal.SIGKILL)
        raise
    wall = time.perf_counter() - start
    records = [json.loads(p.read_text()) for p in sorted((out / "runs").glob("*.json"))]
    ok = [rec for rec in records if rec.get("status") == "ok"]
    result = {"runs": r, "finished": len(ok), "wall_s": wall, "exit_code": proc.returncode}
    if proc.returncode != 0 or len(ok) != r:
        result.update(error=f"exit code {proc.returncode}, {len(ok)} of {r} runs finished", log_tail=log[-2000:])
        return result
    images = sum(rec["train"]["steps"] * rec["spec"]["protocol"]["batch_size"] for rec in ok)
    train_s = [rec["times"]["train_s"] for rec in ok]
    result.update(images=images, train_s=train_s, train_img_s=images / max(train_s), wall_img_s=images / wall,
                  per_run_img_s=[rec["train"]["steps"] * rec["spec"]["protocol"]["batch_size"] / t for rec, t in zip(ok, train_s, strict=True)],
                  device=ok[0]["provenance"]["device"], torch_threads=sorted({rec["provenance"]["torch_threads"] for rec in ok}))
    return result


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--suite", default="latent_dim")
    ap.add_argument("--model", default="vae", help="one of the suite's models (keeps its parameters)")
    ap.add_argument("--latent-dim", type=int, default=16)
    ap.add_argument("--levels", default="1,4,8", help="runs side by side on the device, comma-separated")
    ap.add_argument("--max-steps", type=int, default=300, help="optimizer steps of every run")
    ap.add_argument("--set", action="append", metavar="protocol.KEY=VALUE", help="a protocol change (repeatable)")
    ap.add_argument("--accelerator", default="auto")
    ap.add_argument("--timeout", type=float, default=None, help="seconds per level before its pool is killed")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from vaebench.runner.pool import host_cores, thread_env

    results = {"benchmark": "concurrency", "suite": args.suite, "model": args.model, "latent_dim": args.latent_dim,
               "max_steps": args.max_steps, "set": args.set or [], "host_cores": host_cores(), "levels": {}}
    base = None
    with tempfile.TemporaryDirectory() as tmp:
        for r in (int(v) for v in args.levels.split(",")):
            res = run_level(args, r, Path(tmp) / f"r{r}")
            res["thread_env"] = thread_env(r)
            if "error" not in res:
                base = base or (res["train_img_s"] if r == 1 else None)
                if base:
                    res["gain"] = res["train_img_s"] / base
                print(f"{r} side by side: {res['train_img_s']:,.0f} img/s training ({res['wall_img_s']:,.0f} over "
                      f"{res['wall_s']:.1f} s wall)" + (f", gain {res['gain']:.2f}x" if "gain" in res else ""), flush=True)
            else:
                print(f"{r} side by side: {res['error']}", file=sys.stderr, flush=True)
            results["levels"][str(r)] = res
            if args.json:  # after every level: a later one killed by a time budget keeps the earlier ones
                args.json.parent.mkdir(parents=True, exist_ok=True)
                args.json.write_text(json.dumps(results, indent=1))
    return 0 if all("error" not in r for r in results["levels"].values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
