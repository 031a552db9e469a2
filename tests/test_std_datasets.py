"""The standard image benchmarks (MNIST grey / dynamic / fixed binarisation, CIFAR-10, SVHN,
CelebA 64x64), each read from small files written here in its real on-disk format; their
checksum paths; downloads refused offline; the streamed data path; one CIFAR-shaped suite run."""

from __future__ import annotations

import gzip
import hashlib
import json
import pickle
import re

import numpy as np
import pytest
import torch
from PIL import Image

from vaebench.data import _files, celeba, cifar10, load_dataset, mnist, svhn
from vaebench.data.base import pixels
from vaebench.data.registry import dataset_status, resolve_dataset
from vaebench.data.streamed import ImageFiles
from vaebench.errors import DataError, UserError


def _md5(path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def _pin(monkeypatch, module, attr, folder, algorithm="md5"):
    """Pins the module's checksums to the files written here (the real pins are of the real files)."""
    names = getattr(module, attr)
    monkeypatch.setattr(module, attr, {n: hashlib.new(algorithm, (folder / n).read_bytes()).hexdigest() for n in names})


# --- MNIST: torchvision's idx .gz files, and the .amat files of the fixed binarisation ---

def _idx(a: np.ndarray) -> bytes:
    return bytes([0, 0, 8, a.ndim]) + np.array(a.shape, dtype=">i4").tobytes() + a.astype(np.uint8).tobytes()


def write_mnist(folder, n_train=12_000, n_test=50, seed=0):
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    x = rng.integers(0, 256, (n_train + n_test, 28, 28), dtype=np.uint8)
    x[x < 100] = 0  # zero background, as in MNIST
    y = rng.integers(0, 10, n_train + n_test).astype(np.uint8)
    arrays = {"train-images-idx3-ubyte": x[:n_train], "train-labels-idx1-ubyte": y[:n_train],
              "t10k-images-idx3-ubyte": x[n_train:], "t10k-labels-idx1-ubyte": y[n_train:]}
    for stem, a in arrays.items():
        (folder / f"{stem}.gz").write_bytes(gzip.compress(_idx(a)))
    return arrays


@pytest.fixture
def mnist_root(tmp_path, monkeypatch):
    root = tmp_path / "data"
    arrays = write_mnist(root / "MNIST" / "raw")
    _pin(monkeypatch, mnist, "MD5", root / "MNIST" / "raw")
    return root, arrays


def test_mnist_grey_shapes_splits_labels(mnist_root):
    root, arrays = mnist_root
    s = load_dataset(resolve_dataset("mnist"), data_root=root)
    assert (len(s.train_x), len(s.val_x), len(s.test_x)) == (2_000, 10_000, 50)
    assert s.image_shape == (1, 28, 28) and s.train_x.dtype == torch.uint8 and s.num_classes == 10
    # the grey values are the file's, exactly; train + val are the 12,000 train images, each once
    both = torch.cat([s.train_x, s.val_x]).flatten(1)
    assert sorted(map(bytes, both.numpy())) == sorted(map(bytes, arrays["train-images-idx3-ubyte"].reshape(12_000, -1)))
    assert torch.equal(s.test_x[:, 0], torch.from_numpy(arrays["t10k-images-idx3-ubyte"]))
    assert torch.equal(s.test_y, torch.from_numpy(arrays["t10k-labels-idx1-ubyte"].astype(np.int64)))
    # the validation split does not depend on anything but the data (same rows every load)
    assert torch.equal(load_dataset("mnist", data_root=root).val_x, s.val_x)


def test_mnist_wrong_checksum_is_refused(mnist_root, monkeypatch):
    root, _ = mnist_root
    monkeypatch.setitem(mnist.MD5, "t10k-labels-idx1-ubyte.gz", "0" * 32)
    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte.gz is corrupted: MD5"):
        load_dataset("mnist", data_root=root)
    ok, why = dataset_status("mnist", root, verify=True)
    assert not ok and "corrupted" in why


def test_mnist_binarize_parameter_is_checked(mnist_root):
    root, _ = mnist_root
    with pytest.raises(UserError, match="binarize must be one of none, dynamic, fixed"):
        load_dataset(resolve_dataset("mnist", {"binarize": "sometimes"}), data_root=root)
    with pytest.raises(UserError, match="parameter binarize must be like its default"):
        resolve_dataset("mnist", {"binarize": True})


def test_mnist_dynamic_eval_splits_are_binarised_once_and_fixed(mnist_root):
    root, _ = mnist_root
    spec = resolve_dataset("mnist", {"binarize": "dynamic"})
    s, again = load_dataset(spec, data_root=root), load_dataset(spec, data_root=root)
    grey = load_dataset("mnist", data_root=root)
    assert s.dynamic_binarization and not getattr(grey, "dynamic_binarization", False)
    assert torch.equal(s.train_x, grey.train_x)  # train stays grey: it is re-binarised per batch
    for split in ("val", "test"):
        x, g = getattr(s, f"{split}_x"), getattr(grey, f"{split}_x")
        assert set(x.unique().tolist()) <= {0, 255} and torch.equal(x, getattr(again, f"{split}_x"))
        assert not (x[g == 0] > 0).any()  # Bernoulli(grey / 255): never a one on a zero pixel
        p = g.double() / 255  # mean of the binary images = mean grey level, within sampling error
        assert abs(pixels(x).double().mean() - p.mean()) < 4 * (p * (1 - p)).mean().sqrt() / p.numel() ** 0.5
    assert s.checksum != grey.checksum


def test_dynamic_binarisation_seeded_by_seed_and_epoch_and_world_size_free():
    from vaebench.runner.train import TensorBatches

    g = torch.Generator().manual_seed(0)
    x = (torch.rand(200, 1, 28, 28, generator=g) * 255).to(torch.uint8)
    y = torch.arange(200)
    epoch = [0]

    def draw(seed, rank=0, world=1):
        tb = TensorBatches(x, y, 64, True, seed, rank, world, lambda: epoch[0], binarize=True)
        return [(xb, yb) for xb, yb, _ in tb]

    a, b = draw(3), draw(3)
    assert all(torch.equal(p[0], q[0]) for p, q in zip(a, b, strict=True))
    xs = torch.cat([xb for xb, _ in a])
    assert set(xs.unique().tolist()) <= {0.0, 1.0}
    order = torch.cat([yb for _, yb in a])
    assert not (xs[x[order] == 0] > 0).any()
    p = pixels(x[order]).double()
    assert abs(xs.double().mean() - p.mean()) < 4 * (p * (1 - p)).mean().sqrt() / p.numel() ** 0.5
    assert not torch.equal(xs, torch.cat([xb for xb, _ in draw(4)]))  # another run seed
    epoch[0] = 1  # another epoch: other binary images of the same rows
    e1 = draw(3)
    by_row0 = xs[order.argsort()]
    by_row1 = torch.cat([xb for xb, _ in e1])[torch.cat([yb for _, yb in e1]).argsort()]
    changed = (by_row0 != by_row1).double().mean()
    assert 0 < changed < 2 * (2 * p * (1 - p)).mean() + 0.01  # two independent draws differ at rate 2p(1-p)
    # same binary image of a row whether its global batch is on one device or split over two
    epoch[0] = 0
    r0, r1 = draw(3, 0, 2), draw(3, 1, 2)
    for (x0, y0), (x1, y1), (xa, ya) in zip(r0, r1, a, strict=True):
        assert torch.equal(ya[0::2], y0) and torch.equal(ya[1::2], y1)
        assert torch.equal(xa[0::2], x0) and torch.equal(xa[1::2], x1)


def _amat(x: np.ndarray) -> bytes:
    """Rows of 784 space-separated 0/1 digits, one image a line."""
    text = np.full((len(x), 2 * 784), ord(" "), dtype=np.uint8)
    text[:, 0::2] = x.reshape(len(x), -1) + ord("0")
    text[:, -1] = ord("\n")
    return text.tobytes()


def write_amat(folder, arrays, n_train):
    """binarized_mnist_*.amat: Bernoulli draws of the grey images, train / valid / test in order."""
    rng = np.random.default_rng(1)
    folder.mkdir(parents=True, exist_ok=True)
    g_train, g_test = arrays["train-images-idx3-ubyte"], arrays["t10k-images-idx3-ubyte"]
    parts = {"train": g_train[:n_train], "valid": g_train[n_train:], "test": g_test}
    out = {}
    for split, g in parts.items():
        b = (rng.random(g.shape) < g / 255.0).astype(np.uint8)
        (folder / f"binarized_mnist_{split}.amat").write_bytes(_amat(b))
        out[split] = b
    return out


def test_mnist_fixed_binarisation_reads_amat_with_labels(mnist_root, monkeypatch):
    root, arrays = mnist_root
    binary = write_amat(root / "binarized_mnist", arrays, n_train=10_000)
    _pin(monkeypatch, mnist, "SHA1_AMAT", root / "binarized_mnist", "sha1")
    s = load_dataset(resolve_dataset("mnist", {"binarize": "fixed"}), data_root=root)
    assert (len(s.train_x), len(s.val_x), len(s.test_x)) == (10_000, 2_000, 50)
    assert torch.equal(s.val_x[:, 0] // 255, torch.from_numpy(binary["valid"]))
    assert set(s.train_x.unique().tolist()) <= {0, 255}
    labels = arrays["train-labels-idx1-ubyte"].astype(np.int64)
    assert torch.equal(s.train_y, torch.from_numpy(labels[:10_000])) and torch.equal(s.val_y, torch.from_numpy(labels[10_000:]))
    ok, where = dataset_status(resolve_dataset("mnist", {"binarize": "fixed"}), root, verify=True)
    assert ok and "binarize=fixed" in where
    # a wrong SHA-1 is refused; so is an .amat file that does not binarise the grey images in order
    monkeypatch.setitem(mnist.SHA1_AMAT, "binarized_mnist_test.amat", "f" * 40)
    with pytest.raises(DataError, match="binarized_mnist_test.amat is corrupted: SHA1"):
        load_dataset(resolve_dataset("mnist", {"binarize": "fixed"}), data_root=root)
    shuffled = binary["test"][::-1].copy()
    (root / "binarized_mnist" / "binarized_mnist_test.amat").write_bytes(_amat(shuffled))
    _pin(monkeypatch, mnist, "SHA1_AMAT", root / "binarized_mnist", "sha1")
    with pytest.raises(DataError, match="does not binarise the grey MNIST images in order"):
        load_dataset(resolve_dataset("mnist", {"binarize": "fixed"}), data_root=root)


def test_mnist_fixed_needs_the_amat_files(mnist_root):
    root, _ = mnist_root
    spec = resolve_dataset("mnist", {"binarize": "fixed"})
    with pytest.raises(DataError, match=r"binarized MNIST \(\.amat\) not found under --data-root"):
        load_dataset(spec, data_root=root)
    ok, why = dataset_status(spec, root)
    assert not ok and "binarized_mnist_" in why
    assert dataset_status("mnist", root)[0]  # the grey set is there


def test_parse_amat_rejects_other_than_784_zero_one_values(tmp_path):
    with pytest.raises(DataError, match="not rows of 784 0/1 values"):
        mnist.parse_amat(b"0 1 2\n", tmp_path / "x.amat")


# --- CIFAR-10: the python pickle batches ---

def write_cifar(folder, per_batch=1_200, n_test=40, seed=0):
    """cifar-10-batches-py/{data_batch_1..5,test_batch}: pickled dicts with bytes keys (python 2 pickles)."""
    rng = np.random.default_rng(seed)
    d = folder / "cifar-10-batches-py"
    d.mkdir(parents=True, exist_ok=True)
    written = {}
    for name, n in [*((f"data_batch_{i}", per_batch) for i in range(1, 6)), ("test_batch", n_test)]:
        data = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
        labels = rng.integers(0, 10, n).tolist()
        with open(d / name, "wb") as f:
            pickle.dump({b"batch_label": name.encode(), b"labels": labels, b"data": data,
                         b"filenames": [f"{i}.png".encode() for i in range(n)]}, f, protocol=2)
        written[name] = (data, labels)
    return d, written


def test_cifar10_batches_shapes_splits_labels_checksums(tmp_path, monkeypatch):
    d, written = write_cifar(tmp_path)
    _pin(monkeypatch, cifar10, "MD5", d)
    s = load_dataset("cifar10", data_root=tmp_path)
    assert (len(s.train_x), len(s.val_x), len(s.test_x)) == (1_000, 5_000, 40)
    assert s.image_shape == (3, 32, 32) and s.train_x.dtype == torch.uint8 and s.num_classes == 10
    data, labels = written["test_batch"]
    # rows are R (1024), G, B planes of a 32x32 image, row-major
    assert torch.equal(s.test_x[5, 1, 2, 3], torch.tensor(data[5, 1024 + 2 * 32 + 3]))
    assert s.test_y.tolist() == labels
    assert len(torch.cat([s.train_y, s.val_y])) == 6_000 and 0 <= int(s.train_y.min()) and int(s.train_y.max()) <= 9
    monkeypatch.setitem(cifar10.MD5, "data_batch_3", "0" * 32)
    with pytest.raises(DataError, match="data_batch_3 is corrupted: MD5"):
        load_dataset("cifar10", data_root=tmp_path)


def test_cifar10_not_a_batch_is_a_clear_error(tmp_path, monkeypatch):
    d, _ = write_cifar(tmp_path, per_batch=10, n_test=5)
    (d / "test_batch").write_bytes(b"not a pickle")
    _pin(monkeypatch, cifar10, "MD5", d)
    with pytest.raises(DataError, match="test_batch cannot be read"):
        load_dataset("cifar10", data_root=tmp_path)


# --- SVHN: train_32x32.mat / test_32x32.mat ---

def write_svhn(folder, n_train=5_030, n_test=30, seed=0):
    import scipy.io

    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for name, n in (("train_32x32.mat", n_train), ("test_32x32.mat", n_test)):
        x = rng.integers(0, 256, (32, 32, 3, n), dtype=np.uint8)
        y = rng.integers(1, 11, (n, 1)).astype(np.uint8)  # 10 is the digit 0
        scipy.io.savemat(folder / name, {"X": x, "y": y})
        out[name] = (x, y)
    return out


def test_svhn_mat_shapes_splits_labels_checksums(tmp_path, monkeypatch):
    written = write_svhn(tmp_path / "svhn")
    _pin(monkeypatch, svhn, "MD5", tmp_path / "svhn")
    s = load_dataset("svhn", data_root=tmp_path)
    assert (len(s.train_x), len(s.val_x), len(s.test_x)) == (30, 5_000, 30)
    assert s.image_shape == (3, 32, 32) and s.test_x.dtype == torch.uint8
    x, y = written["test_32x32.mat"]
    assert torch.equal(s.test_x[7], torch.from_numpy(x[:, :, :, 7].transpose(2, 0, 1).copy()))
    expected = y[:, 0].astype(np.int64)
    expected[expected == 10] = 0
    assert s.test_y.tolist() == expected.tolist() and set(s.test_y.tolist()) <= set(range(10))
    monkeypatch.setitem(svhn.MD5, "test_32x32.mat", "0" * 32)
    with pytest.raises(DataError, match="test_32x32.mat is corrupted: MD5"):
        load_dataset("svhn", data_root=tmp_path)


# --- CelebA: img_align_celeba/*.jpg, list_eval_partition.txt, list_attr_celeba.txt ---

ATTRS = [f"Attr{i}" for i in range(31)] + ["Smiling", "Male", *[f"More{i}" for i in range(7)]]


def write_celeba(folder, partition=(6, 3, 4), seed=0):
    rng = np.random.default_rng(seed)
    images = folder / "img_align_celeba"
    images.mkdir(parents=True)
    n = sum(partition)
    names = [f"{i + 1:06d}.jpg" for i in range(n)]
    parts = [p for p, k in enumerate(partition) for _ in range(k)]
    rng.shuffle(parts)
    attrs = rng.choice([-1, 1], (n, len(ATTRS)))
    for i, name in enumerate(names):
        a = np.zeros((218, 178, 3), np.uint8)
        a[35:183, 15:163] = (40 * (i % 6), 100, 200)  # the 148x148 centre crop is one colour
        Image.fromarray(a).save(images / name, quality=95)
    (folder / "list_eval_partition.txt").write_text("".join(f"{nm} {p}\n" for nm, p in zip(names, parts, strict=True)))
    rows = "".join(f"{nm} " + " ".join(f"{v:2d}" for v in row) + "\n" for nm, row in zip(names, attrs, strict=True))
    (folder / "list_attr_celeba.txt").write_text(f"{n}\n" + " ".join(ATTRS) + " \n" + rows)
    return names, parts, attrs


@pytest.fixture
def celeba_root(tmp_path, monkeypatch):
    names, parts, attrs = write_celeba(tmp_path / "celeba")
    _pin(monkeypatch, celeba, "MD5", tmp_path / "celeba")
    return tmp_path, names, parts, attrs


def test_celeba_crop_partition_attributes(celeba_root):
    root, names, parts, attrs = celeba_root
    s = load_dataset(resolve_dataset("celeba64"), data_root=root)
    assert (len(s.train_x), len(s.val_x), len(s.test_x)) == (6, 3, 4)
    assert isinstance(s.train_x, ImageFiles) and s.image_shape == (3, 64, 64) and s.num_classes == 2
    x = s.test_x[0:4]
    assert x.dtype == torch.uint8 and x.shape == (4, 3, 64, 64)
    test_names = sorted(n for n, p in zip(names, parts, strict=True) if p == 2)
    i = names.index(test_names[0])
    # the centre crop holds only the one colour (jpeg noise aside): nothing of the border came in
    assert (x[0].float().mean((1, 2)) - torch.tensor([40.0 * (i % 6), 100, 200])).abs().max() < 4
    assert s.test_y.tolist() == [int(attrs[names.index(n), ATTRS.index("Smiling")] > 0) for n in test_names]
    assert s.attributes["test"].shape == (4, 40) and s.attribute_names == tuple(ATTRS)
    assert s.attributes["test"][:, ATTRS.index("Male")].tolist() == [int(attrs[names.index(n), ATTRS.index("Male")] > 0) for n in test_names]
    male = load_dataset(resolve_dataset("celeba64", {"attribute": "Male"}), data_root=root)
    assert torch.equal(male.test_y, s.attributes["test"][:, ATTRS.index("Male")].long())
    assert "images not checksummed" in s.source
    with pytest.raises(UserError, match="attribute 'Blond' is not one of CelebA's 40"):
        load_dataset(resolve_dataset("celeba64", {"attribute": "Blond"}), data_root=root)


def test_celeba_checksums_archive_and_missing_images(celeba_root, monkeypatch):
    root, names, _, _ = celeba_root
    folder = root / "celeba"
    before = load_dataset("celeba64", data_root=root).checksum
    (folder / "img_align_celeba.zip").write_bytes(b"archive")
    monkeypatch.setattr(celeba, "ZIP_MD5", ("img_align_celeba.zip", "0" * 32))
    with pytest.raises(DataError, match="img_align_celeba.zip is corrupted: MD5"):
        load_dataset("celeba64", data_root=root)
    monkeypatch.setattr(celeba, "ZIP_MD5", ("img_align_celeba.zip", _md5(folder / "img_align_celeba.zip")))
    s = load_dataset("celeba64", data_root=root)
    assert "not checksummed" not in s.source and s.checksum != before
    monkeypatch.setitem(celeba.MD5, "list_eval_partition.txt", "0" * 32)
    with pytest.raises(DataError, match="list_eval_partition.txt is corrupted: MD5"):
        load_dataset("celeba64", data_root=root)
    _pin(monkeypatch, celeba, "MD5", folder)
    (folder / "img_align_celeba" / names[2]).unlink()
    with pytest.raises(DataError, match="1 images of list_eval_partition.txt have no attributes or no file"):
        load_dataset("celeba64", data_root=root)


def test_streamed_batches_are_the_resident_batches(celeba_root, monkeypatch):
    """The DataLoader path serves exactly the batches TensorBatches serves from the same rows held
    in memory: same shuffle (seed, epoch), same DDP rows and weights."""
    from vaebench.runner.train import TensorBatches, streamed

    root, *_ = celeba_root
    s = load_dataset("celeba64", data_root=root)
    held = s.train_x[:]
    for workers in ("0", "2"):
        monkeypatch.setenv("VAEBENCH_WORKERS", workers)
        for rank in (0, 1):
            disk = streamed(TensorBatches(s.train_x, s.train_y, 4, True, 7, rank, 2, lambda: 1))
            mem = TensorBatches(held, s.train_y, 4, True, 7, rank, 2, lambda: 1)
            got, want = list(disk), list(mem)
            assert len(got) == len(want) == 2
            for (xa, ya, wa), (xb, yb, wb) in zip(got, want, strict=True):
                assert torch.equal(xa, xb) and torch.equal(ya, yb) and wa == wb


def test_streamed_set_trains_and_evaluates(celeba_root, monkeypatch):
    """A run on a streamed set: training through the DataLoader, evaluation batching the files."""
    from vaebench.config import Protocol
    from vaebench.models.vae import VAE
    from vaebench.runner.evaluate import evaluate
    from vaebench.runner.train import train

    root, *_ = celeba_root
    monkeypatch.setenv("VAEBENCH_WORKERS", "1")
    s = load_dataset("celeba64", data_root=root)
    torch.manual_seed(0)
    model = VAE(s.image_shape, 2, num_classes=2)
    p = Protocol(batch_size=3, max_epochs=2, eval_batch_size=2, iwae_k=2, patience=0)
    info = train(model, s, p, seed=0, launch=__import__("vaebench.runner.train", fromlist=["Launch"]).Launch(accelerator="cpu", devices=1))
    assert info.steps == 4 and info.best_epoch >= 0
    metrics, _ = evaluate(model, s, p, seed=0)
    assert np.isfinite(metrics["elbo"]) and 0 <= metrics["probe_acc"] <= 1


def test_image_files_index_like_a_tensor(celeba_root):
    root, *_ = celeba_root
    x = load_dataset("celeba64", data_root=root).train_x
    whole = x[:]
    assert x.shape == whole.shape == (6, 3, 64, 64) and len(x) == 6
    assert torch.equal(x[torch.tensor([4, 1])], whole[[4, 1]]) and torch.equal(x[2], whole[2])
    assert torch.equal(x[np.array([0, 5])], whole[[0, 5]]) and x[3:3].shape == (0, 3, 64, 64)
    assert x.cpu().digest() == x.digest()


# --- availability, offline and the CLI ---

@pytest.mark.parametrize("name", ["mnist", "cifar10", "svhn", "celeba64"])
def test_download_offline_is_refused_with_how_to_get_it(name, tmp_path, monkeypatch):
    monkeypatch.setattr(_files, "DOWNLOAD_DIR", tmp_path / "cache")
    monkeypatch.delenv("VAEBENCH_DATA", raising=False)
    monkeypatch.setenv("VAEBENCH_OFFLINE", "1")
    with pytest.raises(DataError, match=r"not found and VAEBENCH_OFFLINE is set \(no download\); (put|extract) "):
        load_dataset(name)
    assert not (tmp_path / "cache").exists()  # nothing attempted
    ok, why = dataset_status(name)
    assert not ok and "not found" in why


def test_a_failed_download_is_a_data_error(tmp_path, monkeypatch):
    monkeypatch.setattr(_files, "DOWNLOAD_DIR", tmp_path / "cache")
    monkeypatch.delenv("VAEBENCH_DATA", raising=False)
    monkeypatch.delenv("VAEBENCH_OFFLINE", raising=False)

    def no_network(root):
        raise OSError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(cifar10, "_fetch", no_network)
    with pytest.raises(DataError, match=r"CIFAR-10 is not available here and could not be downloaded into .*cache "
                                        r"\(OSError: .*name resolution\); extract cifar-10-python.tar.gz"):
        load_dataset("cifar10")


def test_cli_offline_and_wrong_checksum_exit_2(tmp_path, cli):
    out = tmp_path / "out"
    res = cli("run", "--suite", "smoke", "--datasets", "svhn", "--models", "vae", "--out", str(out),
              env={"VAEBENCH_OFFLINE": "1", "HOME": str(tmp_path), "VAEBENCH_DATA": ""})
    assert res.returncode == 2, res.stderr
    assert "SVHN not found and VAEBENCH_OFFLINE is set (no download)" in res.stderr
    write_cifar(tmp_path / "data", per_batch=20, n_test=10)  # the real pins cannot match these files
    res = cli("run", "--suite", "smoke", "--datasets", "cifar10", "--models", "vae", "--out", str(out),
              "--data-root", str(tmp_path / "data"))
    assert res.returncode == 2 and "data_batch_1 is corrupted: MD5" in res.stderr, res.stderr
    assert res.stderr.count("\n") <= 2  # one message, no traceback
    res = cli("list", "--data-root", str(tmp_path / "data"))
    assert res.returncode == 0, res.stderr
    assert re.search(r"cifar10 +available", res.stdout) and re.search(r"svhn +MISSING", res.stdout)


def test_suite_runs_end_to_end_on_a_cifar_shaped_set(tmp_path, monkeypatch, capsys):
    """python -m vaebench run on CIFAR-10 files (3x32x32) written here: trains, evaluates, reports."""
    from vaebench.cli import main

    d, _ = write_cifar(tmp_path / "data", per_batch=1_040, n_test=64)
    _pin(monkeypatch, cifar10, "MD5", d)
    out = tmp_path / "out"
    code = main(["run", "--suite", "smoke", "--datasets", "cifar10", "--models", "vae,pca", "--latent-dims", "2",
                 "--data-root", str(tmp_path / "data"), "--out", str(out), "--fid-backbone", "none",
                 "--set", "protocol.max_steps=3", "--set", "protocol.batch_size=32", "--set", "protocol.iwae_k=2",
                 "--set", "protocol.max_epochs=1", "--quiet"])
    assert code == 0, capsys.readouterr().err
    records = [json.loads(p.read_text()) for p in sorted((out / "runs").glob("*.json"))]
    assert {r["spec"]["model"] for r in records} == {"vae", "pca"}
    for r in records:
        assert r["status"] == "ok" and r["dataset"]["name"] == "cifar10"
        assert (r["dataset"]["n_train"], r["dataset"]["n_val"], r["dataset"]["n_test"]) == (200, 5_000, 64)
    vae = next(r for r in records if r["spec"]["model"] == "vae")
    assert vae["train"]["steps"] == 3 and np.isfinite(vae["metrics"]["elbo"])
    assert (out / "table.md").is_file()
