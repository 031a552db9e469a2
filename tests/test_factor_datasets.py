"""Shapes3D, MPI3D, SmallNORB and Cars3D on small files in their official formats
(tests/factor_files.py): disentanglement_lib's factor definitions, every image at its grid index,
the splits, the checksums, the messages when a file is missing or wrong, `list`, and a
`disentanglement`-protocol run on each with the six scores."""

from __future__ import annotations

import numpy as np
import pytest

from tests.factor_files import (
    CARS3D_CARS,
    MPI3D_SIZES,
    SHAPES3D_SIZES,
    SMALLNORB_SIZES,
    md5,
    paint,
    read_painted,
    sha256,
    smallnorb_pins,
    write_cars3d,
    write_mpi3d,
    write_shapes3d,
    write_smallnorb,
)
from vaebench.data import cars3d, mpi3d, shapes3d, smallnorb
from vaebench.data.factor_grid import FactorGrid, Grid, held_out_size, resident
from vaebench.errors import DataError

NAMES = ("shapes3d", "mpi3d_toy", "smallnorb", "cars3d")


def _prepare(name: str, root, mp: pytest.MonkeyPatch, packed: bool = True):
    """Writes the set's files under root and pins them (small factor sizes, their checksums)."""
    if name == "shapes3d":
        path = write_shapes3d(root / "3dshapes")
        mp.setattr(shapes3d, "FACTOR_SIZES", SHAPES3D_SIZES)
        mp.setattr(shapes3d, "SHA256", {"3dshapes.h5": sha256(path)})
    elif name == "mpi3d_toy":
        path = write_mpi3d(root / "mpi3d")
        mp.setattr(mpi3d, "SIZES_BY_COUNT", {int(np.prod(MPI3D_SIZES)): MPI3D_SIZES})
        mp.setattr(mpi3d, "MD5", {**mpi3d.MD5, "toy": md5(path)})
    elif name == "smallnorb":
        write_smallnorb(root / "small_norb", packed=packed)
        mp.setattr(smallnorb, "FACTOR_SIZES", SMALLNORB_SIZES)
        if packed:
            mp.setattr(smallnorb, "SHA256", smallnorb_pins(root / "small_norb"))
    else:
        path = write_cars3d(root / "cars3d", packed=packed)
        mp.setattr(cars3d, "FACTOR_SIZES", (4, 24, CARS3D_CARS))
        if packed:
            mp.setattr(cars3d, "MD5", {cars3d.ARCHIVE: md5(path)})


def _load(name, root):
    from vaebench.data import load_dataset

    return load_dataset(name, root)


@pytest.fixture(scope="module", params=NAMES)
def loaded(request, tmp_path_factory):
    root = tmp_path_factory.mktemp(request.param)
    with pytest.MonkeyPatch.context() as mp:
        _prepare(request.param, root, mp)
        yield request.param, _load(request.param, root)


# disentanglement_lib's definitions (data/ground_truth/{shapes3d,mpi3d,norb,cars3d}.py): all factors,
# the observed ones, and what the official files' sizes are
DLIB = {
    "shapes3d": (shapes3d.FACTOR_NAMES, (10, 10, 10, 8, 4, 15), (0, 1, 2, 3, 4, 5)),
    "smallnorb": (smallnorb.FACTOR_NAMES, (5, 10, 9, 18, 6), (0, 2, 3, 4)),
    "cars3d": (cars3d.FACTOR_NAMES, (4, 24, 183), (0, 1, 2)),
}


def test_the_official_definitions_are_disentanglement_libs():
    assert shapes3d.FACTOR_NAMES == ("floor_hue", "wall_hue", "object_hue", "scale", "shape", "orientation")
    assert shapes3d.FACTOR_SIZES == DLIB["shapes3d"][1]
    assert smallnorb.FACTOR_NAMES == ("category", "instance", "elevation", "azimuth", "lighting")
    assert smallnorb.FACTOR_SIZES == DLIB["smallnorb"][1] and smallnorb.OBSERVED == (0, 2, 3, 4)
    assert cars3d.FACTOR_NAMES == ("elevation", "azimuth", "object_type") and cars3d.FACTOR_SIZES == (4, 24, 183)
    # MPI3D: the final release's 1,036,800 images are 6 colours x 6 shapes; the earlier 460,800 were 4 x 4
    assert mpi3d.SIZES_BY_COUNT == {1_036_800: (6, 6, 2, 3, 3, 40, 40), 460_800: (4, 4, 2, 3, 3, 40, 40)}
    assert all(int(np.prod(s)) == n for n, s in mpi3d.SIZES_BY_COUNT.items())
    assert int(np.prod(smallnorb.FACTOR_SIZES)) == 2 * 24_300 and int(np.prod(cars3d.FACTOR_SIZES)) == 17_568
    assert int(np.prod(shapes3d.FACTOR_SIZES)) == 480_000


