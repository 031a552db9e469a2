"""A sweep: the suite's runs, each a pure function of its RunSpec, skipping finished ones.

Everything that can be checked is checked before the first run starts (names, data, output
folder), so a bad command fails fast and never touches results that already exist.

Scale-out is Lightning's and the scheduler's, not ours:
* one run on several devices/nodes: Lightning DDP. Every rank executes this same sweep in
  lockstep (Lightning's launcher, torchrun and SLURM all start the whole command per rank);
  only global rank 0 writes records, checkpoints, tables and W&B.
* many runs: `shard` (i, n) keeps runs i, i + n, i + 2n, ... of the suite's fixed order, so a
  job array (or the worker pool in `runner.pool`) splits a suite with no coordination; all
  shards may write to one results folder (every file is written atomically).
* faults: a run's JSON record is written last and marks it done; an interrupted run resumes
  from its last epoch checkpoint (`<out>/checkpoints/<run id>.ckpt`), else starts afresh.
"""

from __future__ import annotations

import datetime as dt
import os
import time
from dataclasses import dataclass
from pathlib import Path

import lightning as L
import torch
from rich.console import Console

from vaebench.config import RunSpec, SuiteSpec, expand, shard_runs
from vaebench.data import load_dataset
from vaebench.data.base import Splits
from vaebench.errors import RunDiverged, UserError
from vaebench.metrics.fid import compute_fid_metrics
from vaebench.metrics.fid_backbone import fid_unavailable
from vaebench.models.pca import check_latent_dim, data_rank
from vaebench.models.registry import build_model
from vaebench.ranks import is_global_zero
from vaebench.runner.curves import EpochCurves
from vaebench.runner.disentanglement import evaluate_disentanglement
from vaebench.runner.estimate import checkpoint_epochs, estimate
from vaebench.runner.evaluate import SplitPasses, evaluate
from vaebench.runner.fit_cache import real_data_floor, seed_changes
from vaebench.runner.progress import SweepProgress
from vaebench.runner.train import DEFAULT_LAUNCH, Launch, train
from vaebench.runner.visuals import make_visuals
from vaebench.store import (
    SCHEMA_VERSION,
    RunStore,
    code_hash,
    ensure_writable,
    git_sha,
    provenance,
    remove_stale_temp_files,
    stale_line,
)


@dataclass
class SweepSummary:
    total: int
    skipped: int
    finished: int
    diverged: int
    seconds: float
    elsewhere: int = 0  # runs another live process had claimed (it writes their records)


def run_one(spec: RunSpec, splits: Splits, launch: Launch = DEFAULT_LAUNCH, callbacks=(), checkpoint: Path | None = None,
            tracker=None) -> tuple[dict, dict | None]:
    """Train and evaluate one run; returns (record, figure arrays or None)."""
    threads = torch.get_num_threads()
    if spec.protocol.num_threads:
        # tiny models run faster on one thread, and a fixed count keeps CPU results identical
        # across machines with different core counts (and safe on a loaded machine)
        torch.set_num_threads(spec.protocol.num_threads)
    try:
        return _run_one(spec, splits, launch, callbacks, checkpoint, tracker)
    finally:
        torch.set_num_threads(threads)


