"""A3's networks, saved runs and rubric checks, on small Keras models (no grading batch)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from course_utils import a3_models, a3_runs
from course_utils.checks import CheckFailed
from course_utils.grading import a3


@pytest.fixture(scope="module")
def L(keras):
    return keras.layers


def test_base_network_has_the_sources_parameter_count_on_cifar10_shapes():
    cifar = a3_models.build_base((32, 32, 3)).count_params()
    fashion = a3_models.build_base((28, 28, 1)).count_params()
    print(f"base network: 32x32x3 {cifar:,} parameters, 28x28x1 {fashion:,} parameters")
    # by hand: per block a "same" and a "valid" 3x3 conv (k*k*c_in*c_out + c_out), 2x2 pooling
    expected, channels, size = 0, 3, 32
    for filters in (48, 96, 192):
        expected += 9 * channels * filters + filters + 9 * filters * filters + filters
        channels, size = filters, (size - 2) // 2
    for units in (512, 256, 10):
        fan_in = size * size * channels if units == 512 else channels
        expected += fan_in * units + units
        channels = units
    assert cifar == expected == a3_models.BASE_PARAMS_CIFAR10
    assert fashion < cifar


@pytest.mark.parametrize("shape", [(32, 32, 3), (28, 28, 1)])
def test_reference_is_separable_only_with_bn_under_100k(shape, capsys):
    build = a3_models.build_reference
    a3.check_separable_only(build, shape)
    a3.check_params(build, shape)
    a3.check_bn_dropout(build, shape)
    model = build(shape)
    first = [l for l in model.layers if "Conv" in type(l).__name__][0]
    assert type(first).__name__ == "SeparableConv2D"
    assert model.count_params() < 100_000
    assert "correct" in capsys.readouterr().out


def _functional(keras, *middle):
    x = inputs = keras.Input((16, 16, 3))
    x = keras.layers.SeparableConv2D(8, 3, padding="same", name="sep")(x)
    for layer in middle:
        x = layer(x)
    return keras.Model(inputs, x)


def test_forbidden_layers_finds_conv2d_wrapped_in_a_custom_layer_and_a_renamed_subclass(keras, L):
    class Wrapper(L.Layer):
        def __init__(self, **kw):
            super().__init__(**kw)
            self.inner = L.Conv2D(4, 3, padding="same", name="hidden_conv")

        def call(self, x):
            return self.inner(x)

    class Separable(L.Conv2D):
        pass

    model = _functional(keras, Wrapper(name="wrapper"), Separable(4, 3, name="fake_sep"),
                        L.DepthwiseConv2D(3, name="dw"), L.Conv2DTranspose(4, 3, name="up"))
    bad = a3.forbidden_layers(model)
    assert any(b.startswith("hidden_conv (Conv2D") for b in bad)
    assert "fake_sep (Separable, a Conv2D)" in bad
    assert any(b.startswith("up (Conv2DTranspose") for b in bad)
    assert not any(b.startswith(("sep ", "dw ")) for b in bad)


def test_a_custom_layer_owning_a_4d_kernel_is_a_convolution(keras, L):
    import tensorflow as tf

    class RawConv(L.Layer):
        def build(self, shape):
            self.kernel = self.add_weight(shape=(3, 3, shape[-1], 4))

        def call(self, x):
            return tf.nn.conv2d(x, self.kernel, 1, "SAME")

    assert a3.forbidden_layers(_functional(keras, RawConv(name="raw"))) == ["raw (RawConv, owns a 4-D kernel)"]


def test_bn_and_dropout_rules(keras, L):
    def build(rate, bn=True):
        def f(shape):
            x = inputs = keras.Input(shape)
            x = L.SeparableConv2D(4, 3)(x)
            if bn:
                x = L.BatchNormalization()(x)
            x = L.Dropout(rate, name="d")(x)
            return keras.Model(inputs, L.Dense(10)(L.GlobalAveragePooling2D()(x)))
        return f

    a3.check_bn_dropout(build(0.1), (16, 16, 3))
    with pytest.raises(CheckFailed, match="no BatchNormalization"):
        a3.check_bn_dropout(build(0.1, bn=False), (16, 16, 3))
    with pytest.raises(CheckFailed, match=r"d \(rate 0.7\)"):
        a3.check_bn_dropout(build(0.7), (16, 16, 3))


#: The reference network's rows for a 32x32x3 input, worked out by hand (size: "same"
#: convolutions keep it, each 2x2 pooling halves it; channels: the filters, a pooling keeps
#: its input's; rf: + 2 x jump per 3x3 convolution, + 1 x jump per 2x2 pooling, whose jump doubles).
REFERENCE_ROWS = {
    "sep1a": (32, 32, 3), "sep1b": (32, 32, 5), "pool1": (16, 32, 6),
    "sep2a": (16, 64, 10), "sep2b": (16, 64, 14), "pool2": (8, 64, 16),
    "sep3a": (8, 128, 24), "sep3b": (8, 128, 32), "sep_head": (8, 256, 40),
}


def test_rf_table_names_each_wrong_row_with_the_right_value():
    build = a3_models.build_reference
    model = build((32, 32, 3))
    right = a3.expected_rf_rows(model, required_only=True)
    assert right == REFERENCE_ROWS
    # the required rows are the convolutions and poolings, by Keras class
    windows = {layer.name for layer in model.layers
               if type(layer).__name__ in ("SeparableConv2D", "DepthwiseConv2D", "MaxPooling2D", "AveragePooling2D")}
    assert windows and set(right) == windows
    a3.check_rf_table(REFERENCE_ROWS, build, (32, 32, 3))
    wrong = dict(REFERENCE_ROWS, sep2a=(16, 64, 8), sep1b=(32, 16, 5))
    del wrong["pool2"]
    with pytest.raises(CheckFailed) as err:
        a3.check_rf_table(wrong, build, (32, 32, 3))
    text = str(err.value)
    assert "sep2a: stated (16, 64, 8), right (16, 64, 10)" in text
    assert "sep1b: stated (32, 16, 5), right (32, 32, 5)" in text
    assert "pool2: missing (output 8x8x64, receptive field 16)" in text
    assert "3 row(s) wrong" in text
    # optional rows (BN, ReLU) are checked when given
    with pytest.raises(CheckFailed, match="sep1a_bn"):
        a3.check_rf_table(dict(REFERENCE_ROWS, sep1a_bn=(32, 32, 1)), build, (32, 32, 3))
    # a row of the first edition's form (size, rf) says what a row holds
    with pytest.raises(CheckFailed, match=r"row 'sep1a': expected \(output size, output channels, "
                                          r"receptive field\), got \(32, 3\)"):
        a3.check_rf_table(dict(REFERENCE_ROWS, sep1a=(32, 3)), build, (32, 32, 3))


def test_rf_table_of_a_model_with_an_unknown_layer_fails_as_a_check(keras, L):
    class Mystery(L.Layer):
        def call(self, x):
            return x

    def build(shape):
        x = inputs = keras.Input(shape)
        x = Mystery(name="mystery")(L.SeparableConv2D(4, 3)(x))
        return keras.Model(inputs, L.Dense(10)(L.GlobalAveragePooling2D()(x)))

    with pytest.raises(CheckFailed, match="'mystery'.*cannot be worked out|cannot be worked out.*'mystery'"):
        a3.check_rf_table({}, build, (16, 16, 3))


def _tiny(keras, L):
    def build(shape):
        x = inputs = keras.Input(shape)
        x = L.SeparableConv2D(4, 3, padding="same")(x)
        x = L.BatchNormalization()(x)
        return keras.Model(inputs, L.Dense(10, activation="softmax")(L.GlobalAveragePooling2D()(x)))
    return build


def test_train_or_load_saves_a_run_then_loads_it(keras, L, tmp_path, monkeypatch):
    from course_utils.config import Budget

    rng = np.random.default_rng(0)
    data = (rng.random((64, 8, 8, 1), dtype=np.float32), rng.integers(0, 10, 64))
    monkeypatch.setattr(a3_runs, "TRAINED_HERE", set())
    run = a3_models.train_or_load("tiny", _tiny(keras, L), data, data, Budget(epochs=2, batch_size=32),
                                  "fashion_mnist", tmp_path, verbose=0)
    assert not run.loaded and run.epochs == 2 and "tiny" in a3_runs.TRAINED_HERE
    record = json.loads((tmp_path / "tiny_history.json").read_text())
    assert record["dataset"] == "fashion_mnist" and record["params"] == run.model.count_params()
    assert (tmp_path / "tiny.weights.h5").exists()
    again = a3_models.train_or_load("tiny", _tiny(keras, L), data, data, Budget(epochs=2), "fashion_mnist", tmp_path)
    assert again.loaded and again.record == record
    np.testing.assert_allclose(again.model.predict(data[0], verbose=0), run.model.predict(data[0], verbose=0),
                               rtol=1e-5, atol=1e-6)


def test_under_nbgrader_a_missing_run_is_an_error_not_a_training(keras, L, tmp_path, monkeypatch):
    from course_utils.config import Budget

    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    data = (np.zeros((4, 8, 8, 1), np.float32), np.zeros(4, int))
    with pytest.raises(FileNotFoundError, match="tiny.weights.h5"):
        a3_models.train_or_load("tiny", _tiny(keras, L), data, data, Budget(epochs=1), "fashion_mnist", tmp_path)


def test_a_run_trained_while_grading_was_not_submitted(monkeypatch):
    monkeypatch.setattr(a3_runs, "TRAINED_HERE", {"separable"})
    with pytest.raises(CheckFailed, match="was not submitted"):
        a3.check_run("separable", a3_models.build_reference, "fashion_mnist", submitted=True)


def test_evaluate_counts_what_the_models_argmax_gets_right(keras, L):
    """Against an independent count: numpy's argmax of ``model.predict`` (batches that do
    not divide the images, labels given as a column too)."""
    rng = np.random.default_rng(1)
    x = rng.random((1037, 8, 8, 1), dtype=np.float32)
    y = rng.integers(0, 10, 1037)
    model = _tiny(keras, L)((8, 8, 1))
    expected = float(np.mean(np.argmax(model.predict(x, verbose=0), axis=-1) == y))
    assert a3_models.evaluate(model, x, y, batch_size=250) == pytest.approx(expected, abs=1e-12)
    assert a3_models.evaluate(model, x, y.reshape(-1, 1), batch_size=500) == pytest.approx(expected, abs=1e-12)


def test_the_run_files_are_copied_as_regular_files_and_a_link_is_named(tmp_path):
    import os

    submitted, private = tmp_path / "submitted", tmp_path / "private"
    submitted.mkdir()
    (submitted / "base.weights.h5").write_bytes(b"w" * 10)
    (submitted / "separable_history.json").write_text("{}")
    secret = tmp_path / "grader-file"
    secret.write_text("not the student's")
    os.symlink(secret, submitted / "base_history.json")
    os.mkfifo(submitted / "separable.weights.h5")
    left_out = a3.snapshot_runs(submitted, private)
    assert sorted(p.name for p in private.iterdir()) == ["base.weights.h5", "separable_history.json"]
    assert (private / "base.weights.h5").read_bytes() == b"w" * 10
    assert left_out == {"base_history.json": "a link", "separable.weights.h5": "not a regular file"}
    with a3.judging(private, left_out=left_out), pytest.raises(CheckFailed, match=r"base_history.json \(a link\)"):
        a3._load_run("base", a3_models.build_base, "fashion_mnist", private, "base run")


def test_the_base_accuracy_measured_ahead_is_used_for_the_same_file_only(tmp_path, monkeypatch):
    from concurrent.futures import Future

    weights = tmp_path / "base.weights.h5"
    weights.write_bytes(b"the submitted weights")
    ahead = Future()
    ahead.set_result(0.4242)
    failed = Future()
    failed.set_exception(RuntimeError("the thread failed"))
    monkeypatch.setattr(a3, "_PREFETCHED", {a3._accuracy_key(a3._INSTRUCTOR_BASE, weights, "fashion_mnist"): ahead})
    measured = []
    monkeypatch.setattr(a3_models, "evaluate", lambda model, x, y: measured.append(model) or 0.125)
    monkeypatch.setattr(a3, "validation_subset", lambda dataset: (None, None))
    with a3.judging(tmp_path):
        assert a3._accuracy("model", "base", tmp_path, "fashion_mnist", a3._INSTRUCTOR_BASE) == 0.4242
        assert a3._accuracy("model", "base", tmp_path, "mnist", a3._INSTRUCTOR_BASE) == 0.125  # another dataset
    weights.write_bytes(b"other weights")
    with a3.judging(tmp_path):
        assert a3._accuracy("model", "base", tmp_path, "fashion_mnist", a3._INSTRUCTOR_BASE) == 0.125
    monkeypatch.setattr(a3, "_PREFETCHED", {a3._accuracy_key(a3._INSTRUCTOR_BASE, weights, "fashion_mnist"): failed})
    with a3.judging(tmp_path):
        assert a3._accuracy("model", "base", tmp_path, "fashion_mnist", a3._INSTRUCTOR_BASE) == 0.125
    assert measured == ["model"] * 3


def _judge_beats_base(monkeypatch, base_history, base_weights_reach, separable_reach=0.75, quick=False):
    """check_beats_base on stated histories and accuracies (the runs' loading and evaluation
    are tested above)."""
    histories = {"base": base_history, "separable": [0.6, separable_reach]}
    reach = {"base": base_weights_reach, "separable": separable_reach}
    monkeypatch.setenv("COURSE_QUICK", "1" if quick else "0")
    monkeypatch.setattr(a3, "_submitted", lambda name, what: None)
    monkeypatch.setattr(a3, "validation_subset", lambda dataset: (np.zeros((10, 1)), np.zeros(10)))
    monkeypatch.setattr(a3, "_load_run", lambda name, build, dataset, folder, what: (name, {}, histories[name]))
    monkeypatch.setattr(a3, "_accuracy", lambda model, name, folder, dataset, network=None: reach[model])
    a3.check_beats_base(a3_models.build_base, a3_models.build_reference, "fashion_mnist", floor=0.0)


def test_the_base_is_judged_after_its_last_epoch_not_its_best(monkeypatch, capsys):
    # 50 epochs, best 0.80 at epoch 10, 0.70 after the last: 0.75 beats the base as Part 1 poses it
    history = [0.5] * 9 + [0.80] + [0.65] * 39 + [0.70]
    _judge_beats_base(monkeypatch, history, base_weights_reach=0.70)
    assert "0.7500 against the base's 0.7000 after its last epoch" in capsys.readouterr().out
    # the best epoch's weights with this history: they are not the weights after the last epoch
    with pytest.raises(CheckFailed, match=r"the base history ends at a validation accuracy of 0\.7000, but the "
                                          r"submitted base weights reach 0\.8000"):
        _judge_beats_base(monkeypatch, history, base_weights_reach=0.80)
    with pytest.raises(CheckFailed, match=r"it must beat the base network's 0\.7600 after its last epoch"):
        _judge_beats_base(monkeypatch, history[:-1] + [0.76], base_weights_reach=0.76)


def test_the_base_runs_exactly_the_epochs_of_the_rules_except_in_quick_mode(monkeypatch):
    from course_utils import a3_rules

    short = [0.5] * (a3_rules.MAX_EPOCHS - 30) + [0.70]
    with pytest.raises(CheckFailed, match=rf"the base run has 21 epoch\(s\); Part 1 asks for {a3_rules.MAX_EPOCHS}"):
        _judge_beats_base(monkeypatch, short, base_weights_reach=0.70)
    _judge_beats_base(monkeypatch, short, base_weights_reach=0.70, quick=True)
    with pytest.raises(CheckFailed, match="Part 1 asks for"):
        _judge_beats_base(monkeypatch, [0.70] * (a3_rules.MAX_EPOCHS + 1), base_weights_reach=0.70)


def test_the_rules_the_notebook_prints_are_the_numbers_the_grader_applies():
    from course_utils import a3_rules, config

    text = a3_rules.rules_text("fashion_mnist")
    assert f"fewer than {a3.MAX_PARAMS:,}" in text and f"exactly {a3.MAX_EPOCHS} epochs" in text
    assert f"at most {a3.DROPOUT_RANGE[1]:g}" in text and f"within {a3.TOLERANCE:.2f}" in text
    assert f"floor of {a3.FLOORS['fashion_mnist']:.2f} on Fashion-MNIST" in text
    assert f"CIFAR-10 {a3.FLOORS['cifar10']:.2f}" in text and f"{a3.QUICK_VAL_SIZE:,} of them" in text
    assert config.BUDGETS["a3"][0].epochs == a3.MAX_EPOCHS  # the full budget


def test_a_base_run_keeps_the_weights_after_its_last_epoch(keras, L, tmp_path, monkeypatch):
    from course_utils.config import Budget

    rng = np.random.default_rng(1)
    data = (rng.random((64, 8, 8, 1), dtype=np.float32), rng.integers(0, 10, 64))
    val = (rng.random((64, 8, 8, 1), dtype=np.float32), rng.integers(0, 10, 64))  # labels it cannot learn
    monkeypatch.setattr(a3_runs, "TRAINED_HERE", set())
    keras.utils.set_random_seed(0)
    run = a3_models.train_or_load("base", _tiny(keras, L), data, val, Budget(epochs=8, batch_size=16),
                                  "fashion_mnist", tmp_path, keep="last", verbose=0)
    accs = run.history["val_accuracy"]
    assert max(accs) > accs[-1] + 0.01  # the best epoch is not the last: the two weights differ
    saved = _tiny(keras, L)(data[0].shape[1:])
    saved.load_weights(str(tmp_path / "base.weights.h5"))
    assert a3_models.evaluate(saved, *val) == pytest.approx(accs[-1], abs=1e-6)
    with pytest.raises(ValueError, match="keep must be 'best' or 'last'"):
        a3_runs.train(run.model, data, data, 1, name="x", folder=tmp_path, keep="final")


def test_the_closing_summary_has_what_assignment_3_asks_for(keras, L):
    model = _tiny(keras, L)((8, 8, 1))
    base = a3_runs.Run("base", None, {"dataset": "fashion_mnist", "params": 9,
                                      "history": {"val_accuracy": [0.5, 0.8, 0.6], "loss": [1.2, 1.0, 0.9]}})
    separable = a3_runs.Run("separable", model, {"dataset": "fashion_mnist", "params": 70_000,
                                                 "history": {"val_accuracy": [0.55, 0.7]}})
    text = a3_models.report(base, separable, {"sep1a": (32, 32, 3), "pool1": (16, 32, 6)})
    assert "validation accuracy after its last epoch (epoch 3): 0.6000" in text  # the last, not the best 0.8
    assert "best validation accuracy 0.7000 at epoch 2 of 2, 70,000 parameters" in text
    assert "SeparableConv2D" in text  # Keras' summary of the network
    assert [line.split() for line in text.splitlines() if line.startswith("  sep1a") or line.startswith("  pool1")] \
        == [["sep1a", "32", "32", "3"], ["pool1", "16", "32", "6"]]
    logs = text.split("epoch by epoch):\n", 1)[1].splitlines()[2:]
    assert [line.split()[0] for line in logs] == ["1", "2", "3"]
    assert logs[2].split() == ["3", "0.9000", "0.6000"]  # base loss and val_accuracy; the separable ran 2
    assert "(no table yet)" in a3_models.report(base, separable, None)
