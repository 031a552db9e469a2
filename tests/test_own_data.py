"""Your own data: a `.npz`, an image folder and a dataset plug-in, on files this test writes."""

import hashlib
import json
import shutil
import textwrap

import numpy as np
import pytest
import torch

from vaebench.cli import main
from vaebench.config import load_suite, with_overrides
from vaebench.data.registry import dataset_status, load_dataset, resolve_dataset
from vaebench.errors import DataError, UserError

RNG = np.random.default_rng(0)


def good_arrays(n_train=60, n_test=20, shape=(8, 8)):
    return {
        "x_train": RNG.integers(0, 256, (n_train, *shape), dtype=np.uint8),
        "y_train": np.arange(n_train) % 3,
        "x_test": RNG.integers(0, 256, (n_test, *shape), dtype=np.uint8),
        "y_test": np.arange(n_test) % 3,
    }


def write_npz(path, **arrays):
    np.savez(path, **arrays)
    return path


def sha256(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _cli(capsys, *argv):
    code = main(list(argv))
    return code, capsys.readouterr().err


# ---------------------------------------------------------------- .npz


def test_npz_loads_with_a_fixed_validation_split_and_its_checksum(tmp_path):
    arrays = good_arrays()
    path = write_npz(tmp_path / "toy.npz", **arrays)
    spec = resolve_dataset(str(path))
    assert spec.name == f"toy.npz@{sha256(path)[:12]}"
    s = load_dataset(spec)
    assert s.checksum == sha256(path) and s.name == spec.name
    assert (len(s.train_x), len(s.val_x), len(s.test_x)) == (54, 6, 20)
    assert s.train_x.dtype == torch.uint8 and s.image_shape == (1, 8, 8) and s.num_classes == 3
    # every train image lands in exactly one of train / val, with its label
    rows = {bytes(x.numpy()): int(y) for x, y in zip(torch.cat([s.train_x, s.val_x]), torch.cat([s.train_y, s.val_y]), strict=True)}
    assert rows == {bytes(x[None]): int(y) for x, y in zip(arrays["x_train"], arrays["y_train"], strict=True)}
    assert torch.equal(s.test_x[:, 0], torch.from_numpy(arrays["x_test"]))
    again = load_dataset(resolve_dataset(str(path)))
    assert torch.equal(again.val_x, s.val_x)  # the split does not depend on anything but the file
    assert dataset_status(spec) == (True, f"data file {path.resolve()}")


def test_npz_identity_is_the_file_name_and_checksum_not_the_path(tmp_path):
    a = write_npz(tmp_path / "toy.npz", **good_arrays())
    (tmp_path / "elsewhere").mkdir()
    b = shutil.copy(a, tmp_path / "elsewhere" / "toy.npz")
    assert resolve_dataset(str(a)) == resolve_dataset(str(b))
    suite = with_overrides(load_suite("smoke"), datasets=[str(a)])
    moved = with_overrides(load_suite("smoke"), datasets=[str(b)])
    from vaebench.config import expand

    assert [r.run_id for r in expand(suite)] == [r.run_id for r in expand(moved)]
    edited = write_npz(tmp_path / "elsewhere" / "toy.npz", **good_arrays())  # other pixels
    assert resolve_dataset(str(edited)).name != resolve_dataset(str(a)).name


def test_npz_layouts_and_dtypes(tmp_path):
    base = good_arrays(shape=(16, 16, 3))  # channels-last RGB
    last = load_dataset(str(write_npz(tmp_path / "last.npz", **base)))
    first = {**base, **{k: base[k].transpose(0, 3, 1, 2) for k in ("x_train", "x_test")}}
    first = load_dataset(str(write_npz(tmp_path / "first.npz", **first)))
    assert last.image_shape == first.image_shape == (3, 16, 16)
    assert torch.equal(last.test_x, first.test_x)
    floats = {**base, **{k: base[k].astype(np.float64) / 255 for k in ("x_train", "x_test")}}
    f = load_dataset(str(write_npz(tmp_path / "float.npz", **floats)))
    assert f.test_x.dtype == torch.float32 and torch.allclose(f.test_x, last.test_x.float() / 255)
    with_val = {**good_arrays(), "x_val": RNG.integers(0, 256, (7, 8, 8), dtype=np.uint8), "y_val": np.arange(7) % 3}
    v = load_dataset(str(write_npz(tmp_path / "val.npz", **with_val)))
    assert (len(v.train_x), len(v.val_x)) == (60, 7) and torch.equal(v.val_y, torch.arange(7) % 3)


def _bad(arrays, **changes):
    out = {**arrays, **changes}
    return {k: v for k, v in out.items() if v is not None}


GOOD = good_arrays()
BAD_NPZ = [
    (_bad(GOOD, x_test=None), "missing array 'x_test'"),
    (_bad(GOOD, y_train=None), "missing array 'y_train'"),
    (_bad(GOOD, x_val=GOOD["x_test"]), "missing array 'y_val'"),
    (_bad(GOOD, x_valid=GOOD["x_test"]), "unknown array(s) ['x_valid']"),
    (_bad(GOOD, x_train=GOOD["x_train"].astype(np.int64)), "array x_train: dtype int64 is neither uint8"),
    (_bad(GOOD, x_test=GOOD["x_test"] / 1.0), "array x_test: float pixels must lie in [0, 1], found [0, 255]"),
    (_bad(GOOD, x_test=np.full((20, 8, 8), np.nan)), "array x_test: holds NaN"),
    (_bad(GOOD, y_test=np.arange(19) % 3), "array y_test: 19 labels for 20 images"),
    (_bad(GOOD, y_train=np.arange(60) - 1.0), "array y_train: labels must be integers"),
    (_bad(GOOD, y_train=np.arange(60) - 1), "array y_train: labels must be >= 0"),
    (_bad(GOOD, y_train=np.zeros(60, dtype=int)), "y_train has one class"),
    (_bad(GOOD, x_test=np.zeros((20, 8, 8, 8, 1), np.uint8)), "array x_test: images must have shape"),
    (_bad(GOOD, x_test=np.zeros((20, 8, 8, 2), np.uint8)), "no channel axis of size 1 or 3"),
    (_bad(GOOD, x_test=np.zeros((20, 10, 10), np.uint8)), "x_test images are (1, 10, 10) (C, H, W), x_train's are (1, 8, 8)"),
    (_bad(GOOD, x_train=np.zeros((60, 30, 30), np.uint8), x_test=np.zeros((20, 30, 30), np.uint8)),
     "no shared network for 1x30x30 images"),
    (_bad(GOOD, x_test=np.zeros((0, 8, 8), np.uint8), y_test=np.zeros(0, int)), "array x_test holds no images"),
    (_bad(GOOD, y_test=np.where(np.arange(20) == 5, 11, np.arange(20) % 3)),
     "y_test has label(s) 11 that y_train never has (y_train's run 0..2)"),
]


@pytest.mark.parametrize("arrays, message", BAD_NPZ, ids=[m[:30] for _, m in BAD_NPZ])
def test_bad_npz_exits_2_naming_the_file_and_array(capsys, tmp_path, arrays, message):
    path = write_npz(tmp_path / "bad.npz", **arrays)
    code, err = _cli(capsys, "run", "--suite", "smoke", "--datasets", str(path), "--out", str(tmp_path / "out"))
    assert code == 2, err
    assert message in err and str(path) in err and err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "out" / "runs").exists()


