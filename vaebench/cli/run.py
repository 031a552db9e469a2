"""`python -m vaebench run --suite NAME`: train and evaluate a suite's runs, skipping finished ones."""

from __future__ import annotations

import sys
from pathlib import Path

from vaebench.cli._args import add_data_root, csv, parse_devices
from vaebench.cli._signals import sigint_raises_interrupted
from vaebench.errors import UserError

EXIT_DIVERGED = 3


def add_parser(subparsers):
    run = subparsers.add_parser(
        "run", help="run a suite (finished runs are skipped)", allow_abbrev=False,
        epilog="An interrupted run resumes from DIR/checkpoints/<run id>.ckpt, written at the end of an epoch once "
               "$VAEBENCH_CHECKPOINT_EVERY_S seconds (default 30; 0 = every epoch) have passed. Each run is claimed "
               "(DIR/locks/<run id>.lock) while it trains, so sweeps sharing DIR never train one run twice.")
    run.add_argument("--suite", required=True, help="a shipped suite name (see `list`) or a suite YAML path")
    run.add_argument("--datasets", type=csv(str), help="override: comma-separated dataset names (one the suite lists keeps the suite's parameters)")
    run.add_argument("--models", type=csv(str), help="override: comma-separated model names (one the suite lists keeps the suite's parameters and grid; others get their defaults)")
    run.add_argument("--latent-dims", type=csv(int), help="override: e.g. 2,4,8")
    run.add_argument("--seeds", type=csv(int), help="override: e.g. 0,1,2")
    run.add_argument("--max-epochs", type=int, help="override the protocol's maximum epochs")
    run.add_argument("--max-steps", type=int, help="override the protocol's maximum optimizer steps")
    run.add_argument("--fast", action="store_true",
                     help="opt-in fast mode: bf16 autocast, channels_last, one compiled training step, fused Adam, no deterministic-kernel constraint (its own run ids; GPU)")
    run.add_argument("--fid-backbone", choices=["auto", "inception", "classifier", "none"],
                     help="FID features: inception (needs its weights), the dataset's classifier, auto, or none")
    run.add_argument("--set", action="append", metavar="protocol.KEY=VALUE",
                     help="override one protocol field (VALUE read as YAML, validated like the suite file); repeatable")
    run.add_argument("--out", type=Path, help="results folder (default: runs/<suite>)")
    add_data_root(run)
    run.add_argument("--accelerator", default="auto", help="Lightning accelerator: auto, cpu, gpu, ...")
    run.add_argument("--devices", type=parse_devices, default="auto", help="Lightning devices per node: auto, 1, 2, ...")
    run.add_argument("--num-nodes", type=int, default=1, help="Lightning nodes for each run (DDP across machines)")
    run.add_argument("--strategy", default="auto", help="Lightning strategy, e.g. ddp (one run on several devices)")
    run.add_argument("--shard", help="run only shard i of n of the suite (i/n, 0 <= i < n), e.g. a job-array index")
    run.add_argument("--devices-per-run", type=int,
                     help="run independent runs side by side, each on this many of --devices (a worker pool)")
    run.add_argument("--runs-per-device", type=int, default=1,
                     help="concurrent runs per device group (small models: fill a big GPU); implies a worker pool")
    run.add_argument("--wandb", choices=["online", "offline", "disabled"],
                     help="Weights & Biases mode (default: online with an API key configured, else offline)")
    run.add_argument("--wandb-project", default="vaebench", help="W&B project (group = suite, name = run id)")
    run.add_argument("--rerun-stale", action="store_true",
                     help="recompute done runs whose record was made by other code (another code hash; see docs/suites.md)")
    run.add_argument("--no-report", action="store_true", help="do not rebuild the table and plots at the end (pool workers)")
    run.add_argument("--quiet", action="store_true", help="print nothing but errors")
    run.add_argument("--dry-run", action="store_true", help="list the runs (done, partial with its epoch, todo), verify the data sets' checksums, print the "
                     "counts and the expected time; run nothing (exit 2 when the data would fail the run)")
    run.set_defaults(handler=cmd_run)
    return run


def cmd_run(args) -> int:
    from rich.console import Console

    from vaebench.config import load_suite, parse_shard, with_overrides
    from vaebench.data.registry import check_data_root, check_dataset_name

    check_counts(args)
    suite = with_overrides(load_suite(args.suite), args.datasets, args.models, args.latent_dims, args.seeds, args.max_epochs, args.fid_backbone, args.max_steps, args.fast, args.set)
    for name in suite.datasets:
        check_dataset_name(name)
    check_data_root(args.data_root)
    out = args.out or Path("runs") / suite.name
    console = Console(stderr=True, quiet=args.quiet, soft_wrap=True)
    if args.dry_run:
        return _dry_run(suite, out, args)

    from vaebench.ranks import is_global_zero
    from vaebench.report import build_report
    from vaebench.runner.sweep import run_suite
    from vaebench.runner.train import Launch

    shard = parse_shard(args.shard)
    if args.devices_per_run is not None or args.runs_per_device > 1:
        args.suite_name = suite.name
        return _run_pool(args, out, console)
    launch = Launch(args.accelerator, args.devices, args.num_nodes, args.strategy)
    tracker = _tracker(args, suite.name, out, console) if is_global_zero() else None
    with sigint_raises_interrupted():
        summary = run_suite(suite, out, args.data_root, launch, args.quiet, console, shard=shard, tracker=tracker,
                            rerun_stale=args.rerun_stale)
    if not is_global_zero():
        return 0  # DDP rank > 0: rank 0 writes the records and the table
    rows = 0
    if not args.no_report:
        report = build_report(out)
        rows = report["rows"]
        if tracker is not None and shard is None:  # a shard's table is partial; `report` makes the whole one
            from vaebench.report.table import build_rows
            from vaebench.store import load_records

            tracker.log_table(build_rows(load_records(out)))
        console.print(f"table: {out / 'table.md'} ({rows} rows), {len(report['plots'])} plots")
        if report["mixed_code"]:
            console.print(report["mixed_code"], markup=False, highlight=False)
    elsewhere = f", {summary.elsewhere} left to the other process(es) running them" if summary.elsewhere else ""
    console.print(f"{summary.finished} run(s) finished, {summary.skipped} skipped{elsewhere}, "
                  f"{summary.diverged} diverged in {summary.seconds:.1f}s")
    if tracker is not None and (hint := tracker.sync_hint()):
        console.print(hint, markup=False, highlight=False)
    if summary.diverged:
        print(f"error: {summary.diverged} run(s) diverged (NaN/inf loss); their records say where", file=sys.stderr)
        return EXIT_DIVERGED
    return 0


