"""color_dsprites and noisy_dsprites: disentanglement_lib's definitions on the procedural
renderer, fixed per grid index, aligned with their factors, and through the whole pipeline."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
import torch

from vaebench.cli import main
from vaebench.data.base import fixed_split
from vaebench.data.dsprites_render import FACTOR_SIZES, NUM_IMAGES, DSprites, index_to_factors
from vaebench.data.dsprites_variants import (
    DSpritesVariant,
    index_bytes,
    load_variant_splits,
    splitmix64,
)
from vaebench.data.registry import load_dataset, resolve_dataset
from vaebench.errors import UserError
from vaebench.metrics.catalog import DISENTANGLEMENT_METRICS

BASE = DSprites()
IDX = np.random.default_rng(1).choice(NUM_IMAGES, size=512, replace=False)


@pytest.fixture(scope="module", params=["color", "noisy"])
def variant(request):
    return DSpritesVariant(BASE, request.param)


def test_splitmix64_is_the_published_generator():
    # SplitMix64 seeded with 0: its first output (the reference C code of Vigna's xorshift page)
    assert int(splitmix64(np.array([0], dtype=np.uint64))[0]) == 0xE220A8397B1DCDAF


def test_color_is_the_white_sprite_times_one_colour_per_image():
    d = DSpritesVariant(BASE, "color")
    img, sprite = d.images(IDX), BASE.images(IDX).astype(bool)
    assert img.shape == (512, 3, 64, 64) and img.dtype == np.uint8
    assert np.all(img[:, :, ~sprite[0]][0] == 0)  # the background stays black
    assert np.all(np.where(sprite[:, None], 0, img) == 0)
    for i in range(len(IDX)):
        on = img[i][:, sprite[i]]  # (3, pixels of the sprite)
        assert np.all(on == on[:, :1])  # one colour over the whole sprite
        assert np.all((on[:, 0] >= 128) & (on[:, 0] <= 255))  # each channel in [0.5, 1]
    colours = img.reshape(512, 3, -1).max(axis=2)
    assert len({tuple(c) for c in colours}) > 500  # a colour per image, not per factor combination class


def test_noisy_is_a_white_sprite_on_uniform_noise():
    d = DSpritesVariant(BASE, "noisy")
    img, sprite = d.images(IDX), BASE.images(IDX).astype(bool)
    assert np.all(img.transpose(1, 0, 2, 3)[:, sprite] == 255)  # min(1 + noise, 1) = 1
    background = img.transpose(1, 0, 2, 3)[:, ~sprite]  # (3, background pixels)
    counts = np.bincount(background.ravel(), minlength=256)
    expected = background.size / 256
    assert np.abs(counts - expected).max() < 6 * np.sqrt(expected)  # uniform on 0..255
    assert abs(np.corrcoef(background[0].astype(float), background[1].astype(float))[0, 1]) < 0.01  # channels independent


def test_observations_are_fixed_per_grid_index(variant):
    a = variant.images(IDX)
    b = variant.images(IDX[::-1])[::-1]  # another order, another batch
    c = np.concatenate([DSpritesVariant(DSprites(), variant.variant).images(IDX[i : i + 7]) for i in range(0, 512, 7)])
    assert np.array_equal(a, b) and np.array_equal(a, c)
    # and the same pixels on every machine: a pinned digest of three images
    pinned = {"color": "5caff6038e92c3b4d591533af209fc2ff61ddc2fa1fb0639ec61df79bff05bb4",
              "noisy": "a980b5e60ea5de6f95aebd0d13016d6a878eb78b25b7a48e8da66c13a3e4564e"}
    assert hashlib.sha256(variant.images(np.array([0, 1000, NUM_IMAGES - 1])).tobytes()).hexdigest() == pinned[variant.variant]


def test_the_randomness_carries_no_factor(variant):
    """Colour and noise are functions of the grid index, so they must not encode the factors."""
    idx = np.random.default_rng(2).choice(NUM_IMAGES, size=20_000, replace=False)
    draws = index_bytes(idx, 3, stream=1 if variant.variant == "color" else 2).astype(float)
    factors = index_to_factors(idx).astype(float)
    for c in range(3):
        for j in range(len(FACTOR_SIZES)):
            assert abs(np.corrcoef(draws[:, c], factors[:, j])[0, 1]) < 0.05


def test_ground_truth_observations_match_the_factors(variant):
    obs = variant.sample_observations_from_factors(index_to_factors(IDX), np.random.RandomState(0))
    assert obs.dtype == np.float32 and obs.shape == (512, 3, 64, 64) and 0 <= obs.min() and obs.max() <= 1
    assert np.array_equal(obs, variant.images(IDX) / np.float32(255))
    assert np.array_equal(variant.sample_factors(10, np.random.RandomState(3)), BASE.sample_factors(10, np.random.RandomState(3)))
    assert len(variant) == NUM_IMAGES and list(variant.factor_sizes) == list(FACTOR_SIZES)


@pytest.mark.parametrize("name", ["color_dsprites", "noisy_dsprites"])
def test_splits_are_3_channel_uint8_and_aligned_with_the_grid(name):
    s = load_dataset(resolve_dataset(name, {"subsample": 3000}))
    assert s.name == name and s.image_shape == (3, 64, 64) and s.train_x.dtype == torch.uint8
    assert (len(s.train_x), len(s.val_x), len(s.test_x)) == (2918, 41, 41) and s.num_classes == 3
    # the stored test images are the ground truth's images at the test split's grid indices
    indices = np.sort(np.random.default_rng(0).choice(NUM_IMAGES, size=3000, replace=False))
    test = indices[fixed_split(3000, 41, 41)[2]]
    assert np.array_equal(s.test_x.numpy(), s.ground_truth.images(test))
    assert s.test_y.tolist() == index_to_factors(test)[:, 0].tolist()  # label = shape factor
    other = load_variant_splits(name.split("_")[0], subsample=3000)
    assert other.checksum == s.checksum and torch.equal(other.train_x, s.train_x)


def test_bad_subsample_is_a_user_error():
    with pytest.raises(UserError, match=r"subsample must be an integer in \[300, 737280\]"):
        load_dataset(resolve_dataset("color_dsprites", {"subsample": 5}))


@pytest.mark.slow  # about 90 s on 2 loaded CPU cores
def test_disentanglement_suite_runs_on_both_variants(capsys, tmp_path):
    suite = tmp_path / "variants.yaml"
    suite.write_text(
        "name: variants\ndatasets: [{name: color_dsprites, subsample: 3000}, {name: noisy_dsprites, subsample: 3000}]\n"
        "models: [vae]\nlatent_dims: [3]\nseeds: [0]\n"  # (PCA: an eigh of 12288 x 12288, minutes on a CPU)
        "protocol: {batch_size: 64, max_steps: 2, fid_backbone: none, disentanglement_sample_scale: 0.01, num_threads: 1}\n"
    )
    out = tmp_path / "out"
    code = main(["run", "--suite", str(suite), "--quiet", "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    records = [json.loads(p.read_text()) for p in sorted((out / "runs").glob("*.json"))]
    assert sorted((r["spec"]["dataset_label"], r["spec"]["model"]) for r in records) == [
        ("color_dsprites[subsample=3000]", "vae"), ("noisy_dsprites[subsample=3000]", "vae")]
    for r in records:
        assert r["status"] == "ok" and r["dataset"]["n_test"] == 41
        for metric in DISENTANGLEMENT_METRICS:
            assert 0 <= r["metrics"][metric] <= 1, (r["run_id"], metric)
        assert r["disentanglement_protocol"]["factors"] == ["shape", "scale", "orientation", "pos_x", "pos_y"]
