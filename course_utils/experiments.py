"""Small, seeded training experiments of notebooks 02, 03, 05, 06 and 08.

One small CNN family (:func:`small_cnn`) that can be built with standard or
depthwise-separable convolutions, with batch normalisation before or after
the ReLU (or none), with dropout and weight decay; and one way to train it
(:func:`fit_model`): seed, build, compile, fit with a :class:`~course_utils.config.Budget`
(through :func:`course_utils.training.fit`), evaluate, and return a :class:`RunResult` (curves, per-step loss, parameter
count, test accuracy). Figures of the results live in :mod:`course_utils.plots`.

Example::

    from course_utils import config, experiments
    budget = config.budget("separable_vs_standard")
    data = experiments.load_data(budget)            # config.dataset(), budget's subsets
    run = experiments.fit_model("separable",
                                lambda: experiments.small_cnn(data.input_shape, conv="separable"),
                                data, budget)
    print(run.test_accuracy, run.params)

The test split is used as the validation data of ``fit``, so the curves
called ``val_*`` are test-set curves; nothing is tuned on them.

Dense prediction (notebook 03, section 8): :func:`fit_segmenter` trains a network that
outputs one score vector per pixel on ``(images, masks)`` and scores it on test scenes
(:func:`score_segmenter`: pixel accuracy and IoU by
:func:`course_utils.segmentation.segmentation_scores`); :func:`segmentation_table` lists runs.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from course_utils import config, segmentation, training
from course_utils import spec as specs
from course_utils import data as course_data

__all__ = [
    "BN_PLACEMENTS",
    "CONV_KINDS",
    "Data",
    "RunResult",
    "SegmentationRun",
    "augmentation",
    "cross_entropy_and_accuracy",
    "fit_model",
    "fit_segmenter",
    "load_data",
    "results_table",
    "score_segmenter",
    "segmentation_table",
    "set_seed",
    "small_cnn",
]

CONV_KINDS = ("standard", "separable")
#: Where batch normalisation goes in each block (``None``: no batch normalisation).
BN_PLACEMENTS = (None, "before_relu", "after_relu")


# ----------------------------------------------------------------------------- data
@dataclass(frozen=True)
class Data:
    """Images (float32 NHWC in [0, 1]) and integer labels of one dataset, train and test."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray

    @property
    def title(self) -> str:
        return course_data.info(self.name).title

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return tuple(self.x_train.shape[1:])

    @property
    def num_classes(self) -> int:
        return course_data.info(self.name).num_classes

    @property
    def class_names(self) -> tuple[str, ...]:
        return course_data.info(self.name).class_names


@functools.lru_cache(maxsize=4)
def _load(name: str, subset: tuple[int | None, int | None]) -> Data:
    (x_train, y_train), (x_test, y_test) = course_data.load_images(name, subset)
    return Data(name, x_train, y_train, x_test, y_test)


def load_data(budget: config.Budget, name: str | None = None) -> Data:
    """The dataset ``name`` (default :func:`config.dataset`) cut to the budget's subsets (cached)."""
    name = course_data.info(name or config.dataset()).name
    return _load(name, budget.subset)


# ----------------------------------------------------------------------------- models
def set_seed(seed: int) -> None:
    """Seed Python, numpy and the Keras backend (weights, shuffling, dropout)."""
    import keras

    keras.utils.set_random_seed(seed)