def test_unreadable_or_missing_npz_exits_2(capsys, tmp_path):
    broken = tmp_path / "broken.npz"
    broken.write_bytes(b"not a zip file")
    code, err = _cli(capsys, "run", "--suite", "smoke", "--datasets", str(broken), "--out", str(tmp_path / "o"))
    assert code == 2 and f"data file {broken} cannot be read as a .npz" in err
    code, err = _cli(capsys, "run", "--suite", "smoke", "--datasets", str(tmp_path / "nope.npz"), "--out", str(tmp_path / "o"))
    assert code == 2 and f"data file {tmp_path / 'nope.npz'} does not exist" in err


def test_a_recorded_own_data_name_says_how_to_use_it():
    with pytest.raises(UserError, match="is your own data, named by its checksum; give its file"):
        resolve_dataset("faces.npz@0123456789ab")


def test_changed_file_after_parsing_is_an_error(tmp_path):
    path = write_npz(tmp_path / "toy.npz", **good_arrays())
    spec = resolve_dataset(str(path))
    write_npz(path, **good_arrays())
    with pytest.raises(DataError, match="changed while the suite ran"):
        load_dataset(spec)


def test_suite_runs_end_to_end_on_a_user_npz(capsys, tmp_path):
    path = write_npz(tmp_path / "toy.npz", **good_arrays(n_train=120, n_test=40))
    out = tmp_path / "out"
    code, err = _cli(capsys, "run", "--suite", "smoke", "--datasets", str(path), "--models", "vae,pca", "--latent-dims", "2",
                     "--set", "protocol.max_steps=3", "--set", "protocol.fid_backbone=none", "--quiet", "--out", str(out))
    assert code == 0, err
    name = f"toy.npz@{sha256(path)[:12]}"
    records = [json.loads(p.read_text()) for p in sorted((out / "runs").glob("*.json"))]
    assert len(records) == 2
    for r in records:
        assert r["status"] == "ok" and r["run_id"].startswith(name + "-")
        assert r["spec"]["dataset"] == name and r["spec"]["dataset_label"] == name
        assert r["dataset"] == {"name": name, "checksum": sha256(path), "source": str(path.resolve()), "num_classes": 3,
                                "n_train": 108, "n_val": 12, "n_test": 40}
        assert np.isfinite(r["metrics"]["mse"]) and 0 <= r["metrics"]["probe_acc"] <= 1
    assert f"| {name} | vae | 2 |" in (out / "table.md").read_text()


