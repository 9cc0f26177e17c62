"""Assignment A3: the base network, the reference depthwise-separable network, and
the saved runs (weights + history) that the grader evaluates.

A *run* is two files next to the notebook:

``<name>.weights.h5``     the weights of the epoch with the best validation accuracy
``<name>_history.json``   ``{"dataset", "input_shape", "epochs", "params", "history": {...}}``

:func:`train_or_load` loads a saved run when its files exist (so re-running the
notebook, and grading it, never trains again) and trains and saves one otherwise.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

__all__ = [
    "BASE_PARAMS_CIFAR10", "Run", "build_base", "build_reference", "history_path", "weights_path",
    "train", "save_run", "load_history", "train_or_load", "autograding",
]

#: Parameters of the base network on 32x32x3 inputs (the source's figure).
BASE_PARAMS_CIFAR10 = 1_172_410


def _keras():
    import keras

    return keras


# ----------------------------------------------------------------------------- networks
def build_base(input_shape: tuple[int, int, int] = (32, 32, 3)):
    """The source's base network: three blocks of two 3x3 convolutions ("same" then
    "valid", ReLU), max-pooling and dropout 0.25, then Dense 512 and 256 with dropout
    0.5 and a 10-way softmax. Adam (lr 1e-3), sparse categorical cross-entropy."""
    keras = _keras()
    L = keras.layers
    layers: list[Any] = [keras.Input(shape=tuple(input_shape))]
    for filters in (48, 96, 192):
        layers += [L.Conv2D(filters, 3, padding="same", activation="relu"),
                   L.Conv2D(filters, 3, padding="valid", activation="relu"),
                   L.MaxPooling2D(2), L.Dropout(0.25)]
    layers += [L.Flatten(), L.Dense(512, activation="relu"), L.Dropout(0.5),
               L.Dense(256, activation="relu"), L.Dropout(0.5), L.Dense(10, activation="softmax")]
    model = keras.Sequential(layers, name="base")
    compile_model(model)
    return model


def build_reference(input_shape: tuple[int, int, int] = (32, 32, 3), widths=(32, 64, 128), head: int = 256):
    """The reference solution: depthwise-separable convolutions only (the first layer
    too), BN + ReLU after each, three blocks of two "same" 3x3 convolutions, a
    2x2 max-pool and light dropout after the first two, a 3x3 separable layer of
    ``head`` channels, global average pooling and a Dense softmax. Under 100,000
    parameters for any 1- or 3-channel input."""
    keras = _keras()
    L = keras.layers
    x = inputs = keras.Input(shape=tuple(input_shape))

    def sep(x, filters, name):
        x = L.SeparableConv2D(filters, 3, padding="same", use_bias=False, name=name)(x)
        x = L.BatchNormalization(momentum=0.9, name=f"{name}_bn")(x)
        return L.ReLU(name=f"{name}_relu")(x)

    for block, filters in enumerate(widths, start=1):
        x = sep(x, filters, f"sep{block}a")
        x = sep(x, filters, f"sep{block}b")
        if block < len(widths):
            x = L.MaxPooling2D(2, name=f"pool{block}")(x)
            x = L.Dropout(0.05 * block, name=f"drop{block}")(x)
    x = sep(x, head, "sep_head")
    x = L.GlobalAveragePooling2D(name="gap")(x)
    x = L.Dropout(0.2, name="drop_head")(x)
    outputs = L.Dense(10, activation="softmax", name="classes")(x)
    model = keras.Model(inputs, outputs, name="separable")
    compile_model(model)
    return model


def compile_model(model, learning_rate: float = 1e-3) -> None:
    keras = _keras()
    model.compile(optimizer=keras.optimizers.Adam(learning_rate),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])


# ----------------------------------------------------------------------------- runs
def weights_path(name: str, folder: str | Path = ".") -> Path:
    return Path(folder) / f"{name}.weights.h5"


def history_path(name: str, folder: str | Path = ".") -> Path:
    return Path(folder) / f"{name}_history.json"


@dataclass
class Run:
    """A trained (or loaded) run: its model with the best epoch's weights, and its history."""

    name: str
    model: Any
    record: dict
    loaded: bool = False

    @property
    def history(self) -> dict[str, list[float]]:
        return self.record["history"]

    @property
    def epochs(self) -> int:
        return len(self.history.get("val_accuracy", []))

    @property
    def best_val_accuracy(self) -> float:
        return max(self.history["val_accuracy"])

    @property
    def final_val_accuracy(self) -> float:
        return self.history["val_accuracy"][-1]

    def summary(self) -> str:
        how = "loaded from the saved run" if self.loaded else "trained now"
        return (f"{self.name} on {self.record['dataset']} ({how}): {self.epochs} epoch(s), "
                f"{self.record['params']:,} parameters, validation accuracy after the last epoch "
                f"{self.final_val_accuracy:.4f}, best {self.best_val_accuracy:.4f}")


#: Names of the runs trained (not loaded) in this process: a graded notebook whose run
#: had to be trained while grading did not submit it.
TRAINED_HERE: set[str] = set()