def small_cnn(
    input_shape: Sequence[int],
    num_classes: int = 10,
    width: int = 16,
    conv: str = "standard",
    batchnorm: str | None = None,
    bn_momentum: float = 0.9,
    dropout: float = 0.0,
    weight_decay: float = 0.0,
    name: str | None = None,
):
    """A small CNN: a stem and three blocks, then global average pooling and a linear classifier.

    ========  =====================================  ======================
    stage     layers                                  output (28x28 input)
    ========  =====================================  ======================
    stem      Conv2D(w, 3x3) [BN] ReLU, MaxPool 2     14x14xw
    block 1   conv(2w, 3x3) [BN] ReLU, MaxPool 2      7x7x2w
    block 2   conv(4w, 3x3) [BN] ReLU                 7x7x4w
    block 3   conv(4w, 3x3) [BN] ReLU                 7x7x4w
    head      GlobalAveragePooling, [Dropout], Dense  num_classes logits
    ========  =====================================  ======================

    Args:
        width: ``w``, the channels of the stem.
        conv: ``"standard"`` (``Conv2D``) or ``"separable"`` (``SeparableConv2D``) in the
            three blocks. The stem is a standard convolution in both, as in MobileNet:
            a depthwise convolution of a 1- or 3-channel image has almost nothing to separate.
        batchnorm: ``None``, ``"before_relu"`` (conv -> BN -> ReLU) or ``"after_relu"``
            (conv -> ReLU -> BN) in every stage. Convolutions keep their bias in every
            variant, so the variants differ only by where (or whether) BN sits.
        bn_momentum: Keras ``momentum`` of the moving statistics. The default 0.9 (Keras: 0.99)
            suits short runs: the moving averages forget their start values after a few
            dozen steps instead of a few hundred.
        dropout: dropout rate before the classifier (0: none).
        weight_decay: L2 factor on every kernel (0: none).
    """
    import keras
    from keras import layers

    if conv not in CONV_KINDS:
        raise ValueError(f"conv must be one of {CONV_KINDS}, got {conv!r}")
    if batchnorm not in BN_PLACEMENTS:
        raise ValueError(f"batchnorm must be one of {BN_PLACEMENTS}, got {batchnorm!r}")
    reg = keras.regularizers.L2(weight_decay) if weight_decay else None

    def conv_layer(kind: str, filters: int, label: str):
        if kind == "separable":
            return layers.SeparableConv2D(filters, 3, padding="same", depthwise_regularizer=reg,
                                          pointwise_regularizer=reg, name=label)
        return layers.Conv2D(filters, 3, padding="same", kernel_regularizer=reg, name=label)

    def stage(kind: str, filters: int, label: str) -> list:
        out = [conv_layer(kind, filters, label)]
        bn = layers.BatchNormalization(momentum=bn_momentum, name=f"{label}_bn")
        relu = layers.ReLU(name=f"{label}_relu")
        if batchnorm == "before_relu":
            out += [bn, relu]
        elif batchnorm == "after_relu":
            out += [relu, bn]
        else:
            out += [relu]
        return out

    stack = [keras.Input(tuple(input_shape))]
    stack += stage("standard", width, "stem") + [layers.MaxPooling2D(name="stem_pool")]
    stack += stage(conv, 2 * width, "block1") + [layers.MaxPooling2D(name="block1_pool")]
    stack += stage(conv, 4 * width, "block2")
    stack += stage(conv, 4 * width, "block3")
    stack += [layers.GlobalAveragePooling2D(name="gap")]
    if dropout:
        stack += [layers.Dropout(dropout, name="dropout")]
    stack += [layers.Dense(num_classes, kernel_regularizer=reg, name="logits")]
    if name is None:
        name = f"{conv}_w{width}" + (f"_bn_{batchnorm}" if batchnorm else "")
    return keras.Sequential(stack, name=name)


def augmentation(seed: int = 0, flip: bool = True):
    """The data augmentation of notebook 06 as Keras preprocessing layers.

    Random shifts of up to 10 % of the size, rotations of up to 0.05 turn (18 degrees),
    zoom of up to 10 % and (``flip``) horizontal flips. Active only in training mode,
    like dropout; call it with ``training=True`` to see it work.
    """
    import keras
    from keras import layers

    stack = [layers.RandomFlip("horizontal", seed=seed)] if flip else []
    stack += [
        layers.RandomTranslation(0.1, 0.1, fill_mode="constant", seed=seed + 1),
        layers.RandomRotation(0.05, fill_mode="constant", seed=seed + 2),
        layers.RandomZoom(0.1, fill_mode="constant", seed=seed + 3),
    ]
    return keras.Sequential(stack, name="augmentation")


# ----------------------------------------------------------------------------- training
@dataclass
class RunResult:
    """What one training run produced."""

    name: str
    dataset: str
    params: int
    trainable: int
    history: dict[str, list[float]]
    step_loss: list[float]
    test_accuracy: float
    epochs: int
    seconds: float
    model: object = field(default=None, repr=False)
    #: Statistics of the probed layer's output during training (see :func:`fit_model`):
    #: ``{"layer", "steps", "mean", "std"}``, ``mean``/``std`` of shape (probes, channels).
    probe: dict | None = field(default=None, repr=False)

    @property
    def title(self) -> str:
        return course_data.info(self.dataset).title


class _StepLoss:
    """Per-step training loss, recovered from Keras' running mean of the epoch."""

    def __init__(self, n_train: int, batch_size: int):
        self.sizes = [min(batch_size, n_train - start) for start in range(0, n_train, batch_size)]
        self.losses: list[float] = []
        self._total = 0.0
        self._count = 0

    def callback(self):
        import keras

        tracker = self

        class Callback(keras.callbacks.Callback):
            def on_epoch_begin(self, epoch, logs=None):
                tracker._total, tracker._count = 0.0, 0

            def on_train_batch_end(self, batch, logs=None):
                n = tracker.sizes[batch]
                total = float(logs["loss"]) * (tracker._count + n)  # Keras logs the epoch's running mean
                tracker.losses.append((total - tracker._total) / n)
                tracker._total, tracker._count = total, tracker._count + n

        return Callback()


