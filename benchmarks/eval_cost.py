"""The cost of one `latent_dim` run by component, and of the whole suite, in CPU core-seconds.

    .venv/bin/python benchmarks/eval_cost.py [--before DIR] [--models pca,ae,vae,cvae] [--json OUT]

Each (code, model) is measured in a fresh one-thread process (OMP/MKL/OpenBLAS threads 1,
torch.set_num_threads(1)) with CPU time (`time.process_time`), which a loaded machine inflates
far less than wall time. `--before DIR` measures a checkout of older code (e.g. a `git
worktree` of an earlier commit) the same way, alternating with this one, so that the two columns
are measured side by side. The suite's own protocol (`latent_dim`: Fashion-MNIST, batch 128,
k = 256, eval batch 1,000, FID with the shipped classifier) at latent dim 16, the models
untrained (timing does not depend on the weights beyond the probe's iteration count):

  * train: the median of a few optimizer steps x 430 steps x 100 epochs (the full protocol with
    no early stop), plus the validation split once an epoch;
  * evaluate: `runner.evaluate.evaluate` after a warm-up call; for models with bounds on the
    first n1 and n2 test images, the slope (per test image: reconstructions, bounds) x 10,000
    plus the intercept (the probe's encoding and fit of the train split, which do not grow with
    the test images); for PCA and the AE on the whole test split;
  * fid: `compute_fid_metrics` at the full protocol (10,000 samples per source), given what
    evaluation passes on where the code can (test reconstructions, train codes), after one
    warm call so that per-process caches (reference features) count as in a sweep's later runs.

The suite total multiplies each model's per-run cost by its 18 runs (6 dims x 3 seeds). Not a
test: a measurement, printed and (with --json) written.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]
MODELS = {"pca": {}, "ae": {}, "vae": {"likelihood": "continuous_bernoulli"}, "cvae": {"likelihood": "continuous_bernoulli"}}
STEPS_PER_EPOCH, EPOCHS, RUNS_PER_MODEL = 430, 100, 18


def _cpu(fn) -> float:
    t = time.process_time()
    fn()
    return time.process_time() - t


def worker(code: Path, model_name: str, n1: int, n2: int, steps: int) -> dict:
    sys.path.insert(0, str(code))
    import statistics

    import torch

    torch.set_num_threads(1)
    import dataclasses

    from vaebench.config import Protocol
    from vaebench.data import load_dataset
    from vaebench.data.base import pixels
    from vaebench.metrics.fid import compute_fid_metrics
    from vaebench.models.registry import build_model, resolve_model
    from vaebench.runner import evaluate as ev

    splits = load_dataset("fashion_mnist")
    protocol = Protocol(batch_size=128, iwae_k=256, eval_batch_size=1000, max_epochs=EPOCHS, patience=10)
    torch.manual_seed(0)
    model = build_model(resolve_model(model_name, MODELS[model_name]), splits.image_shape, 16, splits.num_classes, 1e-3)
    import vaebench

    out = {"model": model_name, "code": str(code), "vaebench": vaebench.__file__}
    if isinstance(model, torch.nn.Module):
        x, y = pixels(splits.train_x[:128]), splits.train_y[:128]
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)

        def step():
            opt.zero_grad(set_to_none=True)
            model.objective(x, y)["loss"].backward()
            opt.step()

        step()
        per_step = statistics.median(_cpu(step) for _ in range(steps))
        model.eval()
        with torch.no_grad():
            val = _cpu(lambda: [model.objective(pixels(splits.val_x[i:i + 1000]), splits.val_y[i:i + 1000]) for i in range(0, len(splits.val_x), 1000)])
        out["train_s"] = per_step * STEPS_PER_EPOCH * EPOCHS + val * EPOCHS
        out["train_step_s"] = per_step
    else:
        out["train_s"] = _cpu(lambda: model.fit(splits.train_x))
    n_test = len(splits.test_x)

    def subset(n):
        return dataclasses.replace(splits, test_x=splits.test_x[:n], test_y=splits.test_y[:n])

    ev.evaluate(model, subset(8), dataclasses.replace(protocol, iwae_k=1), 0)  # warm-up: lazy imports, allocator
    if model_name in ("pca", "ae"):  # no bounds: the whole test split is quick
        out["evaluate_s"] = _cpu(lambda: ev.evaluate(model, splits, protocol, 0))
    else:
        times = {n: _cpu(lambda n=n: ev.evaluate(model, subset(n), protocol, 0)) for n in (n1, n2)}
        slope = (times[n2] - times[n1]) / (n2 - n1)
        out["eval_per_test_image_s"] = slope
        out["eval_fixed_s"] = times[n1] - slope * n1
        out["evaluate_s"] = out["eval_fixed_s"] + slope * n_test
    kwargs = {}
    if hasattr(ev, "SplitPasses"):  # code that hands evaluation's passes to FID
        passes = ev.SplitPasses()
        ev.evaluate(model, dataclasses.replace(splits, test_x=splits.test_x, test_y=splits.test_y),
                    dataclasses.replace(protocol, iwae_k=1), 0, passes=passes)
        kwargs = {"test_recon": passes.test_recon, "train_codes": passes.train_codes}
    compute_fid_metrics(model, splits, backbone="classifier", seed=0, **kwargs)  # warm: per-process caches
    out["fid_s"] = _cpu(lambda: compute_fid_metrics(model, splits, backbone="classifier", seed=0, **kwargs))
    out["eval_total_s"] = out["evaluate_s"] + out["fid_s"]
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--before", type=Path, help="a checkout of older code to measure side by side")
    p.add_argument("--models", default="pca,ae,vae,cvae")
    p.add_argument("--n1", type=int, default=100)
    p.add_argument("--n2", type=int, default=300)
    p.add_argument("--steps", type=int, default=10, help="timed optimizer steps (median)")
    p.add_argument("--json", type=Path)
    p.add_argument("--from-json", type=Path, help="only print the table of an earlier run's JSON")
    p.add_argument("--worker", nargs=2, metavar=("CODE", "MODEL"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.from_json:
        print(markdown(json.loads(args.from_json.read_text())))
        return 0
    if args.worker:
        print(json.dumps(worker(Path(args.worker[0]), args.worker[1], args.n1, args.n2, args.steps)))
        return 0
    codes = {"after": HERE} | ({"before": args.before.resolve()} if args.before else {})
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    rows: dict[str, dict[str, dict]] = {name: {} for name in codes}
    for model in args.models.split(","):
        for name, code in codes.items():  # alternating: before and after of one model back to back
            cmd = [sys.executable, __file__, "--worker", str(code), model, "--n1", str(args.n1), "--n2", str(args.n2),
                   "--steps", str(args.steps)]
            done = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=code)
            if done.returncode:
                print(done.stderr, file=sys.stderr)
                return 1
            rows[name][model] = json.loads(done.stdout.strip().splitlines()[-1])
            r = rows[name][model]
            print(f"{name:6s} {model:5s} train {r['train_s'] / 3600:7.3f} h  evaluate {r['evaluate_s']:8.1f} s  "
                  f"fid {r['fid_s']:6.1f} s  eval/train {r['eval_total_s'] / r['train_s']:.3f}", flush=True)
    for name, per_model in rows.items():
        total = sum(RUNS_PER_MODEL * (r["train_s"] + r["eval_total_s"]) for r in per_model.values()) / 3600
        train = sum(RUNS_PER_MODEL * r["train_s"] for r in per_model.values()) / 3600
        print(f"{name}: suite total {total:.1f} core-hours ({train:.1f} training)")
        per_model["suite_core_hours"] = {"total": total, "train": train}
    print()
    print(markdown(rows))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(rows, indent=2) + "\n")
    return 0


def markdown(rows: dict[str, dict[str, dict]]) -> str:
    """The cost table (docs/cost.md) from the measured rows: per model, before and after."""
    names = list(rows)
    head = "| model | " + " | ".join(f"train h ({n}) | evaluate s ({n}) | FID s ({n}) | eval / train ({n})" for n in names) + " |"
    lines = [head, "|---" * (1 + 4 * len(names)) + "|"]
    models = [m for m in rows[names[0]] if m != "suite_core_hours"]
    for model in models:
        cells = []
        for n in names:
            r = rows[n][model]
            cells += [f"{r['train_s'] / 3600:.3f}", f"{r['evaluate_s']:.0f}", f"{r['fid_s']:.0f}", f"{r['eval_total_s'] / r['train_s']:.3f}"]
        lines.append(f"| {model} | " + " | ".join(cells) + " |")
    totals = " | ".join(f"{rows[n]['suite_core_hours']['total']:.1f} core-hours ({rows[n]['suite_core_hours']['train']:.1f} training)"
                        for n in names)
    lines.append("")
    lines.append(f"Suite total ({', '.join(names)}): {totals}")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
