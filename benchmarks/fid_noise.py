"""Does classifier-feature FID reward pixel noise? FID of fixed degradations of the test split.

    .venv/bin/python benchmarks/fid_noise.py [--datasets digits fashion_mnist] [--threads 2] [--json OUT]

For each dataset, with its shipped FID classifier, every row is one image set compared with the
whole test split:
  * a train subset of test-set size (the floor: same distribution, other images);
  * the test split plus Gaussian pixel noise N(0, sigma^2), clamped to [0, 1];
  * the test split blurred with a Gaussian of std sigma pixels;
  * PCA with k components: test reconstructions; the same plus the PPCA pixel noise
    N(0, sigma_k^2) (sigma_k^2 = mean discarded eigenvalue); PPCA samples (mean + W z + sigma_k eps,
    what `fid_samples` measures for PCA); decoded codes z ~ N(0, diag(Lambda_k)) without pixel
    noise (what `fid_samples_fitted` measures for PCA).
Columns: per-pixel MSE to the test image it came from (where there is one), FID in the backbone's
features, FID/MSE, and the Frechet distance of the raw pixels (same formula, no network), which
tells a property of the distance from a property of the network. Deterministic (fixed seeds).
Not a test; digits takes seconds, Fashion-MNIST a few minutes on 2 shared cores.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

NOISE_SIGMAS = (0.05, 0.1, 0.2, 0.3)
BLUR_SIGMAS = (0.5, 0.75, 1.0, 1.5)
PCA_DIMS = (2, 8)


def image_sets(splits):
    """(name, images, paired with the test split?) in table order."""
    import torch

    from vaebench.data.base import pixels
    from vaebench.metrics.fid_ruler import add_pixel_noise, blur
    from vaebench.models.pca import PCAModel

    test = pixels(splits.test_x).float()
    n = len(test)
    idx = torch.randperm(len(splits.train_x), generator=torch.Generator().manual_seed(0))[:n]
    yield "train subset (floor)", pixels(splits.train_x[idx]).float(), False
    for s in NOISE_SIGMAS:
        yield f"test + noise sigma={s}", add_pixel_noise(test, s, seed=1), True
    for s in BLUR_SIGMAS:
        yield f"test blurred sigma={s}px", blur(test, s), True
    for k in PCA_DIMS:
        pca = PCAModel(splits.image_shape, k).fit(splits.train_x)
        recon = pca.decode(pca.encode(test)[0]).float()
        sd = pca.noise_variance**0.5
        g = torch.Generator().manual_seed(2)
        yield f"pca{k} recon", recon.clamp(0, 1), True
        yield f"pca{k} recon + noise sigma={sd:.3f}", (recon + sd * torch.randn(recon.shape, generator=g)).clamp(0, 1), True
        yield f"pca{k} PPCA samples", pca.sample(n, generator=g).float().clamp(0, 1), False
        z = torch.randn(n, k, generator=g, dtype=torch.float64) * pca.eigenvalues.sqrt()
        yield f"pca{k} decoded N(0, Lambda) codes", pca.decode(z).float().clamp(0, 1), False


def measure(name: str) -> list[dict]:
    from vaebench.data import load_dataset
    from vaebench.data.base import pixels
    from vaebench.metrics.fid import frechet_distance
    from vaebench.metrics.fid_backbone import get_backbone

    splits = load_dataset(name)
    bb = get_backbone(splits, "classifier")
    test = pixels(splits.test_x).float()

    def feats(x):
        return __import__("torch").cat([bb.module(x[i : i + 2000]) for i in range(0, len(x), 2000)])

    ref, ref_px = feats(test), test.reshape(len(test), -1).double()
    rows = []
    print(f"\n{name}: backbone {bb.id} (weights {bb.weights_sha256[:12]}...), {len(test)} test images\n")
    print(f"| images | MSE | FID[{bb.id}] | FID/MSE | pixel FD |\n|---|---|---|---|---|")
    for label, x, paired in image_sets(splits):
        mse = float(((x - test) ** 2).mean()) if paired else None
        fid = frechet_distance(feats(x), ref)
        pfd = frechet_distance(x.reshape(len(x), -1).double(), ref_px)
        rows.append({"dataset": name, "images": label, "mse": mse, "fid": fid, "pixel_fd": pfd})
        m = f"{mse:.4f}" if mse is not None else ""
        r = f"{fid / mse:.0f}" if mse else ""
        print(f"| {label} | {m} | {fid:.3f} | {r} | {pfd:.3f} |", flush=True)
    return rows


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--datasets", nargs="+", default=["digits", "fashion_mnist"])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--json", type=Path, help="also write the rows here")
    args = p.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    rows = [r for name in args.datasets for r in measure(name)]
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
