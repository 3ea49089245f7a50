import hashlib
import io
import pickle
import tarfile

import numpy as np
import pytest
import torch

from tinyhil.ml import data
from tinyhil.ml.data import DataError, load_dataset

needs_fashion = pytest.mark.skipif(not (data.FASHION_DIR / "t10k-images-idx3-ubyte.gz").exists(),
                                   reason="apt-get install dataset-fashion-mnist")


@needs_fashion
def test_fashion_mnist_loads_real_images_padded_to_32():
    ds = load_dataset("fashion-mnist")
    assert ds.train_x.shape == (60000, 1, 32, 32) and ds.test_x.shape == (10000, 1, 32, 32)
    assert torch.bincount(ds.train_y).tolist() == [6000] * 10
    assert torch.bincount(ds.test_y).tolist() == [1000] * 10
    assert "Fashion-MNIST (real images" in ds.provenance and "padded" in ds.provenance
    assert float(ds.train_x.min()) == -1.0 and float(ds.train_x.max()) == 1.0


def test_missing_fashion_files_name_the_debian_package(tmp_path):
    with pytest.raises(DataError, match="apt-get install dataset-fashion-mnist"):
        load_dataset("fashion-mnist", tmp_path)


def test_digits_is_labelled_real_and_upscaled():
    ds = load_dataset("digits")
    assert ds.input_shape == (32, 32, 1) and len(ds.train_y) + len(ds.test_y) == 1797
    assert "real" in ds.provenance and not ds.augment_flip


def test_batches_carry_sample_indices_and_the_spec_resolution():
    ds = load_dataset("digits").subset(train=100)
    seen = []
    for x, y, idx in ds.batches(32, torch.Generator().manual_seed(0), augment=True, resolution=48):
        assert x.shape[1:] == (1, 48, 48)
        assert torch.equal(y, ds.train_y[idx])
        seen += idx.tolist()
    assert sorted(seen) == list(range(100))


def _fake_cifar10_archive(path):
    rng = np.random.default_rng(0)
    def batch(n):
        return {b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8), b"labels": list(rng.integers(0, 10, n))}
    members = {f"cifar-10-batches-py/data_batch_{i}": batch(4) for i in range(1, 6)}
    members["cifar-10-batches-py/test_batch"] = batch(3)
    members["cifar-10-batches-py/batches.meta"] = {b"label_names": [f"c{i}".encode() for i in range(10)]}
    with tarfile.open(path, "w:gz") as tar:
        for name, obj in members.items():
            blob = pickle.dumps(obj)
            info = tarfile.TarInfo(name)
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
    return hashlib.md5(path.read_bytes()).hexdigest()


def test_cifar_archive_is_parsed_when_its_checksum_matches(tmp_path, monkeypatch):
    md5 = _fake_cifar10_archive(tmp_path / "cifar-10-python.tar.gz")
    monkeypatch.setitem(data.CIFAR, "cifar10", (data.CIFAR["cifar10"][0], md5))
    ds = load_dataset("cifar10", tmp_path)
    assert ds.train_x.shape == (20, 3, 32, 32) and ds.test_x.shape == (3, 3, 32, 32)
    assert ds.class_names[3] == "c3" and "md5 ok" in ds.provenance


def test_cifar_checksum_mismatch_is_a_data_error(tmp_path):
    actual = _fake_cifar10_archive(tmp_path / "cifar-10-python.tar.gz")
    with pytest.raises(DataError, match=f"has md5 {actual}, expected c58f30108f718f92721af3b95e74349a"):
        load_dataset("cifar10", tmp_path)


def test_unknown_dataset_lists_the_known_names():
    with pytest.raises(DataError, match="fashion-mnist, digits"):
        load_dataset("imagenet")
