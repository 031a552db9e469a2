"""Datasets: fixed splits, pixel range, labels, Fashion-MNIST checksums and missing files."""

import gzip
import shutil

import pytest
import torch

from vaebench.data import fashion_mnist, load_dataset
from vaebench.data.base import pixels
from vaebench.errors import DataError, UserError

HAVE_FMNIST = fashion_mnist.find_files() is not None
needs_fmnist = pytest.mark.skipif(not HAVE_FMNIST, reason="Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)")


def test_digits_splits_are_fixed_disjoint_and_in_range(digits):
    assert (len(digits.train_x), len(digits.val_x), len(digits.test_x)) == (1257, 180, 360)
    assert digits.image_shape == (1, 8, 8)
    for x in (digits.train_x, digits.val_x, digits.test_x):
        assert x.dtype == torch.float32 and x.min() >= 0 and x.max() <= 1
    again = load_dataset("digits")
    assert torch.equal(again.test_x, digits.test_x) and again.checksum == digits.checksum
    flat = {tuple(r.tolist()) for r in digits.test_x.flatten(1)}
    assert not any(tuple(r.tolist()) in flat for r in digits.val_x.flatten(1)[:50])


def test_unknown_dataset():
    with pytest.raises(UserError, match="unknown dataset 'mnist3d'"):
        load_dataset("mnist3d")


@needs_fmnist
def test_fashion_mnist_splits_and_checksum():
    s = load_dataset("fashion_mnist")
    assert (len(s.train_x), len(s.val_x), len(s.test_x)) == (55_000, 5_000, 10_000)
    assert s.image_shape == (1, 28, 28) and s.train_x.dtype == torch.uint8  # the file's bytes; pixels() scales
    assert s.train_x.max() == 255 and s.train_x.min() == 0 and float(pixels(s.test_x).max()) == 1.0
    assert torch.bincount(s.test_y).tolist() == [1000] * 10
    assert torch.bincount(torch.cat([s.train_y, s.val_y])).tolist() == [6000] * 10


def _copy_files(tmp_path):
    for _stem, path in fashion_mnist.find_files().items():
        shutil.copy(path, tmp_path / path.name)
    return tmp_path


@needs_fmnist
def test_corrupted_file_fails_its_checksum(tmp_path, monkeypatch):
    root = _copy_files(tmp_path)
    target = root / "t10k-labels-idx1-ubyte.gz"
    data = bytearray(gzip.decompress(target.read_bytes()))
    data[100] ^= 1
    target.write_bytes(gzip.compress(bytes(data)))
    with pytest.raises(DataError, match="corrupted: SHA-256"):
        load_dataset("fashion_mnist", data_root=root)


@needs_fmnist
def test_truncated_gzip_is_reported(tmp_path):
    root = _copy_files(tmp_path)
    target = root / "train-images-idx3-ubyte.gz"
    target.write_bytes(target.read_bytes()[:1000])
    with pytest.raises(DataError, match="cannot be read|corrupted"):
        load_dataset("fashion_mnist", data_root=root)


@needs_fmnist
def test_uncompressed_files_verify_too(tmp_path):
    for stem, path in fashion_mnist.find_files().items():
        (tmp_path / stem).write_bytes(gzip.decompress(path.read_bytes()))
    assert fashion_mnist.find_files(tmp_path)["t10k-images-idx3-ubyte"].parent == tmp_path
    s = load_dataset("fashion_mnist", data_root=tmp_path)
    assert len(s.test_x) == 10_000


def test_missing_data_offline_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setattr(fashion_mnist, "DEBIAN_DIR", tmp_path / "none")
    monkeypatch.setattr(fashion_mnist, "DOWNLOAD_DIR", tmp_path / "none")
    monkeypatch.setenv("VAEBENCH_OFFLINE", "1")
    with pytest.raises(DataError, match="apt-get install dataset-fashion-mnist"):
        load_dataset("fashion_mnist", data_root=tmp_path)