class _Probe:
    """Per-channel mean and std of one layer's output on a fixed batch, every few steps.

    The layer is evaluated as in training (batch statistics in batch normalisation),
    which is what the next layer sees while it learns; the moving statistics that
    this call would update are put back afterwards, so probing does not change the run.
    """

    def __init__(self, layer: str, images: np.ndarray, every: int):
        self.layer, self.images, self.every = layer, images, max(1, every)
        self.steps: list[int] = []
        self.means: list[np.ndarray] = []
        self.stds: list[np.ndarray] = []

    def callback(self):
        import keras

        probe = self

        class Callback(keras.callbacks.Callback):
            def on_train_begin(self, logs=None):
                self.step = 0
                self.sub = specs.truncated(self.model, probe.layer)
                self.state = specs.moving_statistics(self.model)
                self.record()

            def on_train_batch_end(self, batch, logs=None):
                self.step += 1
                if self.step % probe.every == 0:
                    self.record()

            def record(self):
                saved = [v.numpy() for v in self.state]
                out = keras.ops.convert_to_numpy(self.sub(probe.images, training=True))
                for v, value in zip(self.state, saved):
                    v.assign(value)
                axes = tuple(range(out.ndim - 1))
                probe.steps.append(self.step)
                probe.means.append(out.mean(axis=axes))
                probe.stds.append(out.std(axis=axes))

        return Callback()

    def result(self) -> dict:
        return {"layer": self.layer, "steps": np.array(self.steps), "mean": np.array(self.means),
                "std": np.array(self.stds)}


