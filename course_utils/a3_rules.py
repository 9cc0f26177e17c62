"""Assignment A3's rules, with the numbers the grader applies (:mod:`course_utils.grading.a3`
reads them from here, and the notebook prints them with :func:`rules_text`), so that what a
student is told and what the grader checks cannot drift apart.

The numbers are not secret: the grader's own copy of this module, on its trusted side, is
the one that counts.
"""

from __future__ import annotations

__all__ = ["MAX_PARAMS", "MAX_EPOCHS", "TOLERANCE", "DROPOUT_RANGE", "FLOORS", "DATASET_NAMES", "QUICK_VAL_SIZE",
           "rules_text"]

#: The network has fewer parameters than this (on 32x32x3 and on the dataset's images).
MAX_PARAMS = 100_000
#: Epochs of the base network's run (exactly; checked when the grader is not in quick
#: mode) and at most the separable network's.
MAX_EPOCHS = 50
#: Largest gap between an accuracy a history claims and what the submitted weights reach
#: on the grader's images (a history validated on 2,000 of them is within about four
#: standard errors of the whole split).
TOLERANCE = 0.03
#: Every dropout rate r: DROPOUT_RANGE[0] < r <= DROPOUT_RANGE[1].
DROPOUT_RANGE = (0.0, 0.5)
#: Accuracy the separable network must reach on each dataset, whatever the base did (the
#: instructor's floor: an undertrained base network does not make the task easier).
FLOORS = {"cifar10": 0.80, "fashion_mnist": 0.90, "mnist": 0.98}
#: Test images the grader's quick mode (``--quick``) evaluates on: a seeded sample of the
#: test split (full mode: all of it).
QUICK_VAL_SIZE = 2_000
DATASET_NAMES = {"cifar10": "CIFAR-10", "fashion_mnist": "Fashion-MNIST", "mnist": "MNIST"}


def rules_text(dataset: str) -> str:
    """The rules of A3 as the grader applies them, for a run on ``dataset``."""
    low, high = DROPOUT_RANGE
    floor = FLOORS.get(dataset)
    others = ", ".join(f"{DATASET_NAMES.get(d, d)} {f:.2f}" for d, f in FLOORS.items() if d != dataset)
    floor_text = (f"and at least the instructor's floor of {floor:.2f} on {DATASET_NAMES.get(dataset, dataset)} "
                  f"({others})" if floor is not None else "(no floor for this dataset)")
    rules = [
        "convolutions: SeparableConv2D or DepthwiseConv2D only, the first layer included; after global "
        "pooling a Dense classifier is allowed; standard Keras layers only (no custom layer, no Lambda)",
        "batch normalisation: at least one BatchNormalization layer",
        f"parameters: fewer than {MAX_PARAMS:,}, counted from the weights, on 32x32x3 and on this dataset's images",
        f"dropout: at least one Dropout layer, every rate above {low:g} and at most {high:g}",
        "table: (output size, output channels, receptive field) of every convolution and pooling layer, "
        "for a 32x32x3 input, by layer name",
        f"base network: its saved run has exactly {MAX_EPOCHS} epochs (checked when the instructor grades "
        "in full mode) and its weights are those after the last epoch",
        f"separable network: at most {MAX_EPOCHS} epochs; its weights are those of its best validation epoch",
        f"histories: each within {TOLERANCE:.2f} of what its submitted weights reach on the grader's test "
        f"images (the whole test split; a seeded sample of {QUICK_VAL_SIZE:,} of them in quick mode)",
        f"accuracy: the separable weights beat the base weights on the same images {floor_text}; "
        "no floor in quick mode",
    ]
    return "A3's rules, as the grader applies them:\n" + "\n".join(f"{i}. {r}" for i, r in enumerate(rules, 1))
