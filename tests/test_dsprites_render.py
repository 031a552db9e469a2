"""The procedural dSprites renderer: grid, geometry, determinism and the official-file loader."""

from __future__ import annotations

import numpy as np
import pytest

from vaebench.data import dsprites_render as dr
from vaebench.data.dsprites_render import (
    FACTOR_NAMES,
    FACTOR_SIZES,
    DSprites,
    factors_to_index,
    index_to_factors,
    render,
)

SQUARE, ELLIPSE, HEART = 0, 1, 2


def one(shape=SQUARE, scale=5, orientation=0, pos_x=15, pos_y=15) -> np.ndarray:
    """Render a single sprite, as a (64, 64) uint8 image."""
    return render(np.array([[shape, scale, orientation, pos_x, pos_y]]))[0]


def centre_of_mass(img: np.ndarray) -> tuple[float, float]:
    rows, cols = np.nonzero(img)
    return rows.mean(), cols.mean()


def test_grid_constants():
    assert FACTOR_NAMES == ("shape", "scale", "orientation", "pos_x", "pos_y")
    assert FACTOR_SIZES == (3, 6, 40, 32, 32)
    assert int(np.prod(FACTOR_SIZES)) == 737_280
    ds = DSprites()
    assert len(ds) == 737_280
    assert ds.num_factors == 5
    assert tuple(ds.factor_sizes) == FACTOR_SIZES


def test_index_factor_roundtrip_whole_grid():
    idx = np.arange(737_280)
    f = index_to_factors(idx)
    assert f.shape == (737_280, 5)
    assert np.all(f >= 0) and np.all(f < np.array(FACTOR_SIZES))
    np.testing.assert_array_equal(factors_to_index(f), idx)
    # Official order: pos_y varies fastest, shape slowest.
    np.testing.assert_array_equal(f[:3], [[0, 0, 0, 0, 0], [0, 0, 0, 0, 1], [0, 0, 0, 0, 2]])
    np.testing.assert_array_equal(f[32], [0, 0, 0, 1, 0])
    np.testing.assert_array_equal(f[-1], [2, 5, 39, 31, 31])
    assert int(index_to_factors(12345)[0, 2]) == index_to_factors(np.array([12345]))[0, 2]


def test_render_shape_dtype_binary_deterministic():
    rng = np.random.default_rng(0)
    idx = rng.integers(0, 737_280, size=5000)
    f = index_to_factors(idx)
    a = render(f)
    assert a.shape == (5000, 64, 64) and a.dtype == np.uint8
    assert set(np.unique(a)) <= {0, 1}
    assert a.reshape(5000, -1).sum(1).min() > 0  # every sprite is visible
    np.testing.assert_array_equal(a, render(f))
    np.testing.assert_array_equal(a, DSprites().images(idx))


def test_render_rejects_out_of_range():
    with pytest.raises(ValueError):
        render(np.array([[3, 0, 0, 0, 0]]))
    with pytest.raises(ValueError):
        render(np.array([[0, 0, 0, 0]]))


@pytest.mark.parametrize("shape", [SQUARE, ELLIPSE, HEART])
def test_area_grows_with_scale(shape):
    areas = [int(one(shape, s, orientation=3).sum()) for s in range(6)]
    assert all(b > a for a, b in zip(areas, areas[1:], strict=False)), areas
    # Area is quadratic in scale (scale 1 vs 0.5: four times), up to pixel rounding.
    assert 3.4 < areas[-1] / areas[0] < 4.6, areas


@pytest.mark.parametrize("shape", [SQUARE, ELLIPSE, HEART])
def test_centre_of_mass_follows_position(shape):
    cols = [centre_of_mass(one(shape, 3, 7, pos_x=x, pos_y=10))[1] for x in range(32)]
    rows = [centre_of_mass(one(shape, 3, 7, pos_x=10, pos_y=y))[0] for y in range(32)]
    steps_c, steps_r = np.diff(cols), np.diff(rows)
    # One position step is exactly one pixel: the sprite is translated, not re-drawn.
    np.testing.assert_allclose(steps_c, 1.0, atol=1e-9)
    np.testing.assert_allclose(steps_r, 1.0, atol=1e-9)
    # pos_x moves columns only, pos_y rows only.
    assert (
        np.ptp([centre_of_mass(one(shape, 3, 7, pos_x=x, pos_y=10))[0] for x in range(32)]) < 1e-9
    )


