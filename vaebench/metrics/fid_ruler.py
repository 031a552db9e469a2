"""How far another FID ruler is from the shipped one, in what FID users would see: fixed image
sets (a noisy copy, a blurred copy, PCA reconstructions of the test split), each measured against
the test split under both backbones. Builds on `fid_backbone` (the nets) and `fid` (the
distance), which import nothing from here."""

from __future__ import annotations

import math
from typing import Any

import torch

from vaebench.data.base import Splits, pixels
from vaebench.metrics.fid import fid_of_images
from vaebench.metrics.fid_backbone import (
    ClassifierBackbone,
    as_backbone,
    classifier_accuracy,
    shipped_classifier,
)

RULER_NOISE_SIGMA = 0.1  # pixel noise std (pixels in [0, 1]) of the "noise" pair
RULER_BLUR_SIGMA = 1.0  # Gaussian blur std in pixels of the "blur" pair
RULER_PCA_DIM = 8  # components of the "pca recon" pair


def add_pixel_noise(x: torch.Tensor, sigma: float, seed: int = 0) -> torch.Tensor:
    """x + sigma * N(0, 1) per pixel (a seeded generator), clamped to [0, 1]."""
    x = pixels(x).float()
    eps = torch.randn(x.shape, generator=torch.Generator().manual_seed(seed))
    return (x + sigma * eps).clamp(0.0, 1.0)


def blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Gaussian blur, std `sigma` pixels, kernel 2*ceil(3 sigma)+1 (reflect padding; torchvision)."""
    from torchvision.transforms.functional import gaussian_blur

    k = 2 * math.ceil(3 * sigma) + 1
    return gaussian_blur(pixels(x).float(), [k, k], [sigma, sigma])


def ruler_pairs(splits: Splits) -> dict[str, torch.Tensor]:
    """Fixed image sets, each compared with the test split under two backbones to compare the rulers.

    A noisy copy (sensitivity to pixel noise), a blurred copy (to lost detail) and PCA
    reconstructions (a model output, linear and blurry), all deterministic.
    """
    from vaebench.models.pca import PCAModel

    pca = PCAModel(splits.image_shape, RULER_PCA_DIM).fit(splits.train_x)
    test = pixels(splits.test_x).float()
    recon = torch.cat([pca.decode(pca.encode(test[i : i + 2000])[0]).float() for i in range(0, len(test), 2000)])
    return {
        f"noise sigma={RULER_NOISE_SIGMA}": add_pixel_noise(test, RULER_NOISE_SIGMA),
        f"blur sigma={RULER_BLUR_SIGMA}px": blur(test, RULER_BLUR_SIGMA),
        f"pca{RULER_PCA_DIM} recon": recon.clamp(0.0, 1.0),
    }


@torch.no_grad()
def compare_with_shipped(other: ClassifierBackbone, splits: Splits) -> dict[str, Any]:
    """How far `other` (e.g. trained here) is from the shipped ruler, in what FID users would see.

    Features of two different nets live in unrelated coordinates, so a distance between the two
    feature sets means nothing; instead each pair of `ruler_pairs` is measured under both
    backbones, and the relative difference (other - shipped) / shipped is how much a FID would
    move had it been measured with `other`. Also the test accuracy of both, measured now.
    """
    shipped = shipped_classifier(splits)
    tx, ty = splits.test_x.cpu(), splits.test_y.long().cpu()
    rows = {}
    bbs = (as_backbone(shipped, splits), as_backbone(other, splits))
    for name, images in ruler_pairs(splits).items():
        a, b = (fid_of_images(images, splits.test_x, bb) for bb in bbs)
        rows[name] = {"shipped": a, "other": b, "rel_diff": (b - a) / a}
    return {
        "shipped": {"id": shipped.id, "weights_sha256": shipped.weights_sha256, "test_acc_stated": shipped.test_acc,
                    "test_acc_now": classifier_accuracy(shipped.net, tx, ty)},
        "other": {"id": other.id, "weights_sha256": other.weights_sha256, "test_acc_now": classifier_accuracy(other.net, tx, ty)},
        "fid": rows,
        "max_abs_rel_diff": max(abs(r["rel_diff"]) for r in rows.values()),
    }
