"""`python -m vaebench reproduce RECORD.json`: re-run one run from its record, compare the metrics.

The RunSpec is rebuilt from the record's spec (dataset, model and its parameters, latent dim,
seed, protocol), the run is trained and evaluated again with `run_one`, and every metric is
printed stored / new / difference. Nothing is written next to the record; `--out DIR` writes
the new record under DIR/runs (DIR must not be the record's own results folder). Differences
in run id, dataset checksum and provenance (package versions, device, git SHA, torch threads)
are printed as warnings: each can change the numbers. Exit 0 when it ran, 2 on bad input.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import Any

from vaebench.cli._args import add_data_root, parse_devices
from vaebench.cli._signals import sigint_raises_interrupted
from vaebench.errors import UserError
from vaebench.store import code_label


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "reproduce",
        help="re-run one run from its record and print stored vs new metrics",
        description="Rebuild the run from RECORD.json's spec, train and evaluate it again, and print every "
        "metric: stored, new, difference. The record's folder is never written to.",
    )
    p.add_argument("record", type=Path, help="a run record, e.g. runs/smoke/runs/digits-vae-z2-s0-<hash>.json")
    add_data_root(p)
    p.add_argument("--accelerator", default=None,
                   help="Lightning accelerator (default: the record's device type: cpu, gpu or mps)")
    p.add_argument("--devices", type=parse_devices, default="auto", help="Lightning devices: auto, 1, 2, ...")
    p.add_argument("--out", type=Path, help="also write the new record under OUT/runs (not the record's folder)")
    p.set_defaults(handler=cmd_reproduce)
    return p


def load_record(path: Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise UserError(f"run record {path} does not exist")
    from vaebench.store import read_record

    return read_record(path)  # parsed and validated against the record schema (its spec fields included)


def rebuild_spec(record: dict[str, Any], origin: str = "record"):
    """The RunSpec that the current code builds from the record's spec."""
    from vaebench.config import RunSpec, parse_protocol
    from vaebench.data.registry import resolve_dataset
    from vaebench.models.registry import resolve_model

    s = record["spec"]
    dataset_params = s.get("dataset_params", {})  # absent: a dataset without parameters
    if not all(isinstance(s[k], dict) for k in ("model_params", "protocol")) or not isinstance(dataset_params, dict):
        raise UserError(f"{origin}: spec.model_params, spec.dataset_params and spec.protocol must be mappings")
    try:
        latent_dim, seed = int(s["latent_dim"]), int(s["seed"])
    except (TypeError, ValueError):
        raise UserError(f"{origin}: spec.latent_dim and spec.seed must be integers") from None
    protocol = parse_protocol(dict(s["protocol"]), f"{origin}: spec")
    model = resolve_model(str(s["model"]), dict(s["model_params"]))
    dataset = resolve_dataset(str(s["dataset"]), dataset_params)
    return RunSpec(str(s.get("suite", "reproduce")), dataset.name, model, latent_dim, seed, protocol, dataset.params)


def _default_accelerator(device: str | None) -> tuple[str, str | None]:
    """The Lightning accelerator matching a recorded device string, and a warning if unavailable."""
    import torch

    device = (device or "").lower()
    if device.startswith("cpu"):
        return "cpu", None
    if device.startswith("cuda"):
        if torch.cuda.is_available():
            return "gpu", None
        return "cpu", f"the record ran on {device} but no CUDA device is available here: running on the CPU"
    if device.startswith("mps"):
        if torch.backends.mps.is_available():
            return "mps", None
        return "cpu", f"the record ran on {device} but MPS is not available here: running on the CPU"
    return "auto", None


def provenance_differences(old: dict[str, Any] | None, new: dict[str, Any]) -> list[str]:
    """What differs between the stored and the new run's provenance, one line each."""
    if not old:
        return ["the record has no provenance: cannot tell which versions or device made it"]
    out = []
    ov, nv = old.get("versions") or {}, new.get("versions") or {}
    for pkg in sorted(set(ov) | set(nv)):
        if ov.get(pkg) != nv.get(pkg):
            out.append(f"{pkg} version differs: stored {ov.get(pkg)}, now {nv.get(pkg)}")
    if old.get("device") != new.get("device"):
        out.append(f"device differs: stored {old.get('device')}, now {new.get('device')}")
    if old.get("code_hash") != new.get("code_hash"):
        out.append(f"result code differs: stored {code_label({'provenance': old})}, now {code_label({'provenance': new})}")
    if old.get("git_sha") != new.get("git_sha"):
        out.append(f"git SHA differs: stored {old.get('git_sha')}, now {new.get('git_sha')}")
    elif str(new.get("git_sha") or "").endswith("-dirty"):
        out.append(f"git SHA {new.get('git_sha')}: uncommitted changes, on either side, are not identified by it")
    for key, what in (("torch_threads", "torch threads"), ("platform", "platform"), ("cpu_count", "CPU count")):
        if key in old and old.get(key) != new.get(key):
            out.append(f"{what} differ(s): stored {old.get(key)}, now {new.get(key)}")
    return out