def test_sprites_never_leave_the_frame():
    """Every sprite at the extreme positions keeps its full area (nothing clipped)."""
    base = np.array([[s, c, o] for s in range(3) for c in range(6) for o in range(40)])
    n = len(base)
    centre = render(np.hstack([base, np.full((n, 2), 15)])).reshape(n, -1).sum(1)
    for px, py in [(0, 0), (31, 31), (0, 31), (31, 0)]:
        corner = render(np.hstack([base, np.tile([px, py], (n, 1))]))
        np.testing.assert_array_equal(corner.reshape(n, -1).sum(1), centre)
        # No sprite pixel on the outermost frame border.
        border = corner[:, [0, -1], :].sum() + corner[:, :, [0, -1]].sum()
        assert border == 0


def test_square_quarter_turn_is_symmetric():
    for k in (0, 3, 7):
        a, b = one(SQUARE, 5, k), one(SQUARE, 5, k + 10)  # 10 steps = 90 degrees
        assert np.sum(a != b) <= 0.02 * a.sum()


def test_ellipse_rotation_changes_image_half_turn_does_not():
    a = one(ELLIPSE, 5, 0)
    assert np.sum(a != one(ELLIPSE, 5, 5)) > 0.3 * a.sum()  # 45 degrees
    assert np.sum(a != one(ELLIPSE, 5, 20)) <= 0.02 * a.sum()  # 180 degrees


def test_heart_has_no_half_turn_symmetry_and_shapes_differ():
    h = one(HEART, 5, 0)
    assert np.sum(h != one(HEART, 5, 20)) > 0.2 * h.sum()
    s, e = one(SQUARE, 5, 0), one(ELLIPSE, 5, 0)
    assert np.sum(s != e) > 0.1 * s.sum() and np.sum(s != h) > 0.1 * s.sum()


def test_orientation_turns_counter_clockwise_on_screen():
    # The heart's tip points down at orientation 0; a quarter turn CCW points it right.
    h0 = one(HEART, 5, 0, 15, 15)
    r0, c0 = centre_of_mass(h0)
    rows, cols = np.nonzero(h0)
    assert rows.max() - r0 > r0 - rows.min()  # tip (longest reach) below the centre
    h90 = one(HEART, 5, 10, 15, 15)
    r9, c9 = centre_of_mass(h90)
    rows, cols = np.nonzero(h90)
    assert cols.max() - c9 > c9 - cols.min()


def test_dataset_sampling_interface():
    ds = DSprites()
    f = ds.sample_factors(100, np.random.RandomState(1))
    assert f.shape == (100, 5) and np.issubdtype(f.dtype, np.integer)
    assert np.all(f < np.array(FACTOR_SIZES))
    np.testing.assert_array_equal(f, ds.sample_factors(100, np.random.RandomState(1)))
    # Same draw sequence as disentanglement_lib's SplitDiscreteStateSpace.
    rs = np.random.RandomState(1)
    expected = np.stack([rs.randint(s, size=100) for s in FACTOR_SIZES], axis=1)
    np.testing.assert_array_equal(f, expected)
    g = ds.sample_factors(10, np.random.default_rng(0))  # numpy Generators work too
    assert g.shape == (10, 5)
    x = ds.sample_observations_from_factors(f, np.random.RandomState(0))
    assert x.shape == (100, 1, 64, 64) and x.dtype == np.float32
    assert set(np.unique(x)) <= {0.0, 1.0}
    np.testing.assert_array_equal(x[:, 0], ds.images(factors_to_index(f)))
    img, fac = ds[1234]
    assert img.shape == (1, 64, 64) and img.dtype == np.float32
    np.testing.assert_array_equal(fac, index_to_factors(1234)[0])


def _fake_official(tmp_path, idx):
    """A small stand-in for the official npz: a subset of the grid, in shuffled order."""
    f = index_to_factors(idx)
    imgs = 1 - render(f)  # inverted, so we can tell loaded images from rendered ones
    latents = np.hstack([np.zeros((len(idx), 1), dtype=np.int64), f])
    path = tmp_path / "dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz"
    np.savez(path, imgs=imgs, latents_classes=latents)
    return path, imgs


def test_from_npz_same_interface(tmp_path):
    rng = np.random.default_rng(0)
    idx = rng.permutation(737_280)[:300]
    path, imgs = _fake_official(tmp_path, idx)
    with pytest.raises(ValueError, match="complete"):
        DSprites.from_npz(path)
    ds = DSprites.from_npz(path, strict=False)
    assert ds.source == "npz" and len(ds) == 300
    assert tuple(ds.factor_sizes) == FACTOR_SIZES
    np.testing.assert_array_equal(ds.images(idx[::-1]), imgs[::-1])
    x = ds.sample_observations_from_factors(index_to_factors(idx[:5]), np.random.RandomState(0))
    np.testing.assert_array_equal(x[:, 0], imgs[:5])
    with pytest.raises(KeyError):
        ds.images(np.setdiff1d(np.arange(737_280), idx)[:1])


def test_renderer_bank_is_cached():
    assert dr._sprite_bank() is dr._sprite_bank()
