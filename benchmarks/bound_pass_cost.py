"""CPU seconds of evaluation's bound pass per test image, for the latent_dim suite's VAE and CVAE
side by side.

    .venv/bin/python benchmarks/bound_pass_cost.py [--k 256] [--latent-dim 16] [--repeats 6]

Both models (continuous Bernoulli, untrained: timing does not depend on the weights) run
`runner.evaluate.chunk_bounds` on one chunk of the size evaluation uses on this device (so the
VAE's k samples, the CVAE's stratified label marginal and the dequantization are all in it),
alternating model by model so that drift on a shared machine hits both; the median per image,
and x 10,000 test images. One thread. A measurement, not a test: the VAE/CVAE ratio is the
number to read on a loaded machine.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--k", type=int, default=256)
    p.add_argument("--latent-dim", type=int, default=16)
    p.add_argument("--repeats", type=int, default=6)
    args = p.parse_args()

    import torch

    torch.set_num_threads(1)
    from vaebench.data import load_dataset
    from vaebench.data.base import pixels
    from vaebench.metrics.bpd import quantization_levels
    from vaebench.models.registry import build_model, resolve_model
    from vaebench.runner.evaluate import (
        bound_chunk,
        bound_context,
        bound_kind,
        chunk_bounds,
        decodes_per_image,
    )

    splits = load_dataset("fashion_mnist")
    levels = quantization_levels(splits.test_x)
    setups = {}
    for name in ("vae", "cvae"):
        torch.manual_seed(0)
        model = build_model(resolve_model(name, {"likelihood": "continuous_bernoulli"}), splits.image_shape,
                            args.latent_dim, splits.num_classes, 1e-3).eval()
        x, y = pixels(splits.test_x[:64]), splits.test_y[:64]
        chunk = bound_chunk(torch.device("cpu"), decodes_per_image(args.k, bool(model.conditional), splits.num_classes),
                            1000, len(splits.test_x))
        ctx = bound_context(model, bound_kind(model, x[:1], y[:1]), splits, args.k, 0, levels)
        setups[name] = (model, ctx, x[:chunk], y[:chunk], torch.arange(chunk))
    times: dict[str, list[float]] = {name: [] for name in setups}
    with torch.no_grad():
        for model, ctx, x, y, index in setups.values():
            chunk_bounds(model, ctx, x, y, index)  # warm-up
        for _ in range(args.repeats):
            for name, (model, ctx, x, y, index) in setups.items():
                t = time.process_time()
                chunk_bounds(model, ctx, x, y, index)
                times[name].append((time.process_time() - t) / len(x))
    per_image = {name: statistics.median(t) for name, t in times.items()}
    for name, s in per_image.items():
        print(f"{name:5s} chunk {len(setups[name][2])} images: {s:.5f} CPU s per test image, {s * 1e4:.0f} s per 10,000")
    print(f"cvae / vae: {per_image['cvae'] / per_image['vae']:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