def check_counts(args) -> None:
    """The command line's integer options, before anything is loaded (the protocol's own are
    checked with the suite)."""
    for flag, value in (("--num-nodes", args.num_nodes), ("--devices-per-run", args.devices_per_run),
                        ("--runs-per-device", args.runs_per_device),
                        ("--devices", args.devices if isinstance(args.devices, int) else None)):
        if value is not None and value < 1:
            raise UserError(f"{flag} must be >= 1, got {value}")


def _tracker(args, group: str, out: Path, console):
    if args.wandb == "disabled":
        return None
    from vaebench.tracking import Tracker, resolve_mode

    mode = resolve_mode(args.wandb)
    if mode == "disabled":
        return None
    return Tracker(mode, project=args.wandb_project, out_dir=out, group=group, console=console)


def _run_pool(args, out: Path, console) -> int:
    from vaebench.report import build_report
    from vaebench.runner import pool

    if args.shard or args.strategy != "auto" or args.num_nodes != 1:
        raise UserError("a worker pool (--devices-per-run / --runs-per-device) cannot be combined with --shard, --strategy or --num-nodes")
    workers = pool.plan(args.accelerator, args.devices, args.devices_per_run or 1, args.runs_per_device)
    code = pool.run_pool(sys.argv[1:] if args.argv is None else args.argv, workers, out, console)
    report = build_report(out)
    tracker = _tracker(args, args.suite_name, out, console)
    if tracker is not None:  # the workers log their runs; the table is the parent's
        from vaebench.report.table import build_rows
        from vaebench.store import load_records

        tracker.log_table(build_rows(load_records(out)))
    console.print(f"{len(workers)} workers; table: {out / 'table.md'} ({report['rows']} rows)")
    if tracker is not None and (hint := tracker.sync_hint()):
        console.print(hint, markup=False, highlight=False)
    return code


def _dry_run(suite, out: Path, args) -> int:
    """The runs (done, partial with their epoch, to do), the data sets verified against their
    checksums, the counts and the expected time; exit 2 when the real run would fail on data."""
    from vaebench.config import expand, parse_shard, shard_runs
    from vaebench.data.registry import dataset_status, load_dataset
    from vaebench.errors import DataError
    from vaebench.runner.estimate import checkpoint_epochs, estimate
    from vaebench.runner.progress import run_label
    from vaebench.store import RunStore, stale_line

    store = RunStore(out)
    runs = shard_runs(expand(suite), parse_shard(args.shard))
    unreadable = {spec.run_id: why for spec in runs if (why := store.record_problem(spec.run_id))}
    stale = store.stale(spec.run_id for spec in runs if spec.run_id not in unreadable)
    todo = [spec for spec in runs if not store.is_done(spec.run_id) or (args.rerun_stale and spec.run_id in stale)]
    todo_ids = {spec.run_id for spec in todo}
    partial = checkpoint_epochs(store, todo)
    for spec in runs:
        name = f"{spec.run_id}  {run_label(spec.to_dict())}"
        if spec.run_id in unreadable:
            print(f"UNREADABLE {name}: {unreadable[spec.run_id]}")
        elif spec.run_id in stale:
            print(f"{'rerun' if args.rerun_stale else 'stale'}    {name}  (made by {stale[spec.run_id]})")
        elif spec.run_id not in todo_ids:
            print(f"done     {name}")
        elif holder := store.claimed_by(spec.run_id):
            print(f"running  {name}  (claimed by {holder})")
        elif spec.run_id in partial:
            print(f"partial  {name}  epoch {partial[spec.run_id]}/{spec.protocol.max_epochs} "
                  "done, resumes from its checkpoint")
        else:
            print(f"todo     {name}")
    missing = []
    for name in suite.datasets:
        ok, where = dataset_status(name, args.data_root, verify=True)
        print(f"dataset {name}: {'available' if ok else 'MISSING'} ({where})")
        if not ok:
            missing.append(f"dataset {name}: {where}")
    n_partial = len(partial)
    bad = f", {len(unreadable)} unreadable" if unreadable else ""
    print(f"runs: {len(runs)}: {len(runs) - len(todo) - len(unreadable)} done, {n_partial} partial, {len(todo) - n_partial} to do{bad}")
    if stale:
        print(stale_line(stale, args.rerun_stale))
    if missing:
        raise DataError(missing[0])
    if unreadable:
        raise UserError(f"{len(unreadable)} run record(s) unreadable (listed above): delete them to re-run those runs")
    if todo:
        data = {d: load_dataset(d, args.data_root) for d in {s.dataset_spec for s in todo}}
        plan = estimate(todo, data, args.accelerator, partial)
        print(plan.summary(what="left"))
        for note in plan.notes:
            print(f"  {note}")
    return 0

