"""Independent runs of one sweep side by side: on several GPUs, or several per GPU.

Small models gain nothing from DDP; what fills a machine is running different runs at the same
time. The pool starts W worker processes of the very same `run` command, worker k with
`--shard k/W`, its own device group (`CUDA_VISIBLE_DEVICES`) and a log file
(`<out>/logs/worker-k.log`); the shards' records land in the one results folder (atomic
writes), and the parent builds the table when all have finished. W = (devices //
devices_per_run) * runs_per_device. Each worker also gets its share of the host's CPU cores,
max(1, cores // W), as its OpenMP / MKL / OpenBLAS thread count (torch's intra-op threads follow
OMP_NUM_THREADS), so W workers do not each start one thread per core; a count the user set in
the environment is kept. Each worker is an ordinary sweep: skipping, resuming and
failures work as for one process, and a rerun of the same command finishes what is missing.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from vaebench.errors import UserError

POOL_OPTIONS = ("--devices-per-run", "--runs-per-device", "--devices", "--shard")
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def host_cores() -> int:
    """The CPU cores this process may run on (its affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def thread_env(workers: int, environ=None, cores: int | None = None) -> dict[str, str]:
    """Per-worker thread counts, host cores // workers (at least 1), for each of THREAD_VARIABLES
    the user has not set."""
    environ = os.environ if environ is None else environ
    share = str(max(1, (host_cores() if cores is None else cores) // max(1, workers)))
    return {name: share for name in THREAD_VARIABLES if not environ.get(name)}


@dataclass(frozen=True)
class Worker:
    index: int
    count: int
    env: dict[str, str]
    devices: str  # what the worker passes to --devices


def device_ids(accelerator: str, devices) -> list[str] | None:
    """The GPU ids the pool may use, or None for CPU-only workers."""
    import torch

    use_gpu = accelerator in ("gpu", "cuda") or (accelerator == "auto" and torch.cuda.is_available())
    if not use_gpu:
        return None
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    ids = [i.strip() for i in visible.split(",") if i.strip()] if visible else [str(i) for i in range(torch.cuda.device_count())]
    if devices in ("auto", -1, "-1"):
        return ids
    if isinstance(devices, int):
        if devices > len(ids):
            raise UserError(f"--devices {devices}: only {len(ids)} GPU(s) visible")
        return ids[:devices]
    if isinstance(devices, list):
        return [ids[int(d)] for d in devices]
    raise UserError(f"--devices {devices!r} cannot be split into a worker pool")


def plan(accelerator: str, devices, devices_per_run: int, runs_per_device: int) -> list[Worker]:
    if devices_per_run < 1 or runs_per_device < 1:
        raise UserError("--devices-per-run and --runs-per-device must be >= 1")
    ids = device_ids(accelerator, devices)
    if ids is None:  # CPU: runs_per_device processes share the machine's cores
        groups: list[list[str] | None] = [None]
    else:
        if len(ids) < devices_per_run:
            raise UserError(f"--devices-per-run {devices_per_run} needs that many GPUs; {len(ids)} visible")
        groups = [ids[i : i + devices_per_run] for i in range(0, len(ids) - devices_per_run + 1, devices_per_run)]
    slots = [g for g in groups for _ in range(runs_per_device)]
    workers = []
    base_port = int(os.environ.get("MASTER_PORT", "29500"))
    threads = thread_env(len(slots))
    for k, group in enumerate(slots):
        env = dict(threads) if group is None else {**threads, "CUDA_VISIBLE_DEVICES": ",".join(group)}
        if devices_per_run > 1:  # each worker's DDP runs get their own rendezvous port
            env["MASTER_PORT"] = str(base_port + 1 + k)
        workers.append(Worker(k, len(slots), env, "1" if group is None else str(devices_per_run)))
    return workers


def strip_options(argv: list[str], options=POOL_OPTIONS) -> list[str]:
    """argv without the given `--opt value` / `--opt=value` pairs."""
    out, skip = [], False
    for a in argv:
        if skip:
            skip = False
            continue
        if a in options:
            skip = True
            continue
        if any(a.startswith(f"{o}=") for o in options):
            continue
        out.append(a)
    return out


def run_pool(argv: list[str], workers: list[Worker], out: Path, console) -> int:
    """Start the workers, show how many records exist, wait; the worst exit code."""
    logs = out / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    base = [sys.executable, "-m", "vaebench", *strip_options(argv)]
    procs = []
    for w in workers:
        cmd = [*base, "--devices", w.devices, "--shard", f"{w.index}/{w.count}", "--no-report"]
        log = open(logs / f"worker-{w.index}.log", "w")  # noqa: SIM115 (closed below)
        procs.append((subprocess.Popen(cmd, env={**os.environ, **w.env}, stdout=log, stderr=subprocess.STDOUT), log))
        console.print(f"worker {w.index}/{w.count}: {' '.join(cmd[2:])} {w.env or ''} -> {log.name}")
    codes = []
    try:
        for p, log in procs:
            codes.append(p.wait())
            log.close()
    except KeyboardInterrupt:
        for p, _ in procs:
            p.terminate()
        raise
    for w, code in zip(workers, codes, strict=True):
        if code != 0:
            console.print(f"[red]worker {w.index} exited with {code}[/]; see {logs / f'worker-{w.index}.log'}")
    return worst_exit_code(codes)


def worst_exit_code(codes: list[int]) -> int:
    """0 if all succeeded; else a failure (2 usage, 128 + n for a signal, anything else) before
    3 (a run diverged, which is a result, not a crash)."""
    failures = [128 - c if c < 0 else c for c in codes if c not in (0, 3)]
    if failures:
        return failures[0]
    return 3 if 3 in codes else 0