def test_grid_order_is_disentanglement_libs_factor_bases():
    sizes = (3, 4, 2, 5)
    grid = Grid(sizes)
    bases = np.prod(sizes) / np.cumprod(sizes)  # disentanglement_lib's factor_bases
    f = grid.index_to_factors(np.arange(grid.size))
    assert np.array_equal(np.dot(f, bases).astype(np.int64), np.arange(grid.size))
    assert np.array_equal(grid.factors_to_index(f), np.arange(grid.size))
    with pytest.raises(ValueError, match="out of range"):
        grid.factors_to_index([[3, 0, 0, 0]])


def test_unobserved_factors_are_drawn_as_disentanglement_lib_draws_them():
    """SplitDiscreteStateSpace: observed factors one randint each; then, per observation call, the
    unobserved ones, one randint each in factor order; the same stream gives the same images."""
    sizes, observed = (5, 10, 9, 18, 6), (0, 2, 3, 4)
    ds = FactorGrid(smallnorb.FACTOR_NAMES, sizes, observed, resident(np.zeros((1, 1, 1, 1), np.uint8)), (1, 1, 1))
    ours, ref = np.random.RandomState(7), np.random.RandomState(7)
    f = ds.sample_factors(50, ours)
    want = np.stack([ref.randint(sizes[i], size=50) for i in observed], axis=1)
    assert np.array_equal(f, want)
    idx = ds.grid_indices(f, ours)
    full = np.zeros((50, 5), np.int64)
    full[:, list(observed)] = want
    full[:, 1] = ref.randint(10, size=50)
    assert np.array_equal(idx, np.dot(full, np.prod(sizes) / np.cumprod(sizes)).astype(np.int64))
    assert ours.randint(1 << 30) == ref.randint(1 << 30)  # the streams stay in step
    assert tuple(ds.factor_sizes) == (5, 9, 18, 6) and ds.num_factors == 4
    assert ds.factor_names == ("category", "elevation", "azimuth", "lighting")


def test_every_image_is_at_its_grid_index(loaded):
    name, s = loaded
    gt = s.ground_truth
    idx = np.arange(len(gt))
    assert np.array_equal(read_painted(gt.images(idx), len(gt.grid.sizes)), gt.grid.index_to_factors(idx))
    sparse = np.random.default_rng(0).choice(len(gt), 7, replace=False)  # random batches: another read path
    assert np.array_equal(read_painted(gt.images(sparse), len(gt.grid.sizes)), gt.grid.index_to_factors(sparse))
    obs = gt.observations(idx[:3])
    assert obs.dtype == np.float32 and obs.shape == (3, *gt.image_shape) and 0 <= obs.min() and obs.max() <= 1


def test_splits_cover_the_grid_once_with_5_percent_held_out_and_factor_labels(loaded):
    name, s = loaded
    gt = s.ground_truth
    n = len(gt)
    assert len(s.val_x) == len(s.test_x) == held_out_size(n) and len(s.train_x) == n - 2 * held_out_size(n)
    assert held_out_size(480_000) == held_out_size(1_036_800) == 10_000 and held_out_size(48_600) == 2430
    seen = []
    for split in ("train", "val", "test"):
        x, y = s.split(split)
        assert x.dtype.is_floating_point is False and tuple(x.shape[1:]) == gt.image_shape
        factors = read_painted(x[: len(x)].numpy(), len(gt.grid.sizes))
        seen.append(gt.grid.factors_to_index(factors))
        label = {"shapes3d": 4, "mpi3d_toy": 1, "smallnorb": 0, "cars3d": 1}[name]  # an index among all factors
        assert y.tolist() == factors[:, label].tolist()
    assert np.array_equal(np.sort(np.concatenate(seen)), np.arange(n))
    assert s.num_classes == gt.grid.sizes[{"shapes3d": 4, "mpi3d_toy": 1, "smallnorb": 0, "cars3d": 1}[name]]


