"""The prepared GPU check: everything a lent GPU should measure, inside one time budget.

    python3 benchmarks/gpu_check.py [--budget 540] [--out DIR] [--tiny]

Run from the repository root on the GPU machine's own image (torch, lightning, torchmetrics,
torchvision, scikit-learn; no network). What vaebench needs beyond that travels with the working
tree in `.gpu/` (`scripts/gather_gpu_wheels.sh` fills it): the wheels, installed here offline
into a temporary folder (`pip install --no-index`), and Fashion-MNIST (xz-compressed idx files),
unpacked into a temporary data root. W&B is not carried (its wheel alone is larger than what
may travel): every stage runs with `--wandb disabled`, and vaebench's tracking works without it.

Stages, in order, each a subprocess with its own time cap, cut to what is left of the budget
(a stage that would get under its minimum is skipped and says so; one that runs out of time is
interrupted, then killed, and the check goes on):

  device        environment (GPU, driver, torch / CUDA / cuDNN versions), a float32 matmul
  determinism   the suite VAE trained twice per mode: default mode bitwise identical? fast?
  throughput    vaebench's path / a plain loop, fp32 at batch 256
  fast          the same for the fast mode at batch 1024, and with CUDA graphs (fast_cg)
  concurrency   aggregate images/s of 1, 4 and 8 runs side by side on the device
  suite         as much of the full latent_dim suite as fits, as a worker pool (sharded, with
                --runs-per-device), resumable: a later check with the same folder continues it

Everything goes under DIR (default $OUT): `summary.json` (every stage's status, seconds and
results; rewritten after each stage), `check.log`, `stages.tar.gz` (each stage's JSON and log)
and `latent_dim.tar.gz` (the suite's records, table, plots and worker logs; no checkpoints):
four files, no folders, as the device tool brings back. The check stops `--reserve` seconds
before the budget to pack them. `--tiny` is the same check at a CPU size (a few steps, k = 2,
small data, torch.compile through the aot_eager backend; the suite stage on the smoke suite's digits, whose evaluation takes seconds where
Fashion-MNIST's takes minutes on a small CPU), run by tests/test_gpu_check.py so that it is known
to work before a GPU call.
"""

from __future__ import annotations

import argparse
import json
import lzma
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CARRIED = ROOT / ".gpu"  # wheels/ and data/, filled by scripts/gather_gpu_wheels.sh
FIDLESS = ["--set", "protocol.fid_backbone=none", "--set", "protocol.figure_latent_dims=[]"]


def stages(tiny: bool, accelerator: str, work: Path) -> list[tuple[str, list[str], float, float]]:
    """(name, command, cap seconds, minimum seconds) of every stage."""
    py = sys.executable
    b = str(ROOT / "benchmarks")
    j = lambda name: ["--json", str(work / f"{name}.json")]  # noqa: E731
    if tiny:
        small = ["--train-size", "256", "--batch", "32"]
        return [
            ("device", [py, f"{b}/_env.py", str(work / "device.json")], 120, 5),
            ("determinism", [py, f"{b}/determinism_check.py", "--steps", "3", *small, *j("determinism")], 300, 10),
            ("throughput", [py, f"{b}/throughput.py", "--modes", "fp32", "--steps", "4", "--warmup", "1",
                            "--repeats", "1", "--threads", "1", *small, *j("throughput")], 300, 10),
            ("fast", [py, f"{b}/throughput.py", "--modes", "fast", "--steps", "3", "--warmup", "1",
                      "--repeats", "1", "--threads", "1", *small, *j("fast")], 300, 10),
            ("concurrency", [py, f"{b}/concurrency.py", "--suite", "smoke", "--model", "vae", "--latent-dim", "2",
                             "--levels", "1,2", "--max-steps", "3", "--accelerator", accelerator,
                             "--set", "protocol.iwae_k=2", *FIDLESS, *j("concurrency")], 400, 20),
            # smoke (8x8 digits) for the suite stage: the same pool, interruption, report and packing,
            # where a latent_dim (Fashion-MNIST) evaluation alone takes minutes on a small CPU
            ("suite", [py, "-m", "vaebench", "run", "--suite", "smoke", "--models", "pca,vae", "--latent-dims", "2",
                       "--seeds", "0", "--max-steps", "3", "--set", "protocol.iwae_k=2", *FIDLESS,
                       "--runs-per-device", "2", "--accelerator", accelerator, "--out", str(work / "latent_dim"),
                       "--wandb", "disabled"], 1e9, 20),
        ]
    return [
        ("device", [py, f"{b}/_env.py", str(work / "device.json")], 60, 10),
        ("determinism", [py, f"{b}/determinism_check.py", "--steps", "200", "--train-size", "20000", *j("determinism")], 90, 30),
        ("throughput", [py, f"{b}/throughput.py", "--modes", "fp32", "--steps", "400", "--warmup", "40", "--repeats", "2",
                        *j("throughput")], 75, 30),
        ("fast", [py, f"{b}/throughput.py", "--modes", "fast,fast_cg", "--steps", "300", "--warmup", "30", "--repeats", "1",
                  *j("fast")], 150, 60),
        ("concurrency", [py, f"{b}/concurrency.py", "--levels", "1,4,8", "--max-steps", "1000", "--accelerator", accelerator,
                         "--set", "protocol.iwae_k=8", *FIDLESS, "--timeout", "60", *j("concurrency")], 150, 60),
        ("suite", [py, "-m", "vaebench", "run", "--suite", "latent_dim", "--runs-per-device", "8",
                   "--accelerator", accelerator, "--out", str(work / "latent_dim"), "--wandb", "disabled"], 1e9, 60),
    ]


