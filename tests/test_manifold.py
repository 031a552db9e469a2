"""The `manifold` data set: a pure function of its parameters, images in [0, 1], the latent
dimension it claims (noise-free linear images span exactly k dimensions), labels from z[0]."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vaebench.data.manifold import generate
from vaebench.data.registry import load_dataset, resolve_dataset
from vaebench.errors import UserError


def test_splits_are_fixed_deterministic_and_in_range():
    spec = resolve_dataset("manifold", {"k": 3, "n": 500})
    a, b = load_dataset(spec), load_dataset(spec)
    assert a.checksum == b.checksum and torch.equal(a.test_x, b.test_x)
    assert a.image_shape == (1, 28, 28) and (len(a.train_x), len(a.val_x), len(a.test_x)) == (350, 50, 100)
    assert a.train_x.dtype == torch.float32 and 0 <= a.train_x.min() and a.train_x.max() <= 1
    assert load_dataset(resolve_dataset("manifold", {"k": 3, "n": 500, "seed": 1})).checksum != a.checksum
    assert str(spec) == "manifold[k=3,n=500]"


@pytest.mark.parametrize("k", [1, 3, 7])
def test_noise_free_linear_images_span_exactly_k_dimensions(k):
    x, z, _ = generate(k, "linear", 0.0, 1000, 0)
    assert ((x == 0) | (x == 1)).mean() < 1e-3  # clipping is rare: the images stay affine in z
    s = np.linalg.svd(x - x.mean(0), compute_uv=False)
    assert s[k - 1] / s[0] > 1e-2 and s[k] / s[0] < 1e-3


def test_mlp_images_are_curved_and_depend_on_every_latent():
    x, z, _ = generate(3, "mlp", 0.0, 2000, 0)
    s = np.linalg.svd(x - x.mean(0), compute_uv=False)
    assert s[3] / s[0] > 1e-2  # more than k linear directions: a curved manifold
    coef, *_ = np.linalg.lstsq(np.c_[x, np.ones(len(x))], z, rcond=None)
    resid = z - np.c_[x, np.ones(len(x))] @ coef
    assert (resid.var(0) < 0.2 * z.var(0)).all()  # every z coordinate is readable from the image


def test_labels_are_deciles_of_the_first_latent():
    _, z, y = generate(2, "mlp", 0.05, 5000, 0)
    assert np.all(np.diff([z[y == c, 0].mean() for c in range(10)]) > 0)
    assert np.bincount(y, minlength=10).min() > 400


def test_bad_parameters_fail_with_a_message():
    with pytest.raises(UserError, match="generator must be one of linear, mlp"):
        load_dataset(resolve_dataset("manifold", {"generator": "cubic"}))
    with pytest.raises(UserError, match="parameter k must be like its default"):
        resolve_dataset("manifold", {"k": 2.5})
