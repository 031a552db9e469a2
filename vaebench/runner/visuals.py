"""Image arrays for the figures, made once per figure run and stored beside its record.

The report renders them; keeping arrays (uint8) rather than PNGs in the record store means
plots can be restyled without retraining. What is made, per model:
  samples        64 samples (VAE/CVAE: prior; AE: N(0, I) through the decoder; PCA: PPCA)
  recon          16 test images over their reconstructions
  interpolation  8 rows: two test images' codes linearly interpolated in 10 steps
  traversal      VAE/AE/PCA: a 10x10 grid over the two most active latent dims (others 0)
  class_grid     CVAE: 8 z ~ N(0, I) (rows) decoded under every class (columns)
  latent_traversal  one row per latent dim (all of them up to 16, else the 16 with the largest
                 spread, in index order): the first test image's code with that one dim swept
                 over [-2.5, 2.5] (VAE/CVAE: prior units; AE/PCA: test-code std around the mean)
"""

from __future__ import annotations

import numpy as np
import torch

from vaebench.data.base import pixels


def _u8(x: torch.Tensor) -> np.ndarray:
    return (x.detach().float().clamp(0, 1).cpu().numpy() * 255).round().astype(np.uint8)


@torch.no_grad()
def make_visuals(model, splits, seed: int, device=None) -> dict[str, np.ndarray]:
    device = torch.device(device or getattr(model, "device", "cpu"))
    gen = torch.Generator(device=device).manual_seed(seed + 104_729)
    # 512 test images spread evenly over the split (splits may be stored in factor-grid order)
    pick = torch.linspace(0, len(splits.test_x) - 1, min(512, len(splits.test_x))).round().long()
    x, y = pixels(splits.test_x[pick]).to(device), splits.test_y[pick].to(device)
    out = {}
    samples_y = None
    if model.conditional:
        samples_y = torch.arange(64, device=device) % splits.num_classes
    out["samples"] = _u8(model.sample(64, samples_y, generator=gen))
    mu, _ = model.encode(x[:16], y[:16])
    out["recon"] = np.stack([_u8(x[:16]), _u8(model.decode(mu, y[:16]))])

    # interpolation between pairs of test images of different classes
    rows = []
    t = torch.linspace(0, 1, 10, device=device, dtype=torch.float64)[:, None]
    for i in range(8):
        a = i
        others = torch.nonzero(y != y[a]).flatten()  # a different class, when there is one
        b = int(others[i % len(others)]) if len(others) else (a + 1 + i) % len(x)
        za, zb = (model.encode(x[j : j + 1], y[j : j + 1])[0].double() for j in (a, b))
        z = ((1 - t) * za + t * zb).to(za.dtype)
        yy = None
        if model.conditional:
            onehot = torch.nn.functional.one_hot(y[[a, b]], splits.num_classes).double()
            yy = ((1 - t) * onehot[0] + t * onehot[1]).float()
        rows.append(_u8(model.decode(z.float() if model.likelihood == "bernoulli" else z, yy)))
    out["interpolation"] = np.stack(rows)

    codes, _ = model.encode(x, y)
    spread = codes.double().std(0)
    dims = torch.argsort(spread, descending=True)[:2].tolist()
    if model.conditional:
        z = torch.randn(8, model.latent_dim, generator=gen, device=device)
        grid = [model.decode(z, torch.full((8,), c, device=device, dtype=torch.long)) for c in range(splits.num_classes)]
        out["class_grid"] = np.stack([_u8(g) for g in grid], axis=1)  # (8 rows, classes, C, H, W)
    elif len(dims) == 2:
        # VAE: prior quantiles in [-2, 2]; AE/PCA: +-2 standard deviations of the test codes
        scale = torch.ones_like(spread) if hasattr(model, "bound_terms") else spread
        center = torch.zeros_like(spread) if hasattr(model, "bound_terms") else codes.double().mean(0)
        steps = torch.linspace(-2, 2, 10, dtype=torch.float64, device=device)
        grid = center.repeat(10, 10, 1)
        grid[:, :, dims[0]] += steps[:, None] * scale[dims[0]]
        grid[:, :, dims[1]] += steps[None, :] * scale[dims[1]]
        imgs = model.decode(grid.reshape(100, -1).to(codes.dtype))
        out["traversal"] = _u8(imgs).reshape(10, 10, *imgs.shape[1:])
        out["traversal_dims"] = np.array(dims)
    out["latent_traversal"], out["latent_traversal_dims"] = _latent_traversal(model, codes, x[:1], y[:1], spread)
    return out


def _latent_traversal(model, codes, x0, y0, spread, steps: int = 10, max_dims: int = 16):
    k = codes.shape[1]
    dims = torch.arange(k) if k <= max_dims else torch.argsort(spread.cpu(), descending=True)[:max_dims].sort().values
    prior = hasattr(model, "bound_terms")
    base = model.encode(x0, y0)[0].double()[0]  # (K,)
    values = torch.linspace(-2.5, 2.5, steps, dtype=torch.float64, device=base.device)
    center = codes.double().mean(0)
    rows = []
    for d in dims.tolist():
        z = base.repeat(steps, 1)
        z[:, d] = values if prior else center[d] + values * spread[d]
        yy = y0.repeat(steps) if model.conditional else None
        rows.append(_u8(model.decode(z.to(codes.dtype), yy)))
    return np.stack(rows), dims.numpy()