# ---------------------------------------------------------------- image folders


def write_folder(root, sizes=None, mode="L", side=8, classes=("cat", "dog")):
    from PIL import Image

    sizes = sizes or {"train": 10, "test": 4}
    for split, n in sizes.items():
        for c in classes:
            (root / split / c).mkdir(parents=True, exist_ok=True)
            for i in range(n):
                shape = (side, side) if mode == "L" else (side, side, 3)
                Image.fromarray(RNG.integers(0, 256, shape, dtype=np.uint8), mode).save(root / split / c / f"{i:03d}.png")
    return root


def test_folder_loads_labels_from_class_folders_and_checksums_its_files(tmp_path):
    root = write_folder(tmp_path / "pets")
    (root / "train" / "cat" / ".DS_Store").write_bytes(b"ignored")
    (root / "notes.txt").write_text("ignored")
    spec = resolve_dataset(f"folder:{root}")
    s = load_dataset(spec)
    files = sorted(p for p in root.rglob("*.png"))
    manifest = "".join(f"{sha256(p)}  {p.relative_to(root).as_posix()}\n" for p in files)
    assert s.checksum == hashlib.sha256(manifest.encode()).hexdigest()
    assert spec.name == s.name == f"pets.folder@{s.checksum[:12]}"
    assert (len(s.train_x), len(s.val_x), len(s.test_x)) == (18, 2, 8) and s.image_shape == (1, 8, 8)
    assert s.num_classes == 2 and s.test_y.tolist() == [0] * 4 + [1] * 4  # cat = 0, dog = 1 (sorted names)
    from PIL import Image

    first = np.array(Image.open(root / "test" / "cat" / "000.png"))
    assert torch.equal(s.test_x[0, 0], torch.from_numpy(first))
    copy = shutil.copytree(root, tmp_path / "b" / "pets")
    assert resolve_dataset(f"folder:{copy}") == spec  # where the folder lies does not matter


def test_folder_with_colour_images_is_rgb_and_has_its_val_split(tmp_path):
    root = write_folder(tmp_path / "rgb", sizes={"train": 5, "val": 2, "test": 2}, mode="RGB", side=16)
    s = load_dataset(f"folder:{root}")
    assert s.image_shape == (3, 16, 16) and (len(s.train_x), len(s.val_x), len(s.test_x)) == (10, 4, 4)


def _bad_folder(tmp_path, kind):
    from PIL import Image

    root = write_folder(tmp_path / "imgs")
    if kind == "no_test":
        shutil.rmtree(root / "test")
    elif kind == "loose":
        shutil.copy(root / "train" / "cat" / "000.png", root / "train" / "stray.png")
    elif kind == "size":
        Image.fromarray(np.zeros((9, 8), np.uint8)).save(root / "test" / "dog" / "999.png")
    elif kind == "corrupt":
        (root / "test" / "dog" / "bad.png").write_bytes(b"not a png")
    elif kind == "one_class":
        shutil.rmtree(root / "train" / "dog")
        shutil.rmtree(root / "test" / "dog")
    elif kind == "unseen_class":
        (root / "test" / "bird").mkdir()
        shutil.copy(root / "test" / "dog" / "000.png", root / "test" / "bird" / "000.png")
    return root


