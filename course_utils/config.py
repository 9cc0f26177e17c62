"""Run-time budget of the course, in one place.

* ``COURSE_QUICK=1`` (set by the test suite and CI) shrinks data subsets and
  epochs so that every notebook runs in about a minute on a 2-core CPU. It never
  changes what a deterministic cell computes or prints.
* ``COURSE_DATASET`` picks the image dataset of the training notebooks and
  assignments (``cifar10``, ``fashion_mnist`` or ``mnist``). By default it is
  CIFAR-10 where it can be had (already cached, or on Colab where it can be
  downloaded) and Fashion-MNIST offline.
* ``COURSE_OFFLINE=1`` forbids download attempts (set by the test suite).

Notebooks and assignments read their budget with :func:`budget` and never
carry epoch counts or subset sizes of their own.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

#: The folder that holds the package: the repository (notebooks/, solutions/, assignments/)
#: in the editable install that `make setup` makes.
REPO_ROOT = Path(__file__).resolve().parent.parent

# The environment flags, read at call time (course_utils._flags; data reads them from
# there too, so that data never imports this module: config -> data only).
from course_utils._flags import TRUE_VALUES, offline, on_colab, quick  # noqa: F401
from course_utils.a3_rules import MAX_EPOCHS


@dataclass(frozen=True)
class Budget:
    """How much data and training one experiment gets.

    ``train_size`` / ``test_size`` of ``None`` mean the whole split.
    """

    epochs: int
    batch_size: int = 128
    train_size: int | None = None
    test_size: int | None = None

    @property
    def subset(self) -> tuple[int | None, int | None]:
        return (self.train_size, self.test_size)


# name: (full budget, quick budget). The full budget is what a Colab GPU runs;
# the quick one is sized for a 2-core CPU (see README, "Quick mode").
BUDGETS: dict[str, tuple[Budget, Budget]] = {
    # notebook 03: context module + dense head (seed 000)
    # (full: sized so that notebook 03 runs in about 5 minutes on a 2-core CPU)
    "context_module": (Budget(epochs=1, batch_size=128), Budget(epochs=1, train_size=512, test_size=256)),
    # notebook 03, section 8: the front-end, then the front-end with and without the context module
    # on synthetic scenes (each stage trains `epochs` epochs)
    "context_dense": (Budget(epochs=4, batch_size=32, train_size=2000, test_size=200),
                      Budget(epochs=1, batch_size=32, train_size=128, test_size=32)),
    # notebook 07: the numpy context network trained with the hand-written dilated backprop
    "numpy_context": (Budget(epochs=1, batch_size=64, train_size=3000, test_size=1000),
                      Budget(epochs=1, batch_size=64, train_size=128, test_size=100)),
    # notebook 05: six small standard / separable nets (the full budget runs in minutes on a CPU)
    "separable_vs_standard": (Budget(epochs=3, train_size=8000, test_size=2000),
                              Budget(epochs=1, train_size=1500, test_size=500)),
    # notebook 06: three small nets without / with BN (before, after the ReLU)
    "batchnorm": (Budget(epochs=4, train_size=8000, test_size=2000),
                  Budget(epochs=1, train_size=1500, test_size=500)),
    # notebook 06: one small net without and with each regulariser (dropout, weight decay, augmentation)
    "regularisation": (Budget(epochs=30, batch_size=32, train_size=500, test_size=1000),
                       Budget(epochs=3, batch_size=32, train_size=300, test_size=300)),
    # notebook 08: plain and residual nets of 8 and 20 layers (the degradation problem)
    "degradation": (Budget(epochs=5, batch_size=32, train_size=1000, test_size=200),
                    Budget(epochs=1, batch_size=32, train_size=200, test_size=100)),
    # notebook 08: small FCN on synthetic segmentation data
    "fcn": (Budget(epochs=15, batch_size=32, train_size=2000, test_size=200),
            Budget(epochs=3, batch_size=32, train_size=400, test_size=64)),
    # notebook 02: one small network trained to compare its filters and effective RF before / after
    # (full: about a minute and a half on a 2-core CPU)
    "erf_training": (Budget(epochs=2, batch_size=32, train_size=10000, test_size=2000),
                     Budget(epochs=1, batch_size=32, train_size=512, test_size=256)),
    # assignment A3: the base network and the depthwise-separable network
    "a3": (Budget(epochs=MAX_EPOCHS), Budget(epochs=1, train_size=2000, test_size=1000)),
}


def budget(name: str) -> Budget:
    """The budget of experiment ``name`` for the current mode (quick or full)."""
    try:
        full, small = BUDGETS[name]
    except KeyError:
        known = ", ".join(sorted(BUDGETS))
        raise KeyError(f"no budget named {name!r}; known budgets: {known}") from None
    chosen = small if quick() else full
    epochs = os.environ.get("COURSE_EPOCHS")
    return replace(chosen, epochs=int(epochs)) if epochs else chosen


DATASETS = ("cifar10", "fashion_mnist", "mnist")


def dataset() -> str:
    """The dataset the training notebooks use (see module docstring)."""
    chosen = os.environ.get("COURSE_DATASET", "").strip().lower().replace("-", "_")
    if chosen:
        if chosen not in DATASETS:
            raise ValueError(f"COURSE_DATASET={chosen!r} is not one of {', '.join(DATASETS)}")
        return chosen
    from course_utils import data  # local import: data is heavy, and never imports config

    if data.is_available("cifar10") or (on_colab() and not offline()):
        return "cifar10"
    return "fashion_mnist"