def unpack(packed: list[Path], root: Path) -> Path:
    """The xz files decompressed into root/fashion_mnist/ (a VAEBENCH_DATA root); returns root."""
    (root / "fashion_mnist").mkdir(parents=True, exist_ok=True)
    for f in packed:
        with lzma.open(f) as src, open(root / "fashion_mnist" / f.stem, "wb") as dst:
            shutil.copyfileobj(src, dst)
    return root


def prepare_environment(log, tiny: bool = False) -> dict[str, str]:
    """Installs the carried wheels (when vaebench's dependencies are missing) and unpacks the
    carried Fashion-MNIST (when no copy is found); returns the environment for the stages. At
    the tiny size torch.compile uses the aot_eager backend unless VAEBENCH_COMPILE_BACKEND says
    otherwise (the same graph capture; inductor's kernel generation takes minutes on a small CPU)."""
    env = {**os.environ, "VAEBENCH_OFFLINE": "1", "WANDB_MODE": "disabled", "PYTHONUNBUFFERED": "1",
           "CUBLAS_WORKSPACE_CONFIG": os.environ.get("CUBLAS_WORKSPACE_CONFIG", ":4096:8")}
    if tiny:
        env.setdefault("VAEBENCH_COMPILE_BACKEND", "aot_eager")
    paths = [str(ROOT)]
    wheels = sorted((CARRIED / "wheels").glob("*.whl"))
    missing = subprocess.run([sys.executable, "-c", "import jsonschema, yaml, rich, scipy, matplotlib"],
                             capture_output=True).returncode != 0
    if missing and wheels:
        site = Path(tempfile.mkdtemp(prefix="vaebench-site-"))
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps", "--no-compile",
                        "--no-cache-dir", "--target", str(site), *map(str, wheels)], check=True)
        paths.append(str(site))
        log(f"installed {len(wheels)} carried wheels into {site}")
    elif missing:
        log("warning: vaebench's dependencies are missing and no wheels are carried (scripts/gather_gpu_wheels.sh)")
    env["PYTHONPATH"] = os.pathsep.join([*paths, *([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])])
    found = subprocess.run([sys.executable, "-c", "from vaebench.data.fashion_mnist import find_files; "
                            "raise SystemExit(find_files() is None)"], env=env, capture_output=True).returncode == 0
    packed = sorted((CARRIED / "data").glob("*.xz"))
    if not found and packed:
        root = unpack(packed, Path(tempfile.mkdtemp(prefix="vaebench-data-")))
        env["VAEBENCH_DATA"] = str(root)
        log(f"unpacked {len(packed)} carried Fashion-MNIST files into {root / 'fashion_mnist'}")
    elif not found:
        log("warning: no Fashion-MNIST here and none carried: the stages that need it will fail")
    return env