def autograding() -> bool:
    """True when nbgrader executes the notebook (it sets ``NBGRADER_EXECUTION``)."""
    return bool(os.environ.get("NBGRADER_EXECUTION"))


def save_run(name: str, model, history: dict[str, list[float]], dataset: str,
             folder: str | Path = ".", seconds_per_epoch: float | None = None) -> dict:
    """Write ``<name>_history.json`` (the weights are written by :func:`train`)."""
    record = {
        "name": name,
        "dataset": dataset,
        "input_shape": [int(d) for d in model.input_shape[1:]],
        "params": int(model.count_params()),
        "epochs": len(history.get("val_accuracy", [])),
        "seconds_per_epoch": seconds_per_epoch,
        "history": {k: [float(v) for v in vs] for k, vs in history.items()},
    }
    history_path(name, folder).write_text(json.dumps(record, indent=1) + "\n")
    return record


def load_history(name: str, folder: str | Path = ".") -> dict:
    return json.loads(history_path(name, folder).read_text())


def _augmenter(input_shape):
    """Random shifts of up to 1/8 of the image and horizontal flips (training only)."""
    keras = _keras()
    L = keras.layers
    return keras.Sequential([L.RandomTranslation(0.125, 0.125, fill_mode="constant"),
                             L.RandomFlip("horizontal")], name="augment")


def train(model, train_data, val_data, epochs: int, batch_size: int = 128, *, name: str,
          folder: str | Path = ".", augment: bool = False, one_cycle: float | None = None,
          verbose: int = 2) -> tuple[dict[str, list[float]], float]:
    """Fit ``model``, keep the weights of the best validation epoch in ``<name>.weights.h5``
    (and in the model). ``one_cycle``: peak learning rate of a one-cycle schedule
    (linear warm-up for 30 % of the epochs, then linear decay); ``None`` keeps Adam's 1e-3.
    Returns the history and the mean seconds per epoch."""
    import tensorflow as tf

    keras = _keras()
    x, y = train_data
    ds = tf.data.Dataset.from_tensor_slices((x, y)).shuffle(len(x), seed=0).batch(batch_size)
    if augment:
        aug = _augmenter(x.shape[1:])
        ds = ds.map(lambda a, b: (aug(a, training=True), b), num_parallel_calls=tf.data.AUTOTUNE)
    ds = ds.prefetch(tf.data.AUTOTUNE)
    callbacks = [keras.callbacks.ModelCheckpoint(str(weights_path(name, folder)), monitor="val_accuracy",
                                                 save_best_only=True, save_weights_only=True)]
    if one_cycle:
        warm = max(1, round(0.3 * epochs))

        def rate(epoch, _lr):
            if epoch < warm:
                return one_cycle * (0.1 + 0.9 * epoch / warm)
            return one_cycle * max(0.02, 1 - (epoch - warm) / max(1, epochs - warm))

        callbacks.append(keras.callbacks.LearningRateScheduler(rate))
    start = time.perf_counter()
    fit = model.fit(ds, validation_data=val_data, epochs=epochs, callbacks=callbacks, verbose=verbose,
                    shuffle=False)  # the dataset reshuffles every epoch itself
    seconds = (time.perf_counter() - start) / max(1, epochs)
    model.load_weights(str(weights_path(name, folder)))
    history = {k: [float(v) for v in vs] for k, vs in fit.history.items() if k != "learning_rate"}
    return history, seconds


def train_or_load(name: str, build: Callable[[tuple], Any], train_data, val_data, budget, dataset: str,
                  folder: str | Path = ".", **train_options) -> Run:
    """The run ``name``: loaded when ``<name>.weights.h5`` and ``<name>_history.json``
    exist (delete them to train again), trained with ``budget`` and saved otherwise.
    Under nbgrader (``NBGRADER_EXECUTION``) a missing run is an error, never a training."""
    input_shape = tuple(train_data[0].shape[1:])
    model = build(input_shape)
    if not getattr(model, "compiled", False):
        compile_model(model)
    w, h = weights_path(name, folder), history_path(name, folder)
    if w.exists() and h.exists():
        model.load_weights(str(w))
        return Run(name, model, load_history(name, folder), loaded=True)
    if autograding():
        raise FileNotFoundError(f"the saved run {w.name} / {h.name} is missing: submit both files with the notebook")
    history, seconds = train(model, train_data, val_data, budget.epochs, budget.batch_size, name=name,
                             folder=folder, **train_options)
    record = save_run(name, model, history, dataset, folder, seconds)
    TRAINED_HERE.add(name)
    return Run(name, model, record)


def params_text(build: Callable[[tuple], Any], input_shape: tuple) -> str:
    count = build(tuple(input_shape)).count_params()
    return f"{'x'.join(str(d) for d in input_shape)} input: {count:,} parameters"


def evaluate(model, images: np.ndarray, labels: np.ndarray, batch_size: int = 250) -> float:
    """Accuracy of ``model`` on the given images (no training-mode layers)."""
    probs = model.predict(images, batch_size=batch_size, verbose=0)
    return float(np.mean(np.argmax(probs, axis=-1) == labels))
