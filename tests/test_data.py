"""Datasets load through the real Keras loaders, offline.

Fashion-MNIST comes from the Debian mirror; CIFAR-10 and MNIST cannot be had
here, so these tests write small files in the real on-disk formats into the
(temporary, see conftest) Keras cache and load them through the real loaders.
The only thing bypassed is Keras' sha256 check of the archive, which a made
file cannot pass; any download attempt fails the test.
"""

from __future__ import annotations

import gzip
import io
import pickle
import tarfile
from pathlib import Path

import numpy as np
import pytest

from course_utils import config, data

FASHION_MIRROR = Path("/usr/share/datasets/fashion-mnist")


@pytest.fixture
def no_download(monkeypatch):
    """Fail loudly if anything tries to download, and accept made archives."""
    from keras.src.utils import file_utils

    def refuse(url, *args, **kwargs):
        raise AssertionError(f"a test tried to download {url}")

    monkeypatch.setattr(file_utils, "urlretrieve", refuse)
    monkeypatch.setattr(file_utils, "validate_file", lambda *a, **k: True)


@pytest.fixture
def clean_cache():
    """Remove what a test wrote into the session's Keras cache."""
    written: list[Path] = []
    yield written
    for path in written:
        if path.is_dir():
            import shutil

            shutil.rmtree(path)
        elif path.exists() or path.is_symlink():
            path.unlink()


def _idx(path: Path, offset: int) -> np.ndarray:
    with gzip.open(path, "rb") as f:
        return np.frombuffer(f.read(), np.uint8, offset=offset)


@pytest.mark.skipif(not FASHION_MIRROR.is_dir(), reason="needs Debian's dataset-fashion-mnist (make setup installs it)")
def test_fashion_mnist_from_the_debian_mirror_through_the_keras_loader(no_download):
    (x_train, y_train), (x_test, y_test) = data.load_dataset("fashion_mnist")
    assert x_train.shape == (60000, 28, 28) and x_train.dtype == np.uint8
    assert y_train.shape == (60000,) and x_test.shape == (10000, 28, 28) and y_test.shape == (10000,)
    # Independent parse of the mirror's idx files: the same arrays.
    np.testing.assert_array_equal(y_test, _idx(FASHION_MIRROR / "t10k-labels-idx1-ubyte.gz", 8))
    np.testing.assert_array_equal(x_test.reshape(-1), _idx(FASHION_MIRROR / "t10k-images-idx3-ubyte.gz", 16))
    assert sorted(np.unique(y_train)) == list(range(10))
    # The files are now in the Keras cache, where keras.datasets finds them itself.
    assert data.is_cached("fashion_mnist")
    import keras

    (_, _), (x2, y2) = keras.datasets.fashion_mnist.load_data()
    np.testing.assert_array_equal(x2, x_test)


@pytest.mark.skipif(not FASHION_MIRROR.is_dir(), reason="needs Debian's dataset-fashion-mnist")
def test_subsets_and_network_ready_images(no_download):
    (xs, ys), (xt, yt) = data.load_dataset("fashion-mnist", subset=(500, 100))
    (x_full, _), _ = data.load_dataset("fashion_mnist")
    assert xs.shape == (500, 28, 28) and ys.shape == (500,) and xt.shape == (100, 28, 28)
    np.testing.assert_array_equal(xs, x_full[:500])
    (xs, ys), (xt, yt) = data.load_dataset("fashion_mnist", subset=1000)
    assert len(xs) == 1000 and len(xt) == 200
    (xi, yi), _ = data.load_images("fashion_mnist", subset=(64, 16))
    assert xi.shape == (64, 28, 28, 1) and xi.dtype == np.float32
    assert 0.0 <= xi.min() and xi.max() <= 1.0 and yi.shape == (64,)
    # pixel / 255 in float32, to the last bit (the scaling is done in place), and the raw
    # images the loader keeps are left as they were
    np.testing.assert_array_equal(xi[..., 0], np.float32(x_full[:64]) / np.float32(255.0))
    np.testing.assert_array_equal(data.load_dataset("fashion_mnist")[0][0][:64], x_full[:64])
    with pytest.raises(ValueError, match="positive"):
        data.load_dataset("fashion_mnist", subset=(0, 10))


def _cifar_batch(n: int, first: int) -> bytes:
    # The python-pickle format of cifar-10-python.tar.gz: a dict with bytes keys,
    # 'data' (n, 3072) uint8 in CHW order and 'labels' a list of ints.
    idx = np.arange(first, first + n)
    images = np.zeros((n, 3, 32, 32), np.uint8)
    images[:, 0] = (idx % 251)[:, None, None]  # red channel encodes the index
    images[:, 1, 0, :] = np.arange(32, dtype=np.uint8)  # a gradient along the width
    batch = {b"data": images.reshape(n, 3072), b"labels": [int(i % 10) for i in idx]}
    return pickle.dumps(batch, protocol=4)