def _run_one(spec: RunSpec, splits: Splits, launch: Launch, callbacks, checkpoint, tracker) -> tuple[dict, dict | None]:
    t0 = time.perf_counter()
    L.seed_everything(spec.seed, workers=False, verbose=False)  # the initial weights are part of the run
    model = build_model(spec.model, splits.image_shape, spec.latent_dim, splits.num_classes, spec.protocol.lr)
    record = {
        "schema_version": SCHEMA_VERSION,
        "run_id": spec.run_id,
        "spec": spec.to_dict(),
        "dataset": {
            "name": splits.name, "checksum": splits.checksum, "source": splits.source, "num_classes": splits.num_classes,
            "n_train": len(splits.train_x), "n_val": len(splits.val_x), "n_test": len(splits.test_x),
        },
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }
    logger = None
    if tracker is not None and is_global_zero():
        if isinstance(model, L.LightningModule):
            logger = tracker.logger(spec.run_id, spec.to_dict())
        else:
            tracker.start_run(spec.run_id, spec.to_dict())
    curves = EpochCurves()  # per-epoch losses for the record (and the site's detail view)
    try:
        info = train(model, splits, spec.protocol, spec.seed, launch, [*callbacks, curves], checkpoint, logger)
    except RunDiverged as exc:
        record.update(status="diverged", diverged_at_step=exc.step, diverged_value=str(exc.value), metrics={})
        if (c := curves.to_dict()) is not None:
            record["curves"] = c
        record["times"] = {"train_s": time.perf_counter() - t0, "eval_s": 0.0, "total_s": time.perf_counter() - t0}
        record["provenance"] = provenance(str(getattr(model, "device", "cpu")))
        return record, None
    device = next(model.parameters()).device if isinstance(model, torch.nn.Module) else torch.device("cpu")
    passes = SplitPasses()  # the test reconstructions and train codes, which FID reuses
    metrics, eval_s = evaluate(model, splits, spec.protocol, spec.seed, device, passes)  # every rank (synced states)
    times = {"train_s": info.seconds, "eval_s": eval_s}
    visuals = fid_protocol = dis_protocol = None
    if is_global_zero():  # single-process evaluations: the other ranks go on to the next run
        if spec.protocol.fid_backbone != "none" and (skip := fid_unavailable(splits, spec.protocol.fid_backbone)):
            fid_protocol = {"backbone": spec.protocol.fid_backbone, "skipped": skip}  # auto, nothing to measure with
        elif spec.protocol.fid_backbone != "none":
            fid, fid_protocol = compute_fid_metrics(
                model, splits, backbone=spec.protocol.fid_backbone, n_samples=spec.protocol.fid_samples or None,
                seed=spec.seed, device=device, test_recon=passes.test_recon, train_codes=passes.train_codes,
            )
            metrics.update(fid)
            times["fid_s"] = fid_protocol["seconds"]["total"]
            t = time.perf_counter()
            fid_protocol["real_data_floor"] = real_data_floor(
                splits, spec.protocol.fid_backbone, fid_protocol["n_samples"], device)
            times["fid_s"] += time.perf_counter() - t
        dis, dis_protocol = evaluate_disentanglement(model, splits, spec.protocol, spec.seed, device)
        if dis_protocol is not None:
            metrics.update(dis)
            times["disentanglement_s"] = dis_protocol["seconds"]["total"]
        if spec.latent_dim in spec.protocol.figure_latent_dims:
            t = time.perf_counter()
            visuals = make_visuals(model, splits, spec.seed, device)
            times["figures_s"] = time.perf_counter() - t
    times["eval_s"] = sum(v for k, v in times.items() if k != "train_s")
    record.update(status="ok", metrics=metrics, train=info.to_dict(), fid_protocol=fid_protocol)
    if (c := curves.to_dict()) is not None:
        record["curves"] = c
    if (changes := seed_changes(model, metrics)) is not None:
        record["seed_changes"] = changes  # PCA: one fit per configuration, the seed changes only these
    if dis_protocol is not None:
        record["disentanglement_protocol"] = dis_protocol
    times["total_s"] = time.perf_counter() - t0
    times["overhead_s"] = times["total_s"] - times["train_s"] - times["eval_s"]
    record["times"] = times
    record["provenance"] = provenance(str(device))
    if launch.strategy != "auto" or launch.num_nodes > 1 or (isinstance(launch.devices, int) and launch.devices > 1):
        world = torch.distributed.get_world_size() if torch.distributed.is_initialized() else 1
        record["provenance"]["launch"] = {"strategy": launch.strategy, "devices": str(launch.devices),
                                          "num_nodes": launch.num_nodes, "world_size": world}
    return record, visuals


PCA_PREFLIGHT_MAX_MACS = 5e10  # covariance cost N * D^2 up to which the rank is checked before the first run
# (Fashion-MNIST: 3.7e10); above it (dSprites: 1.2e13) the PCA fit checks it, on the covariance it computes anyway


def check_fid_backbones(runs: list[RunSpec], data: dict, console: Console) -> None:
    """Before any run: a FID backbone the protocol names explicitly must be usable for its data
    (UserError otherwise); with "auto" and none usable, say once that those runs get no FID."""
    for choice, dataset in sorted({(s.protocol.fid_backbone, s.dataset_spec) for s in runs}, key=str):
        why = fid_unavailable(data[dataset], choice)
        if why and choice != "auto":
            raise UserError(f"protocol.fid_backbone {choice} cannot measure {dataset}: {why}; "
                            "set protocol.fid_backbone to auto or none (e.g. --set protocol.fid_backbone=none)")
        if why:
            console.print(f"note: no FID for {dataset}: {why} (recorded as fid_protocol.skipped)")


def check_pca_ranks(runs: list[RunSpec], data: dict) -> None:
    """UserError before any run when a pca latent dim is at or above the rank of its train split
    (`data`: dataset spec -> splits)."""
    for dataset, splits in data.items():
        dims = [s.latent_dim for s in runs if s.dataset_spec == dataset and s.model.name == "pca"]
        n, dim = len(splits.train_x), splits.train_x[0].numel()
        if dims and n * dim * dim <= PCA_PREFLIGHT_MAX_MACS:
            check_latent_dim(max(dims), data_rank(splits.train_x), f"the {dataset} train split")