def fit_model(
    name: str,
    build: Callable[[], object],
    data: Data,
    budget: config.Budget,
    seed: int = 0,
    learning_rate: float = 1e-3,
    augment: Callable[[], object] | None = None,
    probe: str | None = None,
    probe_points: int = 40,
    verbose: int = 0,
    from_logits: bool = True,
) -> RunResult:
    """Seed, build (``build()``), compile (Adam, cross-entropy on logits), fit and evaluate.

    The budget gives the epochs and batch size (the data is already cut to its
    subsets by :func:`load_data`). ``augment`` builds augmentation layers applied to
    each training batch (and only in training). The test split is the validation data,
    so ``history["val_accuracy"]`` is the test accuracy after every epoch.

    ``probe`` names a layer whose output is summarised (per-channel mean and std over
    the first 256 test images) about ``probe_points`` times during training, into
    ``RunResult.probe``: how the distribution that the next layer receives moves.

    ``from_logits=False`` is for models that end in a softmax (the networks of
    :mod:`course_utils.architectures`); :func:`small_cnn` returns logits.
    """
    set_seed(seed)
    model = build()
    training.compile_classifier(model, learning_rate, from_logits=from_logits)
    steps = _StepLoss(len(data.x_train), budget.batch_size)
    callbacks = [steps.callback()]
    prober = None
    if probe is not None:
        total_steps = len(steps.sizes) * budget.epochs
        prober = _Probe(probe, data.x_test[:256], total_steps // probe_points)
        callbacks.append(prober.callback())
    fit = training.fit(model, (data.x_train, data.y_train), (data.x_test, data.y_test), epochs=budget.epochs,
                       batch_size=budget.batch_size, augment=augment() if augment is not None else None,
                       callbacks=callbacks, verbose=verbose)
    trainable = int(sum(np.prod(w.shape) for w in model.trainable_weights))
    return RunResult(
        name=name, dataset=data.name, params=int(model.count_params()), trainable=trainable,
        history=fit.history, step_loss=steps.losses, test_accuracy=fit.history["val_accuracy"][-1],
        epochs=budget.epochs, seconds=fit.seconds, model=model,
        probe=prober.result() if prober is not None else None,
    )


def cross_entropy_and_accuracy(model, x: np.ndarray, y: np.ndarray, batch_size: int = 256) -> tuple[float, float]:
    """Mean cross-entropy and accuracy of ``model`` on ``(x, y)`` in inference mode.

    Dropout and augmentation are off, batch normalisation uses its moving statistics, and
    the loss is the data term alone (no weight-decay penalty), so that runs with and
    without regularisation are measured alike. Works on logits and on softmax outputs.
    """
    out = np.asarray(model.predict(x, batch_size=batch_size, verbose=0), dtype=np.float64)
    if not np.allclose(out.sum(axis=1), 1.0, atol=1e-4) or (out < 0).any():  # logits: softmax them
        out = np.exp(out - out.max(axis=1, keepdims=True))
        out /= out.sum(axis=1, keepdims=True)
    y = np.asarray(y).astype(int).ravel()
    loss = float(-np.mean(np.log(np.clip(out[np.arange(len(y)), y], 1e-12, None))))
    accuracy = float(np.mean(out.argmax(axis=1) == y))
    return loss, accuracy


def results_table(results: Sequence[RunResult], digits: int = 3, data: Data | None = None):
    """One row per run: name, parameters, final train and test accuracy (rounded), seconds.

    Without ``data`` the train accuracy is Keras' running mean over the last epoch, measured
    in training mode (with dropout and augmentation active). With ``data`` (the data the
    runs trained on) both splits are re-evaluated with the final weights in inference mode
    (:func:`cross_entropy_and_accuracy`), and the table adds the train and test loss and the
    generalisation gaps ``train - test`` accuracy and ``test - train`` loss.
    """
    import pandas as pd

    if data is not None:
        rows = []
        for r in results:
            train_loss, train_acc = cross_entropy_and_accuracy(r.model, data.x_train, data.y_train)
            test_loss, test_acc = cross_entropy_and_accuracy(r.model, data.x_test, data.y_test)
            rows.append({"run": r.name, "params": r.params,
                         "train accuracy": round(train_acc, digits), "test accuracy": round(test_acc, digits),
                         "accuracy gap": round(train_acc - test_acc, digits),
                         "train loss": round(train_loss, digits), "test loss": round(test_loss, digits),
                         "loss gap": round(test_loss - train_loss, digits), "seconds": round(r.seconds, 1)})
        return pd.DataFrame(rows)
    return pd.DataFrame({
        "run": [r.name for r in results],
        "params": [r.params for r in results],
        "train accuracy": [round(r.history["accuracy"][-1], digits) for r in results],
        "test accuracy": [round(r.test_accuracy, digits) for r in results],
        "seconds": [round(r.seconds, 1) for r in results],
    })


# ----------------------------------------------------------------------------- dense prediction
@dataclass
class SegmentationRun:
    """What one dense-prediction training run produced (:func:`fit_segmenter`)."""

    name: str
    params: int
    #: :func:`course_utils.segmentation.segmentation_scores` on the test scenes after training
    scores: dict
    #: the predicted label of every test pixel, ``(n, H, W)``
    predicted: np.ndarray = field(repr=False)
    history: dict[str, list[float]] = field(repr=False)
    epochs: int = 0
    seconds: float = 0.0
    model: object = field(default=None, repr=False)


def score_segmenter(model, images: np.ndarray, masks: np.ndarray, batch_size: int = 64) -> tuple[dict, np.ndarray]:
    """``(segmentation_scores, predicted labels)`` of a network that outputs one score vector per pixel."""
    predicted = np.asarray(model.predict(images, batch_size=batch_size, verbose=0)).argmax(-1)
    num_classes = int(model.output_shape[-1])
    return segmentation.segmentation_scores(masks, predicted, num_classes), predicted


def fit_segmenter(name: str, model, train: tuple[np.ndarray, np.ndarray], test: tuple[np.ndarray, np.ndarray],
                  budget: config.Budget, seed: int = 0, learning_rate: float = 2e-3) -> SegmentationRun:
    """Train a dense-prediction ``model`` (logits per pixel) on ``train = (images, masks)``, score it on ``test``.

    Adam on the mean cross-entropy of every pixel, ``budget.epochs`` epochs of
    ``budget.batch_size`` scenes, shuffled with ``seed``; the Keras accuracy in the history is
    the pixel accuracy. The model is built (and possibly given weights) by the caller.
    """
    set_seed(seed)
    training.compile_classifier(model, learning_rate, from_logits=True)
    fit = training.fit(model, train, test, epochs=budget.epochs, batch_size=budget.batch_size)
    scores, predicted = score_segmenter(model, *test)
    return SegmentationRun(name=name, params=int(model.count_params()), scores=scores, predicted=predicted,
                           history=fit.history, epochs=budget.epochs, seconds=fit.seconds, model=model)


def segmentation_table(runs: Sequence[SegmentationRun], class_names: Sequence[str], digits: int = 3):
    """One row per run: parameters, test pixel accuracy, mean IoU, the IoU of each class, seconds."""
    import pandas as pd

    rows = []
    for r in runs:
        row = {"run": r.name, "params": r.params, "pixel accuracy": round(r.scores["pixel_accuracy"], digits),
               "mean IoU": round(r.scores["mean_iou"], digits)}
        row.update({f"IoU {c}": round(float(v), digits) for c, v in zip(class_names, r.scores["iou"])})
        row["seconds"] = round(r.seconds, 1)
        rows.append(row)
    return pd.DataFrame(rows).set_index("run")
