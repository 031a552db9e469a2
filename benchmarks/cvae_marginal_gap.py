"""How much looser is the CVAE's stratified label marginal than one k-sample bound per label?

    .venv/bin/python benchmarks/cvae_marginal_gap.py [--steps 430] [--n 500] [--k 256] [--latent-dim 16] [--json OUT]

Trains the `latent_dim` suite's CVAE (continuous Bernoulli, Fashion-MNIST, batch 128, Adam 1e-3,
on dequantized images as the suite does) for --steps steps, then on the first --n test images
(dequantized with evaluation's keyed draws) computes, with evaluation's own functions:
  * `stratified`: the evaluation's estimator (test label k samples, every label m = max(1, k // 64)),
    k + 10 m decodes per image;
  * `every_label_k`: one k-sample bound per label, log sum_y p(y) p_k(x|y), 10 k decodes;
both bounds on log p(x) in nats/image, for --repeats evaluation seeds, and prints the mean gap
(every_label_k - stratified; > 0 means the stratified estimator is looser) with its standard
error over images, and the CPU seconds of each. One thread. A measurement, not a test.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=430)
    p.add_argument("--n", type=int, default=500)
    p.add_argument("--k", type=int, default=256)
    p.add_argument("--latent-dim", type=int, default=16)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--json", type=Path)
    args = p.parse_args()

    import torch

    torch.set_num_threads(1)
    from vaebench.data import load_dataset
    from vaebench.data.base import pixels
    from vaebench.metrics.bpd import dequantize, training_levels
    from vaebench.models.cvae import CVAE
    from vaebench.runner import evaluate as ev

    splits = load_dataset("fashion_mnist")
    torch.manual_seed(0)
    model = CVAE(splits.image_shape, args.latent_dim, likelihood="continuous_bernoulli")
    model.dequantize_levels = training_levels(model, splits.train_x)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    g = torch.Generator().manual_seed(0)
    t = time.process_time()
    for _ in range(args.steps):
        idx = torch.randint(len(splits.train_x), (128,), generator=g)
        opt.zero_grad(set_to_none=True)
        model.objective(model.dequantized(pixels(splits.train_x[idx])), splits.train_y[idx])["loss"].backward()
        opt.step()
    train_s = time.process_time() - t
    model.eval()
    x, y = pixels(splits.test_x[: args.n]), splits.test_y[: args.n]
    log_prior = ev.label_log_prior(splits.train_y, splits.num_classes)
    k, m = args.k, ev.other_label_samples(args.k)
    rows = []
    with torch.no_grad():
        for seed in range(args.repeats):
            strat, full = [], []
            secs = {"stratified": 0.0, "every_label_k": 0.0}
            for i in range(0, len(x), 4):
                xb, yb = x[i : i + 4], y[i : i + 4]
                index = torch.arange(i, i + len(xb))
                xe = dequantize(xb, 256, seed, index)
                t = time.process_time()
                true = ev._keyed_bounds(model, "terms", xe, yb, index, k, seed)["iwae"]
                every = ev._every_label(model, "terms", xe, index, m, seed + ev.MARGINAL_SEED_OFFSET, splits.num_classes)
                strat.append(ev.stratified_marginal(true, k, every, m, yb, log_prior))
                secs["stratified"] += time.process_time() - t
                t = time.process_time()
                per_label = torch.stack([ev._keyed_bounds(model, "terms", xe, torch.full_like(yb, c), index, k, seed)["iwae"]
                                         for c in range(splits.num_classes)])
                full.append(ev.marginal_iwae(per_label, log_prior))
                secs["every_label_k"] += time.process_time() - t
            strat_t, full_t = torch.cat(strat), torch.cat(full)
            gap = full_t - strat_t
            rows.append({"seed": seed, "stratified": float(strat_t.mean()), "every_label_k": float(full_t.mean()),
                         "gap_mean": float(gap.mean()), "gap_se": float(gap.std() / len(gap) ** 0.5),
                         "gap_max": float(gap.max()), "gap_min": float(gap.min()), "cpu_s": secs})
            r = rows[-1]
            print(f"seed {seed}: stratified {r['stratified']:.3f}, every label at k {r['every_label_k']:.3f} nats/image; "
                  f"gap {r['gap_mean']:+.4f} ± {r['gap_se']:.4f} (min {r['gap_min']:+.3f}, max {r['gap_max']:+.3f}); "
                  f"CPU s {secs['stratified']:.0f} vs {secs['every_label_k']:.0f}", flush=True)
    result = {"steps": args.steps, "n": args.n, "k": k, "m": m, "latent_dim": args.latent_dim, "train_cpu_s": train_s,
              "repeats": rows}
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
