"""The one Keras training loop (course_utils.training), checked by what the trained model does."""

from __future__ import annotations

import numpy as np
import pytest

from course_utils import training


@pytest.fixture(scope="module")
def keras():
    import keras

    return keras


def _toy(n: int, seed: int):
    """Two classes told apart by the brightness of an image's first pixel."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 1, (n, 4, 4, 1)).astype("float32")
    return x, (x[:, 0, 0, 0] > 0.5).astype("int32")


def _linear(keras):
    keras.utils.set_random_seed(0)
    return keras.Sequential([keras.Input((4, 4, 1)), keras.layers.Flatten(),
                             keras.layers.Dense(2, activation="softmax")])


def _accuracy(model, data) -> float:
    x, y = data
    return float(np.mean(model.predict(x, verbose=0).argmax(axis=1) == y))


def test_the_returned_model_holds_the_best_epoch_not_the_last(keras, tmp_path):
    """The last epoch climbs the loss (a negative learning rate); the weights returned are those of the
    epoch with the best validation accuracy, measured again on the returned model."""
    train, val = _toy(512, 0), _toy(256, 1)
    model = _linear(keras)
    training.compile_classifier(model, 0.05)
    fit = training.fit(model, train, val, epochs=4, batch_size=32, schedule=lambda e: 0.05 if e < 3 else -0.5,
                       best_weights=tmp_path / "best.weights.h5")
    accuracies = fit.history["val_accuracy"]
    assert fit.epochs == 4 and accuracies[-1] < max(accuracies) - 0.1  # the wreck happened
    assert _accuracy(model, val) == pytest.approx(max(accuracies), abs=1 / 256)


def test_the_schedule_sets_the_rate_of_each_epoch(keras):
    rates = []

    class Record(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            rates.append(float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)))

    model = _linear(keras)
    training.compile_classifier(model)
    training.fit(model, _toy(64, 0), _toy(32, 1), epochs=3, batch_size=32,
                 schedule=lambda e: 0.1 / (e + 1), callbacks=[Record()])
    np.testing.assert_allclose(rates, [0.1, 0.05, 0.1 / 3], rtol=1e-6)


def test_augmentation_reaches_training_batches_only(keras):
    """Augmentation that blanks every training image leaves nothing to learn from, and the
    model is returned without it (its predictions are its own)."""

    @keras.saving.register_keras_serializable(package="tests")
    class Blank(keras.layers.Layer):
        def call(self, x, training=None):
            return x * 0.0 if training else x

    train, val = _toy(512, 0), _toy(256, 1)
    plain, blanked = _linear(keras), _linear(keras)
    for model, augment in ((plain, None), (blanked, Blank())):
        training.compile_classifier(model, 0.1)
        training.fit(model, train, val, epochs=5, batch_size=32, augment=augment)
    assert _accuracy(plain, val) > 0.85
    assert _accuracy(blanked, val) < 0.7  # learned from blank images: a guess
    assert [type(layer).__name__ for layer in blanked.layers] == ["Flatten", "Dense"]

