"""The course's one Keras training loop.

Every Keras network the course trains goes through :func:`fit`: the experiments of
notebooks 03, 05 and 06 (:func:`course_utils.experiments.fit_model`) and assignment A3's
runs (:func:`course_utils.a3_runs.train`). It takes a model compiled by
:func:`compile_classifier`, arrays for training and validation, and a budget in epochs and
batch size, and adds what those callers need on top of ``model.fit``: augmentation applied
to training batches only, a learning-rate schedule, and keeping the weights of the epoch
with the best validation accuracy. (The numpy twin of notebook 03 trains with its own
numpy Adam: :func:`course_utils.numpy_net.train_numpy`.)

Example::

    from course_utils import training
    training.compile_classifier(model, from_logits=True)
    result = training.fit(model, (x_train, y_train), (x_test, y_test), epochs=3, batch_size=128)
    result.history["val_accuracy"][-1], result.seconds
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

__all__ = ["Fit", "compile_classifier", "fit"]


@dataclass
class Fit:
    """What :func:`fit` returns: the per-epoch history (floats) and the seconds ``fit`` took."""

    history: dict[str, list[float]]
    seconds: float

    @property
    def epochs(self) -> int:
        return len(next(iter(self.history.values()), []))


def compile_classifier(model, learning_rate: float = 1e-3, from_logits: bool = False) -> None:
    """Adam and sparse categorical cross-entropy (on logits or on probabilities), with accuracy."""
    import keras

    model.compile(optimizer=keras.optimizers.Adam(learning_rate),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=from_logits),
                  metrics=["accuracy"])


def _best_weights_callback(model, path: Path):
    """Saves ``model``'s weights to ``path`` after each epoch whose validation accuracy beats
    every earlier one (the model, not the augmented wrapper that :func:`fit` trains)."""
    import keras

    class BestWeights(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.best = -np.inf

        def on_epoch_end(self, epoch, logs=None):
            accuracy = float((logs or {}).get("val_accuracy", -np.inf))
            if accuracy > self.best:
                self.best = accuracy
                model.save_weights(str(path))

    return BestWeights()


def fit(model, train: tuple[np.ndarray, np.ndarray], validation: tuple[np.ndarray, np.ndarray], *,
        epochs: int, batch_size: int, augment=None, schedule: Callable[[int], float] | None = None,
        best_weights: str | Path | None = None, callbacks: Sequence = (), verbose: int = 0) -> Fit:
    """Train the compiled ``model`` on ``train`` for ``epochs``, shuffled every epoch.

    ``augment``: layers applied to each training batch, in training only (the model is
    trained behind them; it is itself unchanged and evaluated without them).
    ``schedule(epoch) -> learning rate``: replaces the optimiser's rate at each epoch.
    ``best_weights``: a ``.weights.h5`` path; the weights of the epoch with the best
    validation accuracy are saved there and are the model's weights when ``fit`` returns.
    ``callbacks`` are passed to ``model.fit`` (their ``self.model`` is the trained model,
    the augmented wrapper when there is one).
    """
    import keras

    x, y = train
    trained = model
    if augment is not None:
        trained = keras.Sequential([keras.Input(x.shape[1:]), augment, model], name=f"{model.name}_augmented")
        trained.compile(optimizer=model.optimizer, loss=model.loss, metrics=["accuracy"])
    hooks = []  # the schedule first: the callers' callbacks see each epoch's rate
    if schedule is not None:
        hooks.append(keras.callbacks.LearningRateScheduler(lambda epoch, _rate: schedule(epoch)))
    if best_weights is not None:
        hooks.append(_best_weights_callback(model, Path(best_weights)))
    hooks += list(callbacks)
    start = time.perf_counter()
    result = trained.fit(x, y, batch_size=batch_size, epochs=epochs, shuffle=True, validation_data=validation,
                         callbacks=hooks, verbose=verbose)
    seconds = time.perf_counter() - start
    if best_weights is not None:
        model.load_weights(str(best_weights))
    history = {k: [float(v) for v in values] for k, values in result.history.items() if k != "learning_rate"}
    return Fit(history, seconds)