def run_stage(cmd: list[str], env: dict, timeout: float, log_path: Path, grace: float) -> tuple[int | None, str]:
    """Runs `cmd` in its own session; past `timeout`, SIGINT to its process group, then SIGKILL
    after `grace` seconds. (return code or None, how it ended)."""
    with open(log_path, "w") as log:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            return proc.wait(timeout=timeout), "finished"
        except subprocess.TimeoutExpired:
            pass
        os.killpg(proc.pid, signal.SIGINT)  # a sweep keeps what it finished, checkpoints resume the rest
        try:
            proc.wait(timeout=grace)
            return proc.returncode, "interrupted at its time limit"
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            return None, "killed at its time limit"


def suite_summary(folder: Path) -> dict:
    recs = [json.loads(p.read_text()) for p in sorted((folder / "runs").glob("*.json"))]
    return {"records": len(recs), "ok": sum(r.get("status") == "ok" for r in recs),
            "diverged": sum(r.get("status") == "diverged" for r in recs),
            "checkpoints_left": len(list((folder / "checkpoints").glob("*.ckpt"))),
            "train_s": sum(r.get("times", {}).get("train_s", 0.0) for r in recs),
            "runs": {r["run_id"]: {"status": r.get("status"), "epochs": r.get("train", {}).get("epochs"),
                                   "train_s": r.get("times", {}).get("train_s"), "total_s": r.get("times", {}).get("total_s")}
                     for r in recs}}


def with_runs_per_device(cmd: list[str], concurrency: dict) -> list[str]:
    """The suite command with --runs-per-device set to the concurrency level that trained the most
    images/s (left as it is when that stage measured nothing)."""
    levels = {int(r): lv["train_img_s"] for r, lv in concurrency.get("levels", {}).items() if "train_img_s" in lv}
    if not levels:
        return cmd
    i = cmd.index("--runs-per-device")
    return [*cmd[: i + 1], str(max(levels, key=levels.get)), *cmd[i + 2 :]]


def goals(results: dict) -> dict:
    """The issue's GPU goals, where measured (None where the stage gave no number)."""
    fp32 = results.get("throughput", {}).get("modes", {}).get("fp32", {})
    fast = results.get("fast", {}).get("modes", {})
    best_fast = max((m.get("vaebench_img_s", 0.0) for m in fast.values()), default=0.0) or None
    levels = results.get("concurrency", {}).get("levels", {})
    gains = [lv["gain"] for lv in levels.values() if "gain" in lv]
    return {"ratio_fp32_b256_ge_0.95": fp32["ratio"] >= 0.95 if "ratio" in fp32 else None,
            "fast_ge_100k_img_s": best_fast >= 100_000 if best_fast else None,
            "concurrency_gain_ge_3x": max(gains) >= 3 if len(gains) > 1 else None}