def test_observed_factors_are_disentanglement_libs(loaded):
    name, s = loaded
    gt = s.ground_truth
    if name in DLIB:
        names, _, observed = DLIB[name]
        assert gt.all_factor_names == names and gt.observed == observed
    assert gt.factor_names == tuple(gt.all_factor_names[i] for i in gt.observed)


def test_big_sets_are_read_on_demand_and_small_ones_held(loaded):
    from vaebench.data.streamed import ImageRows

    name, s = loaded
    streamed = isinstance(s.train_x, ImageRows)
    assert streamed == (name in ("shapes3d", "mpi3d_toy"))
    if streamed:
        assert s.train_x[[0, 2]].shape == (2, 3, 64, 64) and len(s.train_x[1:4]) == 3
        assert s.train_x.digest() != s.val_x.digest()


def test_resizing_is_pils_antialias_filter(loaded):
    """SmallNORB 96 -> 64 and Cars3D 128 -> 64 with PIL's Lanczos ('ANTIALIAS'), as disentanglement_lib."""
    from PIL import Image

    name, s = loaded
    if name not in ("smallnorb", "cars3d"):
        pytest.skip("no resize")
    gt = s.ground_truth
    i = len(gt) - 2
    f = gt.grid.index_to_factors(i)[0]
    side, channels = (96, 1) if name == "smallnorb" else (128, 3)
    source = paint(f, side, channels)
    want = np.asarray(Image.fromarray(source[:, :, 0] if channels == 1 else source).resize((64, 64), Image.LANCZOS))
    got = gt.images([i])[0]
    assert np.array_equal(got[0] if channels == 1 else got.transpose(1, 2, 0), want)
    # the band edges are where the filter shows: a bilinear resize differs there
    other = np.asarray(Image.fromarray(source[:, :, 0] if channels == 1 else source).resize((64, 64), Image.BILINEAR))
    assert not np.array_equal(want, other)


@pytest.mark.parametrize("name", NAMES)
def test_a_disentanglement_run_on_each_records_the_six_scores(name, tmp_path):
    from vaebench.config import Protocol, RunSpec
    from vaebench.models.registry import resolve_model
    from vaebench.runner.sweep import run_one
    from vaebench.runner.train import Launch

    with pytest.MonkeyPatch.context() as mp:
        _prepare(name, tmp_path, mp)
        splits = _load(name, tmp_path)
        protocol = Protocol(lr=1e-3, batch_size=32, max_epochs=1, max_steps=4, patience=0, iwae_k=2, fid_backbone="none",
                            disentanglement_sample_scale=0.01, figure_latent_dims=(), num_threads=1)
        record, _ = run_one(RunSpec("t", name, resolve_model("beta_vae", {}), 4, 0, protocol), splits, Launch("cpu", 1))
    assert record["status"] == "ok", record.get("error")
    m = record["metrics"]
    for key in ("mig", "dci_disentanglement", "dci_completeness", "sap", "modularity", "beta_vae_eval_accuracy",
                "factor_vae_eval_accuracy"):
        assert np.isfinite(m[key]), key
    dp = record["disentanglement_protocol"]
    assert dp["factors"] == list(splits.ground_truth.factor_names)
    assert 0 < dp["distinct_images_encoded"] <= min(dp["observations_drawn"], len(splits.ground_truth))


@pytest.mark.parametrize("name", NAMES)
def test_a_file_that_is_not_the_pinned_one_is_refused(name, tmp_path):
    with pytest.MonkeyPatch.context() as mp:
        _prepare(name, tmp_path, mp)
        target = {"shapes3d": "3dshapes/3dshapes.h5", "mpi3d_toy": "mpi3d/mpi3d_toy.npz",
                  "smallnorb": "small_norb/smallnorb-5x01235x9x18x6x2x96x96-testing-info.mat.gz",
                  "cars3d": f"cars3d/{cars3d.ARCHIVE}"}[name]
        with open(tmp_path / target, "ab") as f:
            f.write(b"\0")
        with pytest.raises(DataError, match="is corrupted"):
            _load(name, tmp_path)


