"""Image arrays for the figures, made once per figure run and stored beside its record.

The report renders them; keeping arrays (uint8) rather than PNGs in the record store means
plots can be restyled without retraining. What is made, per model:
  samples        64 samples (VAE/CVAE: prior; AE: N(0, I) through the decoder; PCA: PPCA)
  recon          16 test images over their reconstructions
  interpolation  8 rows: two test images' codes linearly interpolated in 10 steps
  traversal      VAE/AE/PCA: a 10x10 grid over the two most active latent dims (the others at
                 their centre); `traversal_values` (2, 10): the values of the row dim, then of
                 the column dim
  class_grid     CVAE: 8 z ~ N(0, I) (rows) decoded under every class (columns)
  latent_traversal  one row per latent dim (all of them up to 16, else the 16 with the largest
                 spread, in index order): the first test image's code with that one dim swept;
                 `latent_traversal_values` (rows, 10): each row's swept values
  traversal_units  "prior" or "code": how the sweeps were scaled

Sweeps: a VAE/CVAE code lives in prior units (p(z) = N(0, I)), so it is swept over fixed prior
quantiles (+-2 in the grid, +-2.5 per dim) around 0. AE and PCA codes are not N(0, 1) (PCA's
k-th code has the k-th eigenvalue as its variance), so their sweeps are centred on the mean of
the train codes and scaled by each dim's train-code standard deviation (the same +-2 / +-2.5
multiples): every row covers where that dim's codes actually lie.
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
    center, scale = _sweep_frame(model, splits, device)
    spread = codes.double().std(0)  # which dims vary most on test images
    dims = torch.argsort(spread, descending=True)[:2].tolist()
    out["traversal_units"] = np.array("prior" if _in_prior_units(model) else "code")
    if model.conditional:
        z = torch.randn(8, model.latent_dim, generator=gen, device=device)
        grid = [model.decode(z, torch.full((8,), c, device=device, dtype=torch.long)) for c in range(splits.num_classes)]
        out["class_grid"] = np.stack([_u8(g) for g in grid], axis=1)  # (8 rows, classes, C, H, W)
    elif len(dims) == 2:
        # VAE: prior quantiles in [-2, 2]; AE/PCA: +-2 standard deviations of the train codes
        steps = torch.linspace(-2, 2, 10, dtype=torch.float64, device=center.device)
        values = torch.stack([center[d] + steps * scale[d] for d in dims])  # (2, 10)
        grid = center.repeat(10, 10, 1)
        grid[:, :, dims[0]] = values[0][:, None]
        grid[:, :, dims[1]] = values[1][None, :]
        imgs = model.decode(grid.reshape(100, -1).to(device=device, dtype=codes.dtype))
        out["traversal"] = _u8(imgs).reshape(10, 10, *imgs.shape[1:])
        out["traversal_dims"] = np.array(dims)
        out["traversal_values"] = values.cpu().numpy()
    (out["latent_traversal"], out["latent_traversal_dims"],
     out["latent_traversal_values"]) = _latent_traversal(model, codes, x[:1], y[:1], spread, center, scale)
    return out


def _in_prior_units(model) -> bool:
    """VAE/CVAE (and plug-ins with an ELBO): the code's prior is N(0, I)."""
    return hasattr(model, "bound_terms")


def _sweep_frame(model, splits, device, n: int = 2048) -> tuple[torch.Tensor, torch.Tensor]:
    """(centre, scale) per latent dim, float64: (0, 1) in prior units; else the mean and std of
    the codes of up to `n` train images spread evenly over the split."""
    k = model.latent_dim
    if _in_prior_units(model):
        return torch.zeros(k, dtype=torch.float64), torch.ones(k, dtype=torch.float64)
    pick = torch.linspace(0, len(splits.train_x) - 1, min(n, len(splits.train_x))).round().long()
    x, y = pixels(splits.train_x[pick]).to(device), splits.train_y[pick].to(device)
    codes = model.encode(x, y)[0].double().cpu()
    return codes.mean(0), codes.std(0)


def _latent_traversal(model, codes, x0, y0, spread, center, scale, steps: int = 10, max_dims: int = 16):
    """(images (rows, steps, C, H, W), the dims, each row's swept values (rows, steps))."""
    k = codes.shape[1]
    dims = torch.arange(k) if k <= max_dims else torch.argsort(spread.cpu(), descending=True)[:max_dims].sort().values
    base = model.encode(x0, y0)[0].double()[0]  # (K,)
    multiples = torch.linspace(-2.5, 2.5, steps, dtype=torch.float64)
    rows, values = [], []
    for d in dims.tolist():
        v = center[d] + multiples * scale[d]
        z = base.repeat(steps, 1)
        z[:, d] = v.to(base.device)
        yy = y0.repeat(steps) if model.conditional else None
        rows.append(_u8(model.decode(z.to(codes.dtype), yy)))
        values.append(v)
    return np.stack(rows), dims.numpy(), torch.stack(values).numpy()
