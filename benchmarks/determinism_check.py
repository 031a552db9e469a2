"""Is a mode bitwise reproducible here? The latent_dim suite's VAE trained twice, per mode.

    python benchmarks/determinism_check.py [--device cuda] [--modes fp32,fast] [--steps 200]
        [--train-size N] [--batch B] [--json PATH]

Each mode (benchmarks/throughput.py's: fp32 = the default, deterministic mode; fast = `--fast`)
trains the same model from the same seed twice in one process through vaebench's training path
and compares every weight: `bitwise` true when all are identical, else the largest absolute
difference. The claim (vaebench.runner.determinism): the default mode is bitwise reproducible
on one device; the fast mode need not be.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _env import environment  # noqa: E402
from throughput import protocol_for, subset, suite_vae  # noqa: E402

from vaebench.data import load_dataset  # noqa: E402
from vaebench.runner import determinism  # noqa: E402
from vaebench.runner.train import Launch, train  # noqa: E402


def trained_weights(splits, mode: str, args, device) -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    model, lr = suite_vae(splits, args.latent_dim)
    protocol = protocol_for(mode, lr, 0, args.steps, len(splits.train_x), args.batch)
    torch._dynamo.reset()
    with determinism.restored_flags():
        train(model, splits, protocol, seed=0, launch=Launch("gpu" if device.type == "cuda" else "cpu", 1))
    return {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--modes", default="fp32,fast")
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--latent-dim", type=int, default=16)
    ap.add_argument("--train-size", type=int)
    ap.add_argument("--batch", type=int)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    device = torch.device(args.device)
    splits = subset(load_dataset("fashion_mnist"), args.train_size)
    results = {"benchmark": "determinism", "environment": environment(str(device)), "steps": args.steps, "modes": {}}
    for mode in args.modes.split(","):
        try:
            a, b = (trained_weights(splits, mode, args, device) for _ in range(2))
            diff = max(float((a[k].double() - b[k].double()).abs().max()) for k in a)
            bitwise = all(torch.equal(a[k], b[k]) for k in a)
            results["modes"][mode] = {"bitwise": bitwise, "max_abs_diff": diff}
            print(f"{mode}: two trainings {'bitwise identical' if bitwise else f'differ (max |diff| {diff:.3g})'}", flush=True)
        except Exception as exc:
            results["modes"][mode] = {"error": f"{type(exc).__name__}: {exc}"[:2000]}
            print(f"{mode}: failed: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
        if args.json:  # after every mode: one stopped by a time budget keeps the earlier ones
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps(results, indent=1))
    return 0 if all("error" not in r for r in results["modes"].values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