def pack(out: Path, work: Path, limit: int = 16 * 2**20) -> None:
    with tarfile.open(out / "stages.tar.gz", "w:gz") as tar:
        for p in sorted(work.glob("*.json")) + sorted((work / "logs").glob("*.log")):
            tar.add(p, arcname=str(p.relative_to(work)))
    suite = work / "latent_dim"
    if not suite.is_dir():
        return
    for skip in ((".ckpt",), (".ckpt", ".npz"), (".ckpt", ".npz", ".png", ".html")):  # within the tool's 16 MiB a file
        target = out / "latent_dim.tar.gz"
        with tarfile.open(target, "w:gz") as tar:
            for p in sorted(suite.rglob("*")):
                if p.is_file() and not p.name.endswith(skip):
                    tar.add(p, arcname=str(p.relative_to(work)))
        if target.stat().st_size <= limit:
            return


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--budget", type=float, default=None, help="seconds for the whole check (default 540; --tiny 1500)")
    ap.add_argument("--out", type=Path, default=None, help="where the results go (default $OUT, else ./gpu_check_out)")
    ap.add_argument("--tiny", action="store_true", help="the same check at a CPU size (tests)")
    ap.add_argument("--reserve", type=float, default=None, help="seconds kept at the end for packing (default 20; --tiny 5)")
    ap.add_argument("--only", help="comma-separated stage names to run (default: all)")
    args = ap.parse_args(argv)
    start = time.monotonic()
    budget = args.budget if args.budget is not None else (1500.0 if args.tiny else 540.0)
    reserve = args.reserve if args.reserve is not None else (5.0 if args.tiny else 20.0)
    deadline = start + budget - reserve
    out = args.out or Path(os.environ.get("OUT") or "gpu_check_out")
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="gpu-check-"))
    (work / "logs").mkdir()
    log_file = open(out / "check.log", "a")  # noqa: SIM115 (closed at the end)

    def log(msg: str) -> None:
        line = f"[{time.monotonic() - start:6.1f}s] {msg}"
        print(line, flush=True)
        log_file.write(line + "\n")
        log_file.flush()

    summary = {"budget_s": budget, "tiny": args.tiny, "stages": {}, "results": {}}
    env = prepare_environment(log, args.tiny)
    import torch  # after the environment: only to choose the accelerator (no CUDA context is made)

    accelerator = "gpu" if torch.cuda.is_available() else "cpu"
    summary["accelerator"] = accelerator
    log(f"accelerator {accelerator}; budget {budget:.0f} s, stopping {reserve:.0f} s before it")
    only = set(args.only.split(",")) if args.only else None
    for name, cmd, cap, minimum in stages(args.tiny, accelerator, work):
        if only and name not in only:
            continue
        left = deadline - time.monotonic()
        grace = min(15.0, max(2.0, 0.1 * left))
        timeout = min(cap, left - grace)
        if timeout < minimum:
            summary["stages"][name] = {"status": f"skipped: {left:.0f} s left, needs {minimum:.0f}"}
            log(f"{name}: skipped ({left:.0f} s left)")
            continue
        if name == "suite" and not args.tiny:
            cmd = with_runs_per_device(cmd, summary["results"].get("concurrency", {}))
        log(f"{name}: {' '.join(Path(c).name if c.startswith(str(ROOT)) else c for c in cmd[1:])} (up to {timeout:.0f} s)")
        t = time.monotonic()
        code, how = run_stage(cmd, env, timeout, work / "logs" / f"{name}.log", grace)
        seconds = time.monotonic() - t
        status = "ok" if code == 0 and how == "finished" else (how if how != "finished" else f"failed (exit {code})")
        summary["stages"][name] = {"status": status, "exit_code": code, "seconds": round(seconds, 1)}
        result = work / f"{name}.json"
        if result.is_file():
            summary["results"][name] = json.loads(result.read_text())
        if name == "suite":
            summary["results"]["suite"] = suite_summary(work / "latent_dim")
        log(f"{name}: {status} in {seconds:.1f} s")
        if status != "ok":
            log("  " + "\n  ".join((work / "logs" / f"{name}.log").read_text().splitlines()[-15:]))
        summary["goals"] = goals(summary["results"])
        summary["elapsed_s"] = round(time.monotonic() - start, 1)
        (out / "summary.json").write_text(json.dumps(summary, indent=1))
    if (work / "latent_dim" / "runs").is_dir() and deadline + reserve - time.monotonic() > 15:
        try:  # an interrupted pool wrote no table: make it from the records there are
            report = subprocess.run([sys.executable, "-m", "vaebench", "report", str(work / "latent_dim")], cwd=ROOT, env=env,
                                    capture_output=True, text=True, timeout=deadline + reserve - time.monotonic() - 10)
            log(f"report: exit {report.returncode}")
        except subprocess.TimeoutExpired:
            log("report: out of time")
    pack(out, work)
    summary["elapsed_s"] = round(time.monotonic() - start, 1)
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    log(f"done in {summary['elapsed_s']} s; goals {summary['goals'] if 'goals' in summary else {}}")
    log_file.close()
    shutil.rmtree(work, ignore_errors=True)
    return 0 if all(s["status"] == "ok" for s in summary["stages"].values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