def test_cifar10_through_the_real_loader_from_a_made_archive(no_download, clean_cache, tmp_path):
    archive = data.cached_files("cifar10")[0]
    archive.parent.mkdir(parents=True, exist_ok=True)
    clean_cache += [archive, archive.parent / "cifar-10-batches-py-target"]
    # Keras' loader insists on 5 training batches of 10000 and one test batch.
    with tarfile.open(archive, "w:gz", compresslevel=1) as tar:
        for i, name in enumerate([f"data_batch_{b}" for b in range(1, 6)] + ["test_batch"]):
            payload = _cifar_batch(10000, first=i * 10000)
            entry = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            entry.size = len(payload)
            tar.addfile(entry, io.BytesIO(payload))
    assert data.is_available("cifar10")
    (x_train, y_train), (x_test, y_test) = data.load_dataset("cifar10", subset=(20000, 50))
    assert x_train.shape == (20000, 32, 32, 3) and y_train.shape == (20000, 1)
    assert x_test.shape == (50, 32, 32, 3)
    # NHWC after Keras' transpose: red encodes the index, green the column.
    np.testing.assert_array_equal(x_train[:, 0, 0, 0], np.arange(20000) % 251)
    np.testing.assert_array_equal(x_train[3, 0, :, 1], np.arange(32))
    np.testing.assert_array_equal(y_test[:, 0], (np.arange(50000, 50050) % 10))
    # With CIFAR-10 at hand it becomes the default dataset of the training notebooks.
    assert config.dataset() == "cifar10"


def test_mnist_through_the_real_loader_from_a_made_npz(no_download, clean_cache):
    target = data.cached_files("mnist")[0]
    target.parent.mkdir(parents=True, exist_ok=True)
    clean_cache.append(target)
    rng = np.random.default_rng(0)
    arrays = {
        "x_train": rng.integers(0, 256, (30, 28, 28), dtype=np.uint8),
        "y_train": rng.integers(0, 10, 30, dtype=np.uint8),
        "x_test": rng.integers(0, 256, (7, 28, 28), dtype=np.uint8),
        "y_test": rng.integers(0, 10, 7, dtype=np.uint8),
    }
    np.savez(target, **arrays)
    (x_train, y_train), (x_test, y_test) = data.load_dataset("mnist")
    for got, key in zip((x_train, y_train, x_test, y_test), arrays):
        np.testing.assert_array_equal(got, arrays[key])


def test_missing_dataset_gives_a_message_that_says_where_and_how(monkeypatch, no_download, tmp_path):
    monkeypatch.setenv("COURSE_DATA_MIRROR", str(tmp_path / "empty-mirror"))
    assert not data.is_available("cifar10")
    with pytest.raises(data.DatasetUnavailable) as err:
        data.load_dataset("cifar10")
    message = str(err.value)
    assert "CIFAR-10" in message and "COURSE_OFFLINE" in message
    assert str(data.cached_files("cifar10")[0]) in message  # where it looked
    assert str(tmp_path / "empty-mirror") in message
    assert "course data prepare cifar10" in message  # how to get it
    with pytest.raises(data.DatasetUnavailable, match="MNIST"):
        data.prepare("mnist", log=lambda m: None)


def test_mirror_named_by_the_environment_is_used(monkeypatch, no_download, clean_cache, tmp_path):
    mirror = tmp_path / "mirror" / "mnist"
    mirror.mkdir(parents=True)
    arrays = {k: np.full((2, 28, 28) if k.startswith("x") else 2, i, np.uint8)
              for i, k in enumerate(("x_train", "y_train", "x_test", "y_test"))}
    np.savez(mirror / "mnist.npz", **arrays)
    monkeypatch.setenv("COURSE_DATA_MIRROR", str(tmp_path / "mirror"))
    clean_cache.append(data.cached_files("mnist")[0])
    assert data.find_mirror("mnist") == mirror
    where = data.prepare("mnist", log=lambda m: None)
    assert data.is_cached("mnist") and where == data.cached_files("mnist")[0].parent
    (x_train, _), _ = data.load_dataset("mnist")
    np.testing.assert_array_equal(x_train, arrays["x_train"])


def test_unknown_dataset_names_the_choices():
    with pytest.raises(ValueError, match="cifar10, mnist, fashion_mnist"):
        data.load_dataset("imagenet")


def _status_of(name):
    rows = {row["dataset"]: row for row in data.status()}
    assert set(rows) == set(data.DATASETS)
    return rows[name]


def test_status_follows_the_files_on_disk(monkeypatch, no_download, clean_cache, tmp_path):
    """Each state is made with files; the row must say what loading then does."""
    monkeypatch.setenv("COURSE_DATA_MIRROR", str(tmp_path / "mirror"))
    target = data.cached_files("mnist")[0]
    assert not target.exists()
    clean_cache.append(target)
    # nothing anywhere: missing, with the way to get it, and loading fails
    row = _status_of("mnist")
    assert (row["available"], row["where"], row["how to get it"]) == (False, "-", data.info("mnist").how_to_get)
    with pytest.raises(data.DatasetUnavailable):
        data.load_dataset("mnist")
    # in a mirror: available from there, and loading works without a download
    mirror = tmp_path / "mirror" / "mnist"
    mirror.mkdir(parents=True)
    arrays = {k: np.full((2, 28, 28) if k.startswith("x") else 2, i, np.uint8)
              for i, k in enumerate(("x_train", "y_train", "x_test", "y_test"))}
    np.savez(mirror / "mnist.npz", **arrays)
    row = _status_of("mnist")
    assert (row["available"], row["where"], row["how to get it"]) == (True, f"{mirror} (mirror)", "")
    (x_train, _), _ = data.load_dataset("mnist")
    np.testing.assert_array_equal(x_train, arrays["x_train"])
    # a file in the Keras cache only: available from the cache
    target.unlink()
    (mirror / "mnist.npz").rename(target)
    row = _status_of("mnist")
    assert (row["available"], row["where"], row["how to get it"]) == (True, str(target.parent), "")
    # a dangling link in the cache is not a dataset
    target.unlink()
    target.symlink_to(tmp_path / "gone.npz")
    assert _status_of("mnist")["available"] is False