@pytest.mark.parametrize("kind, message", [
    ("no_test", "missing sub-folder(s) test/"),
    ("loose", "image stray.png is not in a class sub-folder"),
    ("size", "999.png is 8x9, the first image is 8x8"),
    ("corrupt", "cannot read an image"),
    ("one_class", "one class ('cat')"),
    ("unseen_class", "test/ has class folder(s) bird that train/ does not have"),
])
def test_bad_folder_exits_2_with_a_clear_message(capsys, tmp_path, kind, message):
    root = _bad_folder(tmp_path, kind)
    code, err = _cli(capsys, "run", "--suite", "smoke", "--datasets", f"folder:{root}", "--out", str(tmp_path / "out"))
    assert code == 2, err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


# ---------------------------------------------------------------- plug-ins

PLUGIN = textwrap.dedent('''
    import torch
    from vaebench.data.base import Splits

    def _splits(n, side, dtype=torch.float32):
        g = torch.Generator().manual_seed(n)
        x = torch.rand(3 * n, 1, side, side, generator=g).to(dtype)
        y = torch.arange(3 * n) % 2
        return Splits("mine", x[:n], y[:n], x[n:2 * n], y[n:2 * n], x[2 * n:], y[2 * n:], 2, f"sha-{n}-{side}", "generated")

    def load(data_root=None, n=10, side=8):
        return _splits(n, side)

    class Blobs:
        def __init__(self, n=12):
            self.n = n

        def load(self, data_root=None):
            return _splits(self.n, 8)

    def not_splits(data_root=None):
        return {"train_x": 1}

    def doubles(data_root=None):
        s = _splits(4, 8)
        s.test_x = s.test_x.double()
        return s

    def raises(data_root=None):
        raise FileNotFoundError("no /data/mine here")

    def no_default(data_root, size):
        return _splits(4, 8)

    def no_root(n=3):
        return _splits(n, 8)

    NOT_CALLABLE = 3
''')


@pytest.fixture
def plugin_module(tmp_path, monkeypatch):
    (tmp_path / "my_data.py").write_text(PLUGIN)
    monkeypatch.syspath_prepend(str(tmp_path))
    return "my_data"


def test_plugin_function_and_class_with_parameters(plugin_module):
    spec = resolve_dataset(f"{plugin_module}:load", {"n": 6})
    assert spec.name == "my_data:load" and spec.params_dict() == {"n": 6, "side": 8} and str(spec) == "my_data:load[n=6]"
    s = load_dataset(spec)
    assert len(s.train_x) == 6 and s.checksum == "sha-6-8"
    c = load_dataset(resolve_dataset(f"{plugin_module}:Blobs"))
    assert len(c.test_x) == 12
    with pytest.raises(UserError, match=r"has no parameter\(s\) \['size'\]"):
        resolve_dataset(f"{plugin_module}:load", {"size": 3})


@pytest.mark.parametrize("attr, message", [
    ("not_splits", "returned a dict, not a vaebench.data.base.Splits"),
    ("doubles", "test_x must be float32 in [0, 1] or uint8, got torch.float64"),
    ("raises", "loading failed: FileNotFoundError: no /data/mine here"),
    ("no_default", "parameter 'size' of no_default needs a default"),
    ("no_root", "must take data_root as its first parameter"),
    ("NOT_CALLABLE", "NOT_CALLABLE is a int"),
    ("missing", "module 'my_data' has no attribute 'missing'"),
])
def test_broken_plugins_exit_2(capsys, tmp_path, plugin_module, attr, message):
    code, err = _cli(capsys, "run", "--suite", "smoke", "--datasets", f"{plugin_module}:{attr}", "--out", str(tmp_path / "out"))
    assert code == 2, err
    assert message in err and f"dataset '{plugin_module}:{attr}'" in err and "Traceback" not in err


def test_plugin_that_cannot_be_imported_exits_2(capsys, tmp_path):
    code, err = _cli(capsys, "run", "--suite", "smoke", "--datasets", "no_such_pkg.data:load", "--out", str(tmp_path / "out"))
    assert code == 2 and "dataset 'no_such_pkg.data:load': cannot import module" in err


def test_example_plugin_loads(monkeypatch):
    from pathlib import Path

    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1]))
    s = load_dataset(resolve_dataset("examples.my_dataset:load", {"n_per_class": 20}))
    assert s.image_shape == (1, 28, 28) and s.num_classes == 2 and (len(s.train_x), len(s.val_x), len(s.test_x)) == (32, 4, 4)
