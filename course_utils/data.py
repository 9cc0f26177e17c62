"""Datasets through the real Keras loaders, working offline where possible.

``load_dataset(name)`` returns exactly what ``keras.datasets.<name>.load_data()``
returns: ``((x_train, y_train), (x_test, y_test))`` as uint8 images and labels.
It always goes through the Keras loader and its cache (``$KERAS_HOME`` or
``~/.keras``). When the cache lacks the files it

1. links them from a local mirror if one exists (Debian's
   ``dataset-fashion-mnist`` installs Fashion-MNIST under
   ``/usr/share/datasets/fashion-mnist``; ``COURSE_DATA_MIRROR`` adds folders),
2. otherwise lets Keras download them, unless ``COURSE_OFFLINE=1``,
3. otherwise raises :class:`DatasetUnavailable`, naming the dataset, where it
   was looked for and how to get it.

``course data status`` and ``course data prepare NAME`` are the command-line
views of :func:`status` and :func:`prepare`.
"""

from __future__ import annotations

import importlib
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from course_utils import _flags, system


class DatasetUnavailable(RuntimeError):
    """The dataset is neither cached, mirrored nor downloadable."""


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    title: str
    keras_module: str
    #: (path inside ``<keras home>/datasets``, file name inside a mirror folder)
    files: tuple[tuple[str, str], ...]
    mirror_dirs: tuple[str, ...]
    image_shape: tuple[int, int, int]
    class_names: tuple[str, ...]
    debian_package: str | None = None
    how_to_get: str = ""

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


_FASHION_FILES = (
    "train-labels-idx1-ubyte.gz",
    "train-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
)