def test_unpacked_smallnorb_and_cars3d_are_read_but_say_they_are_unverified(tmp_path):
    with pytest.MonkeyPatch.context() as mp:
        _prepare("smallnorb", tmp_path / "n", mp, packed=False)
        _prepare("cars3d", tmp_path / "c", mp, packed=False)
        norb, cars = _load("smallnorb", tmp_path / "n"), _load("cars3d", tmp_path / "c")
        _prepare("smallnorb", tmp_path / "np", mp, packed=True)
        packed = _load("smallnorb", tmp_path / "np")
    for s in (norb, cars):
        assert "no published checksum, not verified" in s.source and len(s.checksum) == 64
        idx = np.arange(len(s.ground_truth))
        assert np.array_equal(read_painted(s.ground_truth.images(idx), len(s.ground_truth.grid.sizes)),
                              s.ground_truth.grid.index_to_factors(idx))
    assert packed.checksum != norb.checksum and "SHA-256 verified" in packed.source
    assert np.array_equal(packed.train_x.numpy(), norb.train_x.numpy())


def test_wrong_contents_are_clear_errors(tmp_path):
    with pytest.MonkeyPatch.context() as mp:
        # an MPI3D file whose image count is no MPI3D grid
        path = write_mpi3d(tmp_path / "a" / "mpi3d")
        mp.setattr(mpi3d, "MD5", {**mpi3d.MD5, "toy": md5(path)})
        with pytest.raises(DataError, match="not a full MPI3D grid"):
            _load("mpi3d_toy", tmp_path / "a")
        # a compressed .npz cannot be memory-mapped
        path = write_mpi3d(tmp_path / "b" / "mpi3d", compressed=True)
        mp.setattr(mpi3d, "SIZES_BY_COUNT", {int(np.prod(MPI3D_SIZES)): MPI3D_SIZES})
        mp.setattr(mpi3d, "MD5", {**mpi3d.MD5, "toy": md5(path)})
        with pytest.raises(DataError, match="compressed"):
            _load("mpi3d_toy", tmp_path / "b")
        # a Shapes3D file that lacks a factor combination
        path = write_shapes3d(tmp_path / "c" / "3dshapes", sizes=(2, 2, 3, 2, 4, 3))
        mp.setattr(shapes3d, "FACTOR_SIZES", (2, 2, 3, 2, 4, 4))
        mp.setattr(shapes3d, "SHA256", {"3dshapes.h5": sha256(path)})
        with pytest.raises(DataError, match="orientation has 3 values, not 4"):
            _load("shapes3d", tmp_path / "c")


def test_a_ground_truth_without_the_grid_interface_is_refused_before_training():
    from vaebench.data.checks import check_ground_truth

    check_ground_truth(None, "x")
    with pytest.raises(DataError, match="lacks grid_indices"):
        check_ground_truth(type("GT", (), {"factor_names": (), "factor_sizes": (), "num_factors": 0,
                                           "sample_factors": None, "observations": None, "__len__": None})(), "x")


def test_missing_files_offline_exit_2_with_how_to_get_them(tmp_path, cli):
    res = cli("run", "--suite", "disentanglement", "--datasets", "shapes3d", "--data-root", str(tmp_path),
              "--out", str(tmp_path / "out"), "--max-epochs", "1")
    assert res.returncode == 2 and "Traceback" not in res.stderr
    line = res.stderr.strip().splitlines()[-1]
    assert "Shapes3D not found under --data-root" in line and "https://storage.googleapis.com/3d-shapes/3dshapes.h5" in line
    assert not (tmp_path / "out" / "runs").exists()


def test_list_shows_each_set_with_its_availability(tmp_path, cli):
    write_shapes3d(tmp_path / "3dshapes")
    res = cli("list", "--data-root", str(tmp_path))
    assert res.returncode == 0, res.stderr
    rows = {line.split()[0]: line for line in res.stdout.splitlines() if line.startswith("  ") and len(line.split()) > 1}
    assert "available" in rows["shapes3d"] and str(tmp_path / "3dshapes") in rows["shapes3d"]
    for name, url in (("mpi3d_toy", "Final_Dataset/mpi3d_toy.npz"), ("mpi3d_real", "mpi3d_real.npz"),
                      ("smallnorb", "cs.nyu.edu/~ylclab/data/norb-v1.0-small"), ("cars3d", "nips2015-analogy-data.tar.gz")):
        assert "MISSING" in rows[name] and url in rows[name], rows[name]
