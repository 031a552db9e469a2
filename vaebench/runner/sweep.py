"""A sweep: the suite's runs, each a pure function of its RunSpec, skipping finished ones.

Everything that can be checked is checked before the first run starts (names, data, output
folder), so a bad command fails fast and never touches results that already exist.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass
from pathlib import Path

import lightning as L
import torch
from rich.console import Console

from vaebench.config import RunSpec, SuiteSpec, expand
from vaebench.data import load_dataset
from vaebench.data.base import Splits
from vaebench.errors import RunDiverged
from vaebench.metrics.fid import compute_fid_metrics
from vaebench.models.registry import build_model
from vaebench.runner.disentanglement import evaluate_disentanglement
from vaebench.runner.evaluate import evaluate
from vaebench.runner.train import train
from vaebench.runner.visuals import make_visuals
from vaebench.store import SCHEMA_VERSION, RunStore, ensure_writable, provenance


@dataclass
class SweepSummary:
    total: int
    skipped: int
    finished: int
    diverged: int
    seconds: float


def run_one(spec: RunSpec, splits: Splits, accelerator="auto", devices="auto", progress=False) -> tuple[dict, dict | None]:
    """Train and evaluate one run; returns (record, figure arrays or None)."""
    threads = torch.get_num_threads()
    if spec.protocol.num_threads:
        # tiny models run faster on one thread, and a fixed count keeps CPU results identical
        # across machines with different core counts (and safe on a loaded machine)
        torch.set_num_threads(spec.protocol.num_threads)
    try:
        return _run_one(spec, splits, accelerator, devices, progress)
    finally:
        torch.set_num_threads(threads)


def _run_one(spec: RunSpec, splits: Splits, accelerator, devices, progress) -> tuple[dict, dict | None]:
    t0 = time.perf_counter()
    L.seed_everything(spec.seed, workers=False, verbose=False)  # the initial weights are part of the run
    model = build_model(spec.model, splits.image_shape, spec.latent_dim, splits.num_classes, spec.protocol.lr)
    record = {
        "schema_version": SCHEMA_VERSION,
        "run_id": spec.run_id,
        "spec": spec.to_dict(),
        "dataset": {
            "name": splits.name, "checksum": splits.checksum, "source": splits.source,
            "n_train": len(splits.train_x), "n_val": len(splits.val_x), "n_test": len(splits.test_x),
        },
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }
    try:
        info = train(model, splits, spec.protocol, spec.seed, accelerator, devices, progress)
    except RunDiverged as exc:
        record.update(status="diverged", diverged_at_step=exc.step, diverged_value=str(exc.value), metrics={})
        record["times"] = {"train_s": time.perf_counter() - t0, "eval_s": 0.0, "total_s": time.perf_counter() - t0}
        record["provenance"] = provenance(str(getattr(model, "device", "cpu")))
        return record, None
    device = next(model.parameters()).device if isinstance(model, torch.nn.Module) else torch.device("cpu")
    metrics, eval_s = evaluate(model, splits, spec.protocol, spec.seed, device)
    fid_protocol = None
    if spec.protocol.fid_backbone != "none":
        fid, fid_protocol = compute_fid_metrics(
            model, splits, backbone=spec.protocol.fid_backbone, n_samples=spec.protocol.fid_samples or None,
            seed=spec.seed, device=device,
        )
        metrics.update(fid)
        eval_s += fid_protocol["seconds"]["total"]
    dis, dis_protocol = evaluate_disentanglement(model, splits, spec.protocol, spec.seed, device)
    if dis_protocol is not None:
        metrics.update(dis)
        eval_s += dis_protocol["seconds"]["total"]
    visuals = None
    if spec.latent_dim in spec.protocol.figure_latent_dims:
        visuals = make_visuals(model, splits, spec.seed, device)
    record.update(status="ok", metrics=metrics, train=info.to_dict(), fid_protocol=fid_protocol)
    if dis_protocol is not None:
        record["disentanglement_protocol"] = dis_protocol
    record["times"] = {"train_s": info.seconds, "eval_s": eval_s, "total_s": time.perf_counter() - t0}
    record["provenance"] = provenance(str(device))
    return record, visuals


def run_suite(
    suite: SuiteSpec, out: Path, data_root=None, accelerator="auto", devices="auto",
    quiet: bool = False, console: Console | None = None,
) -> SweepSummary:
    console = console or Console(stderr=True, quiet=quiet)
    runs = expand(suite)
    ensure_writable(out)
    data = {name: load_dataset(name, data_root) for name in suite.datasets}  # fails fast on bad data
    store = RunStore(out)
    start = time.perf_counter()
    skipped = finished = diverged = 0
    console.print(f"[bold]{suite.name}[/]: {len(runs)} runs -> {out}")
    for i, spec in enumerate(runs, 1):
        tag = f"[{i}/{len(runs)}] {spec.run_id}"
        if store.is_done(spec.run_id):
            skipped += 1
            console.print(f"{tag} done already, skipped")
            continue
        record, visuals = run_one(spec, data[spec.dataset], accelerator, devices, progress=not quiet and console.is_terminal)
        store.write(record, visuals)
        finished += 1
        if record["status"] == "diverged":
            diverged += 1
            console.print(f"{tag} [red]diverged[/] at step {record['diverged_at_step']}")
        else:
            m = record["metrics"]
            shown = ", ".join(f"{k}={m[k]:.4g}" for k in ("elbo", "iwae", "mse", "ppca_ll", "probe_acc", "mig", "factor_vae_eval_accuracy") if k in m)
            console.print(f"{tag} {record['times']['total_s']:.1f}s  {shown}")
    return SweepSummary(len(runs), skipped, finished, diverged, time.perf_counter() - start)
