"""CPU time of the k-sample bound pass by images per call (evaluation's DECODES_PER_CALL).

    .venv/bin/python benchmarks/bound_chunk.py [--k 256] [--images 256] [--latent-dim 16] [--threads 1]

The latent_dim suite's continuous-Bernoulli VAE (untrained; timing does not depend on the
weights), `bound_terms` on --images Fashion-MNIST-sized images with keyed noise, cut into calls
of 1 to 256 images (k x images decodes per call), each size timed twice in alternating order
(up, then down) so that drift on a shared machine shows. The noise is keyed by image, so every
cut gives the same numbers. A measurement, not a test.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--k", type=int, default=256)
    p.add_argument("--images", type=int, default=256)
    p.add_argument("--latent-dim", type=int, default=16)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()

    import torch

    from vaebench.metrics.noise import image_normals
    from vaebench.models.vae import VAE

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = VAE((1, 28, 28), args.latent_dim, likelihood="continuous_bernoulli").eval()
    x = torch.rand(args.images, 1, 28, 28)
    eps = image_normals(0, torch.arange(args.images), args.k, args.latent_dim)
    sizes = [s for s in (1, 4, 16, 64, 256) if s <= args.images]
    seconds: dict[int, list[float]] = {s: [] for s in sizes}
    with torch.no_grad():
        model.bound_terms(x[:4], k=args.k, eps=eps[:, :4])  # warm-up
        for order in (sizes, sizes[::-1]):
            for step in order:
                t = time.process_time()
                for i in range(0, len(x), step):
                    model.bound_terms(x[i : i + step], k=args.k, eps=eps[:, i : i + step])
                seconds[step].append(time.process_time() - t)
    best = min(sum(v) for v in seconds.values())
    print(f"k = {args.k}, {args.images} images, {args.threads} thread(s); CPU seconds (two passes), relative to the fastest")
    for step in sizes:
        print(f"  {step:4d} images/call ({step * args.k:6d} decodes): {seconds[step][0]:6.2f} {seconds[step][1]:6.2f}  "
              f"x{sum(seconds[step]) / best:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
