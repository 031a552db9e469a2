"""Command line: run, list, report. Every error a user can cause exits 2 with one message."""

from __future__ import annotations

import argparse
import sys
import traceback
import warnings
from pathlib import Path

from vaebench.errors import UserError

EXIT_USER_ERROR = 2
EXIT_DIVERGED = 3


def _csv(kind):
    def parse(text: str):
        try:
            return [kind(t) for t in text.split(",") if t.strip()]
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a comma-separated list of {kind.__name__}s, got {text!r}") from None

    return parse


def parse_devices(text: str):
    return int(text) if text.isdigit() else text


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m vaebench", description="Benchmark AE, VAE, CVAE and PCA.", allow_abbrev=False)
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = p.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run a suite (finished runs are skipped)", allow_abbrev=False)
    run.add_argument("--suite", required=True, help="a shipped suite name (see `list`) or a suite YAML path")
    run.add_argument("--datasets", type=_csv(str), help="override: comma-separated dataset names")
    run.add_argument("--models", type=_csv(str), help="override: comma-separated model names")
    run.add_argument("--latent-dims", type=_csv(int), help="override: e.g. 2,4,8")
    run.add_argument("--seeds", type=_csv(int), help="override: e.g. 0,1,2")
    run.add_argument("--max-epochs", type=int, help="override the protocol's maximum epochs")
    run.add_argument("--max-steps", type=int, help="override the protocol's maximum optimizer steps")
    run.add_argument("--fast", action="store_true",
                     help="opt-in fast mode: bf16 autocast, channels_last, torch.compile (a different run id; GPU)")
    run.add_argument("--fid-backbone", choices=["auto", "inception", "classifier", "none"],
                     help="FID features: inception (needs its weights), the dataset's classifier, auto, or none")
    run.add_argument("--out", type=Path, help="results folder (default: runs/<suite>)")
    run.add_argument("--data-root", help="folder with dataset files (else $VAEBENCH_DATA, system packages)")
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
    run.add_argument("--no-report", action="store_true", help="do not rebuild the table and plots at the end (pool workers)")
    run.add_argument("--quiet", action="store_true", help="print nothing but errors")
    run.add_argument("--dry-run", action="store_true", help="list the runs (and which are done) without running")

    sub.add_parser("list", help="suites, models and datasets (with availability)").add_argument("--data-root")

    rep = sub.add_parser("report", help="rebuild table.md, table.csv and plots/ from the run records in DIR")
    rep.add_argument("dir", type=Path)

    from vaebench import compare_cli, fid_cli, reproduce

    compare_cli.add_parser(sub)
    reproduce.add_parser(sub)
    fid_cli.add_parser(sub)
    return p


def cmd_run(args) -> int:
    from rich.console import Console

    from vaebench.config import expand, load_suite, parse_shard, shard_runs, with_overrides
    from vaebench.data.registry import check_dataset_name, dataset_status
    from vaebench.store import RunStore

    suite = with_overrides(load_suite(args.suite), args.datasets, args.models, args.latent_dims, args.seeds, args.max_epochs, args.fid_backbone, args.max_steps, args.fast)
    for name in suite.datasets:
        check_dataset_name(name)
    out = args.out or Path("runs") / suite.name
    console = Console(stderr=True, quiet=args.quiet, soft_wrap=True)
    if args.dry_run:
        store = RunStore(out)
        for spec in shard_runs(expand(suite), parse_shard(args.shard)):
            print(f"{'done ' if store.is_done(spec.run_id) else 'todo '} {spec.run_id}")
        for name in suite.datasets:
            ok, where = dataset_status(name, args.data_root)
            print(f"dataset {name}: {'available' if ok else 'MISSING'} ({where})")
        return 0

    from vaebench.ranks import is_global_zero
    from vaebench.report import build_report
    from vaebench.runner.sweep import run_suite
    from vaebench.runner.train import Launch

    shard = parse_shard(args.shard)
    if args.devices_per_run is not None or args.runs_per_device > 1:
        args.suite_name = suite.name
        return _run_pool(args, out, console)
    if args.num_nodes < 1:
        raise UserError("--num-nodes must be >= 1")
    launch = Launch(args.accelerator, args.devices, args.num_nodes, args.strategy)
    tracker = _tracker(args, suite.name, out, console) if is_global_zero() else None
    summary = run_suite(suite, out, args.data_root, launch, args.quiet, console, shard=shard, tracker=tracker)
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
    console.print(
        f"{summary.finished} run(s) finished, {summary.skipped} skipped, {summary.diverged} diverged in {summary.seconds:.1f}s"
    )
    if summary.diverged:
        print(f"error: {summary.diverged} run(s) diverged (NaN/inf loss); their records say where", file=sys.stderr)
        return EXIT_DIVERGED
    return 0


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
    return code


def cmd_list(args) -> int:
    from vaebench.config import available_suites, load_suite
    from vaebench.data.registry import DATASETS, dataset_status
    from vaebench.models.registry import MODELS

    print("suites:")
    for name in available_suites():
        s = load_suite(name)
        n = len(s.datasets) * len(s.models) * len(s.latent_dims) * len(s.seeds)
        print(f"  {name:<12} {n:>4} runs  {s.description}")
    print("models:")
    for name, (path, params) in MODELS.items():
        print(f"  {name:<12} {path}" + (f"  {params}" if params else ""))
    print("datasets:")
    for name in DATASETS:
        ok, where = dataset_status(name, args.data_root)
        print(f"  {name:<14} {'available' if ok else 'MISSING  '}  {where}")
    return 0


def cmd_report(args) -> int:
    from vaebench.report import build_report

    report = build_report(args.dir)
    print(f"{report['records']} records -> {report['rows']} rows; {args.dir / 'table.md'}; {len(report['plots'])} plots")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.argv = argv
    warnings.filterwarnings("ignore", message=".*treespec.*")  # Lightning/torch version chatter
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    from vaebench.compare_cli import cmd_compare
    from vaebench.fid_cli import cmd_fid_backbone
    from vaebench.reproduce import cmd_reproduce

    handler = {
        "run": cmd_run, "list": cmd_list, "report": cmd_report,
        "compare": cmd_compare, "reproduce": cmd_reproduce, "fid-backbone": cmd_fid_backbone,
    }[args.command]
    try:
        return handler(args)
    except UserError as exc:
        if args.debug:
            traceback.print_exc()
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except BrokenPipeError:  # output piped into `head` and the like
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print("interrupted; finished runs are kept, re-run the same command to resume", file=sys.stderr)
        return 130