def _fmt(v: Any) -> str:
    if v is None:
        return "—"
    if isinstance(v, float):
        return f"{v:.10g}"
    return str(v)


def metric_lines(stored: dict[str, Any], new: dict[str, Any]) -> tuple[list[str], int]:
    """A fixed-width table stored / new / difference, and the number of metrics that differ."""
    from vaebench.metrics.catalog import METRICS

    names = [m for m in METRICS if m in stored or m in new]
    names += sorted((set(stored) | set(new)) - set(names))
    rows, differ = [], 0
    for name in names:
        a, b = stored.get(name), new.get(name)
        if isinstance(a, (int, float)) and isinstance(b, (int, float)):
            a, b = float(a), float(b)
            same = a == b or (math.isnan(a) and math.isnan(b))
            if same:
                diff = "0 (identical)"
            else:
                rel = f" ({(b - a) / abs(a):+.2%})" if a != 0 and math.isfinite(a) and math.isfinite(b) else ""
                diff = f"{b - a:+.4g}{rel}"
        else:
            same = a == b
            diff = "identical" if same else ("only stored" if b is None else "only new" if a is None else "differs")
        differ += not same
        rows.append((name, _fmt(a), _fmt(b), diff))
    width = max([len("metric")] + [len(r[0]) for r in rows])
    lines = [f"{'metric':<{width}}  {'stored':>18}  {'new':>18}  difference"]
    lines += [f"{n:<{width}}  {a:>18}  {b:>18}  {d}" for n, a, b, d in rows]
    return lines, differ


def cmd_reproduce(args) -> int:
    from vaebench.data import load_dataset
    from vaebench.runner.sweep import run_one
    from vaebench.runner.train import Launch

    path = Path(args.record)
    record = load_record(path)
    spec = rebuild_spec(record, str(path))
    warn = []
    stored_id = record.get("run_id") or record["spec"].get("run_id")
    if spec.run_id != stored_id:
        warn.append(
            f"the rebuilt run id {spec.run_id} differs from the record's {stored_id}: the vaebench/torch version "
            "or the model's defaults differ from those that made the record, which can change the numbers"
        )
    out = getattr(args, "out", None)
    if out is not None:
        record_dir = path.resolve().parent
        out_runs = (Path(out) / "runs").resolve()
        if record_dir in (out_runs, Path(out).resolve()):
            raise UserError(f"--out {out} is the record's own results folder; choose another (reproduce never overwrites)")
    splits = load_dataset(spec.dataset_spec, getattr(args, "data_root", None))
    stored_checksum = (record.get("dataset") or {}).get("checksum")
    if stored_checksum and stored_checksum != splits.checksum:
        warn.append(f"dataset {spec.dataset}: checksum differs from the record's: this is not the same data")
    accelerator = getattr(args, "accelerator", None)
    if accelerator is None:
        accelerator, note = _default_accelerator((record.get("provenance") or {}).get("device"))
        if note:
            warn.append(note)
    print(f"reproducing {stored_id} from {path} (accelerator {accelerator})", flush=True)
    with sigint_raises_interrupted():
        new, visuals = run_one(spec, splits, Launch(accelerator, getattr(args, "devices", "auto")))
    warn += provenance_differences(record.get("provenance"), new.get("provenance") or {})
    if record.get("status") != new.get("status"):
        warn.append(f"status differs: stored {record.get('status')}, now {new.get('status')}"
                    + (f" (diverged at step {new.get('diverged_at_step')})" if new.get("status") == "diverged" else ""))
    for line in warn:
        print(f"warning: {line}", file=sys.stderr)
    lines, differ = metric_lines(record.get("metrics") or {}, new.get("metrics") or {})
    print("\n".join(lines))
    n = len(lines) - 1
    print(f"{n - differ} of {n} metrics identical" + (f"; {differ} differ" if differ else ""))
    if out is not None:
        from vaebench.store import RunStore, ensure_writable

        ensure_writable(Path(out))
        written = RunStore(Path(out)).write(new, visuals)
        print(f"new record: {written}")
    return 0