DATASETS: dict[str, DatasetInfo] = {
    "cifar10": DatasetInfo(
        name="cifar10",
        title="CIFAR-10",
        keras_module="keras.datasets.cifar10",
        # Keras stores the downloaded archive under this name and extracts it beside.
        files=(("cifar-10-batches-py-target_archive", "cifar-10-python.tar.gz"),),
        mirror_dirs=("/usr/share/datasets/cifar10", "/usr/share/datasets/cifar-10"),
        image_shape=(32, 32, 3),
        class_names=("airplane", "automobile", "bird", "cat", "deer",
                     "dog", "frog", "horse", "ship", "truck"),
        how_to_get="connect to the internet and run `course data prepare cifar10`, or put "
                   "cifar-10-python.tar.gz in a folder named by COURSE_DATA_MIRROR",
    ),
    "mnist": DatasetInfo(
        name="mnist",
        title="MNIST",
        keras_module="keras.datasets.mnist",
        files=(("mnist.npz", "mnist.npz"),),
        mirror_dirs=("/usr/share/datasets/mnist",),
        image_shape=(28, 28, 1),
        class_names=tuple(str(d) for d in range(10)),
        how_to_get="connect to the internet and run `course data prepare mnist`, or put "
                   "mnist.npz in a folder named by COURSE_DATA_MIRROR",
    ),
    "fashion_mnist": DatasetInfo(
        name="fashion_mnist",
        title="Fashion-MNIST",
        keras_module="keras.datasets.fashion_mnist",
        files=tuple((f"fashion-mnist/{f}", f) for f in _FASHION_FILES),
        mirror_dirs=("/usr/share/datasets/fashion-mnist",),
        image_shape=(28, 28, 1),
        class_names=("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                     "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
        debian_package="dataset-fashion-mnist",
        how_to_get="run `course data prepare fashion_mnist` (installs the Debian package "
                   "dataset-fashion-mnist when run as root), or connect to the internet",
    ),
}


def info(name: str) -> DatasetInfo:
    """The registry entry of ``name`` (``fashion-mnist`` and ``fashion_mnist`` both work)."""
    key = name.strip().lower().replace("-", "_")
    if key not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; choose one of: {', '.join(DATASETS)}")
    return DATASETS[key]


def keras_home() -> Path:
    """Keras' cache folder, resolved exactly as Keras resolves it."""
    if "keras" in sys.modules:  # Keras fixed its home at import time: ask it.
        from keras.src.backend import config as keras_config

        return Path(os.path.expanduser(keras_config.keras_home()))
    if "KERAS_HOME" in os.environ:
        return Path(os.path.expanduser(os.environ["KERAS_HOME"]))
    base = os.path.expanduser("~")
    return Path(base if os.access(base, os.W_OK) else "/tmp") / ".keras"


def _cache_dir() -> Path:
    home = keras_home()
    # Keras falls back to /tmp/.keras when its home is not writable.
    if home.exists() and not os.access(home, os.W_OK):
        home = Path("/tmp/.keras")
    return home / "datasets"


def cached_files(name: str) -> list[Path]:
    """Where the Keras loader expects the files of ``name``."""
    root = _cache_dir()
    return [root / rel for rel, _ in info(name).files]


def _named_mirror_dirs(ds: DatasetInfo) -> list[Path]:
    """The folders ``COURSE_DATA_MIRROR`` names for ``ds``: ``<folder>/<name>``, then ``<folder>``."""
    named = [Path(p) for p in os.environ.get("COURSE_DATA_MIRROR", "").split(os.pathsep) if p]
    return [p / ds.name for p in named] + named


def _mirror_dirs(ds: DatasetInfo) -> list[Path]:
    return _named_mirror_dirs(ds) + [Path(d) for d in ds.mirror_dirs]


def named_mirror_files() -> list[Path]:
    """Every dataset file present in the folders ``COURSE_DATA_MIRROR`` names: what a grading
    sandbox shows its kernel (read-only) so that it loads the data the instructor has."""
    found: list[Path] = []
    for ds in DATASETS.values():
        for folder in _named_mirror_dirs(ds):
            found += [folder / f for _, f in ds.files if (folder / f).is_file() and folder / f not in found]
    return found


def find_mirror(name: str) -> Path | None:
    """The first mirror folder that holds every file of ``name``, if any."""
    ds = info(name)
    for folder in _mirror_dirs(ds):
        if all((folder / mirrored).is_file() for _, mirrored in ds.files):
            return folder
    return None


def is_cached(name: str) -> bool:
    return all(p.is_file() for p in cached_files(name))


def is_available(name: str) -> bool:
    """True when ``load_dataset(name)`` works without a download."""
    return is_cached(name) or find_mirror(name) is not None


def _link_from_mirror(name: str) -> bool:
    mirror = find_mirror(name)
    if mirror is None:
        return False
    ds = info(name)
    for (rel, mirrored), target in zip(ds.files, cached_files(name)):
        if target.is_file():
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.is_symlink():  # a dangling link from an old mirror
            target.unlink()
        try:
            target.symlink_to(mirror / mirrored)
        except OSError:
            shutil.copyfile(mirror / mirrored, target)
    return True


def _unavailable(name: str, reason: str) -> DatasetUnavailable:
    ds = info(name)
    looked = [str(p) for p in cached_files(name)] + [str(d) for d in _mirror_dirs(ds)]
    return DatasetUnavailable(
        f"{ds.title} ({ds.name}) is not available: {reason}.\n"
        f"Looked for it in the Keras cache and in the local mirrors:\n  "
        + "\n  ".join(looked)
        + f"\nHow to get it: {ds.how_to_get}.\n"
        "Offline, the course runs on Fashion-MNIST: set COURSE_DATASET=fashion_mnist."
    )


def _keras_load(name: str):
    ds = info(name)
    module = importlib.import_module(ds.keras_module)
    try:
        return module.load_data()
    except Exception as exc:  # Keras raises a bare Exception on a failed download
        raise _unavailable(name, f"the Keras loader failed ({exc})") from exc


def _take(n: int | None, *arrays: np.ndarray):
    if n is None:
        return arrays
    if n <= 0:
        raise ValueError(f"a subset size must be positive, got {n}")
    return tuple(a[:n] for a in arrays)


def load_dataset(name: str, subset: int | tuple[int | None, int | None] | None = None):
    """Load ``name`` through ``keras.datasets`` (see module docstring).

    ``subset`` keeps the first examples of each split: an int ``n`` keeps ``n``
    training and ``n // 5`` test examples; a pair ``(n_train, n_test)`` sets
    both (``None`` keeps a whole split). The splits are already shuffled, so the
    first examples are a fair sample of every class.
    """
    ds = info(name)
    if not is_cached(ds.name):
        _link_from_mirror(ds.name)
    if not is_cached(ds.name) and _flags.offline():
        raise _unavailable(ds.name, "it is not in the Keras cache or a mirror, and COURSE_OFFLINE=1 forbids downloads")
    (x_train, y_train), (x_test, y_test) = _keras_load(ds.name)
    if isinstance(subset, int):
        subset = (subset, max(1, subset // 5))
    n_train, n_test = subset if subset is not None else (None, None)
    x_train, y_train = _take(n_train, x_train, y_train)
    x_test, y_test = _take(n_test, x_test, y_test)
    return (x_train, y_train), (x_test, y_test)


def load_images(name: str, subset=None):
    """``load_dataset`` ready for a network: float32 NHWC in [0, 1], integer labels of shape (n,)."""
    (x_train, y_train), (x_test, y_test) = load_dataset(name, subset)

    def prep(x, y):
        x = x.astype("float32")
        x /= 255.0  # in place: the same numbers as x / 255.0, without a second array of the split
        if x.ndim == 3:
            x = x[..., None]
        return x, y.reshape(-1).astype("int64")

    return prep(x_train, y_train), prep(x_test, y_test)


def status() -> list[dict]:
    """One row per dataset: name, whether it is available and from where."""
    rows = []
    for ds in DATASETS.values():
        mirror = find_mirror(ds.name)
        if is_cached(ds.name):
            where = str(cached_files(ds.name)[0].parent)
        elif mirror is not None:
            where = f"{mirror} (mirror)"
        else:
            where = "-"
        rows.append({
            "dataset": ds.name,
            "title": ds.title,
            "available": is_available(ds.name),
            "where": where,
            "how to get it": "" if is_available(ds.name) else ds.how_to_get,
        })
    return rows


def prepare(name: str, log=print) -> Path:
    """Make ``name`` available in the Keras cache; returns the cache folder.

    Uses the cache, then a mirror, then the Debian package (as root), then a
    Keras download (unless offline); raises :class:`DatasetUnavailable` otherwise.
    """
    ds = info(name)
    if not is_cached(ds.name) and find_mirror(ds.name) is None and ds.debian_package:
        system.apt_install(ds.debian_package, log=log)
    if not is_cached(ds.name) and not _link_from_mirror(ds.name):
        if _flags.offline():
            raise _unavailable(ds.name, "no local copy, and COURSE_OFFLINE=1 forbids downloads")
        log(f"downloading {ds.title} with the Keras loader ...")
        _keras_load(ds.name)
    return cached_files(ds.name)[0].parent