def single_process(launch: Launch) -> bool:
    """Whether each run is one process (no DDP): then runs are claimed one by one (`RunStore.claim`);
    a DDP run's ranks move through the sweep in lockstep, so one rank alone cannot skip a run."""
    if launch.num_nodes != 1 or launch.strategy not in ("auto", "single_device"):
        return False
    if os.environ.get("WORLD_SIZE", "1") not in ("", "1"):  # started by torchrun & co. as one of several ranks
        return False
    if launch.devices in (1, "1") or launch.accelerator == "cpu":
        return True
    return launch.devices == "auto" and torch.cuda.device_count() <= 1


def check_records(store: RunStore, runs: list[RunSpec]) -> None:
    """UserError, before any work, when a run's record exists but cannot be read or does not
    validate: it must not count as done, and overwriting it is for the user to decide."""
    problems = [p for spec in runs if (p := store.record_problem(spec.run_id))]
    if problems:
        more = f" ({len(problems) - 1} more unreadable record(s); `run --dry-run` lists them)" if len(problems) > 1 else ""
        raise UserError(problems[0] + more)


def plan_line(title: str, runs: int, done: int, partial: int) -> str:
    left = runs - done
    resumes = f" ({partial} resume from a checkpoint)" if partial else ""
    return f"{title}: {runs} runs: {done} done, {left} to do{resumes}"


def run_suite(
    suite: SuiteSpec, out: Path, data_root=None, launch: Launch = DEFAULT_LAUNCH,
    quiet: bool = False, console: Console | None = None, shard: tuple[int, int] | None = None, tracker=None,
    rerun_stale: bool = False,
) -> SweepSummary:
    console = console or Console(stderr=True, quiet=quiet)
    zero = is_global_zero()
    git_sha(), code_hash()  # stamp the records with the code as it was when the sweep started
    runs = shard_runs(expand(suite), shard)
    ensure_writable(out)
    store = RunStore(out)
    check_records(store, runs)
    done = {spec.run_id for spec in runs if store.is_done(spec.run_id)}
    stale = store.stale(done)
    if rerun_stale:
        done -= set(stale)
    todo = [spec for spec in runs if spec.run_id not in done]
    partial = checkpoint_epochs(store, todo) if zero else {}
    where = f" (shard {shard[0]}/{shard[1]})" if shard else ""
    show = zero and not quiet
    data = {d: load_dataset(d, data_root) for d in {s.dataset_spec for s in runs}}  # fails fast on bad data
    check_pca_ranks(runs, data)
    check_fid_backbones(runs, data, console)
    if show:  # once the input is known good (bad input stays one line), before the estimate measures
        console.print(plan_line(f"[bold]{suite.name}{where}[/]", len(runs), len(done), len(partial)))
        if stale:
            console.print(stale_line(stale, rerun_stale), markup=False, highlight=False)
    if zero:  # what kill -9 left half-written (by dead processes of this host) goes first
        for folder in (store.runs, out / "checkpoints", out, out / "plots"):
            remove_stale_temp_files(folder)
    start = time.perf_counter()
    skipped = len(done)
    finished = diverged = elsewhere = 0
    plan = estimate(todo, data, launch.accelerator, partial) if show and todo else None
    claims = single_process(launch)
    with SweepProgress(console, f"{suite.name}{where}", len(runs), enabled=show, plan=plan) as bar:
        bar.plan_runs([spec.run_id for spec in todo])
        for spec in todo:
            claim = store.claim(spec.run_id) if claims else None
            if claims and claim is None:
                elsewhere += 1
                bar.elsewhere(spec, store.claimed_by(spec.run_id))
                continue
            try:
                if store.is_done(spec.run_id) and not (rerun_stale and store.stale([spec.run_id])):
                    # finished by another sweep since the plan was made
                    skipped += 1
                    bar.elsewhere(spec, None)
                    continue
                bar.start(spec.run_id, spec.to_dict(), partial.get(spec.run_id))
                checkpoint = store.checkpoint_path(spec.run_id)
                record, visuals = run_one(spec, data[spec.dataset_spec], launch, callbacks=bar.callbacks(),
                                          checkpoint=checkpoint, tracker=tracker)
                finished += 1
                diverged += record["status"] == "diverged"
                if zero:
                    try:
                        store.write(record, visuals)
                    except OSError as exc:  # atomic: no torn record, the finished ones are untouched
                        raise UserError(f"writing the record of {spec.run_id} failed ({exc.strerror or exc}); the records "
                                        f"already in {store.runs} are safe: free space and re-run the same command "
                                        "to do the rest") from None
                    checkpoint.unlink(missing_ok=True)  # the record now marks the run done
                    if tracker is not None:
                        tracker.log_result(record, visuals)
                        tracker.finish_run()
                bar.finish(record)
            finally:
                if claim is not None:
                    claim.release()
    return SweepSummary(len(runs), skipped, finished, diverged, time.perf_counter() - start, elsewhere)
