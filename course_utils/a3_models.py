"""Assignment A3: the base network and the reference depthwise-separable network.

The saved runs (weights + history) that the grader evaluates, and their training,
are in :mod:`course_utils.a3_runs`; their names are re-exported here, so that the
notebook uses one module.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from course_utils.a3_runs import (TRAINED_HERE, Run, autograding, compile_model, history_path,  # noqa: F401
                                  load_history, report, save_run, train, train_or_load, weights_path)

__all__ = [
    "BASE_PARAMS_CIFAR10", "Run", "TRAINED_HERE", "build_base", "build_reference", "compile_model", "history_path",
    "weights_path",
    "train", "save_run", "load_history", "train_or_load", "autograding", "report",
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


def params_text(build: Callable[[tuple], Any], input_shape: tuple) -> str:
    count = build(tuple(input_shape)).count_params()
    return f"{'x'.join(str(d) for d in input_shape)} input: {count:,} parameters"


def evaluate(model, images: np.ndarray, labels: np.ndarray, batch_size: int = 128) -> float:
    """Accuracy of ``model`` on the given images (inference mode: dropout off, batch
    normalisation with its moving statistics).

    On TensorFlow the model runs as one traced function over batches of ``batch_size``:
    the same numbers as ``model.predict`` (to rounding), in about half its time on a
    CPU (``benchmarks/bench_a3_grading.py``). Small batches keep the first layers'
    activations in the cache: on 10,000 28x28 images, batches of 128 take 0.88x the CPU
    time of batches of 500 for the base network and 0.67x for the reference solution,
    with the same accuracy (``benchmarks/bench_evaluate.py``, results/evaluate.md)."""
    keras = _keras()
    if keras.backend.backend() != "tensorflow":
        probs = model.predict(images, batch_size=batch_size, verbose=0)
        return float(np.mean(np.argmax(probs, axis=-1) == labels))
    import tensorflow as tf

    forward = tf.function(lambda batch: tf.argmax(model(batch, training=False), axis=-1), reduce_retracing=True)
    right = 0
    for start in range(0, len(images), batch_size):
        guess = forward(tf.constant(images[start:start + batch_size])).numpy()
        right += int(np.sum(guess == np.asarray(labels[start:start + batch_size]).reshape(-1)))
    return right / len(images) if len(images) else float("nan")
