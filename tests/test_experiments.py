"""The small training experiments of notebooks 05 and 06."""

from __future__ import annotations

import numpy as np
import pytest

from course_utils import config, experiments


def test_small_cnn_variants_differ_only_where_asked(keras):
    shape = (28, 28, 1)
    standard = experiments.small_cnn(shape, width=8)
    separable = experiments.small_cnn(shape, width=8, conv="separable")
    assert [type(l).__name__ for l in separable.layers].count("SeparableConv2D") == 3
    assert type(separable.get_layer("stem")).__name__ == "Conv2D"  # the stem stays standard
    assert separable.count_params() < standard.count_params() / 3
    before = experiments.small_cnn(shape, width=8, batchnorm="before_relu")
    after = experiments.small_cnn(shape, width=8, batchnorm="after_relu")
    names = [l.name for l in before.layers]
    assert names.index("block1_bn") < names.index("block1_relu")
    names = [l.name for l in after.layers]
    assert names.index("block1_relu") < names.index("block1_bn")
    assert before.count_params() == after.count_params() == standard.count_params() + 4 * (8 + 16 + 32 + 32)
    regularised = experiments.small_cnn(shape, width=8, dropout=0.3, weight_decay=1e-4)
    assert "dropout" in [l.name for l in regularised.layers]
    assert regularised.get_layer("stem").kernel_regularizer is not None
    with pytest.raises(ValueError, match="conv"):
        experiments.small_cnn(shape, conv="dilated")
    with pytest.raises(ValueError, match="batchnorm"):
        experiments.small_cnn(shape, batchnorm="everywhere")


def test_augmentation_is_the_identity_at_inference(keras):
    images = np.random.default_rng(0).random((3, 16, 16, 1)).astype("float32")
    layers = experiments.augmentation(seed=1)
    assert np.allclose(keras.ops.convert_to_numpy(layers(images, training=False)), images)
    assert not np.allclose(keras.ops.convert_to_numpy(layers(images, training=True)), images)


@pytest.mark.slow
def test_fit_model_is_seeded_and_records_curves_and_probes():
    budget = config.Budget(epochs=1, batch_size=64, train_size=200, test_size=64)
    data = experiments.load_data(budget, "fashion_mnist")
    assert data.x_train.shape == (200, 28, 28, 1) and data.title == "Fashion-MNIST"
    assert experiments.load_data(budget, "fashion-mnist") is data  # cached

    def build():
        return experiments.small_cnn(data.input_shape, width=4, batchnorm="before_relu")

    probed = experiments.fit_model("probed", build, data, budget, probe="block2_relu", probe_points=2)
    plain = experiments.fit_model("plain", build, data, budget)
    assert probed.history == plain.history  # same seed, and probing changes nothing
    assert probed.dataset == "fashion_mnist" and probed.params == build().count_params()
    assert len(probed.history["val_accuracy"]) == 1 and probed.test_accuracy == probed.history["val_accuracy"][-1]
    # the per-step losses average back to Keras' epoch loss (batches of 64, 64, 64, 8)
    assert len(probed.step_loss) == 4
    assert np.isclose(np.average(probed.step_loss, weights=[64, 64, 64, 8]), probed.history["loss"][0], rtol=1e-4)
    p = probed.probe
    assert p["layer"] == "block2_relu" and p["mean"].shape == (len(p["steps"]), 16) and p["steps"][0] == 0
    table = experiments.results_table([probed, plain])
    assert list(table["run"]) == ["probed", "plain"] and "test accuracy" in table


def test_cross_entropy_and_accuracy_in_inference_mode_on_logits_and_on_probabilities(keras):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((50, 4)).astype("float32")
    y = rng.integers(0, 3, 50)
    kernel, bias = rng.standard_normal((4, 3)), rng.standard_normal(3)

    def model(activation, dropout):
        net = keras.Sequential([keras.Input((4,)), keras.layers.Dropout(dropout),
                                keras.layers.Dense(3, activation=activation,
                                                   kernel_regularizer=keras.regularizers.L2(1.0))])
        net.layers[-1].set_weights([kernel, bias])
        return net

    logits = x @ kernel + bias
    expected_loss = float(keras.losses.SparseCategoricalCrossentropy(from_logits=True)(y, logits))
    expected_accuracy = np.mean(logits.argmax(axis=1) == y)
    for activation in (None, "softmax"):  # dropout off and no penalty in the loss
        loss, accuracy = experiments.cross_entropy_and_accuracy(model(activation, 0.9), x, y, batch_size=16)
        assert np.isclose(loss, expected_loss, rtol=1e-5) and accuracy == expected_accuracy


def test_results_table_with_data_re_evaluates_both_splits(keras):
    rng = np.random.default_rng(1)
    data = experiments.Data("fashion_mnist", rng.standard_normal((40, 4)).astype("float32"), rng.integers(0, 3, 40),
                            rng.standard_normal((30, 4)).astype("float32"), rng.integers(0, 3, 30))
    net = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    run = experiments.RunResult(name="r", dataset="fashion_mnist", params=15, trainable=15,
                                history={"accuracy": [0.0], "val_accuracy": [0.0]}, step_loss=[],
                                test_accuracy=0.0, epochs=1, seconds=1.0, model=net)
    assert list(experiments.results_table([run]).columns) == ["run", "params", "train accuracy", "test accuracy",
                                                               "seconds"]  # unchanged without data
    row = experiments.results_table([run], digits=4, data=data).iloc[0]
    train = experiments.cross_entropy_and_accuracy(net, data.x_train, data.y_train)
    test = experiments.cross_entropy_and_accuracy(net, data.x_test, data.y_test)
    assert row["train accuracy"] == round(train[1], 4) and row["test accuracy"] == round(test[1], 4)
    assert row["train loss"] == round(train[0], 4) and row["test loss"] == round(test[0], 4)
    assert row["accuracy gap"] == round(train[1] - test[1], 4) and row["loss gap"] == round(test[0] - train[0], 4)


def test_fit_segmenter_trains_per_pixel_and_scores_the_test_scenes(keras):
    from course_utils import models

    # a task a 3x3 network learns at once: a pixel is class 1 where its red channel is above 0.5
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 1, (48, 8, 8, 3)).astype("float32")
    masks = (images[..., 0] > 0.5).astype("uint8")
    train, test = (images[:32], masks[:32]), (images[32:], masks[32:])
    net = models.dense_predictor(2, widths=(8,), seed=0)
    run = experiments.fit_segmenter("r", net, train, test, config.Budget(epochs=30, batch_size=8), learning_rate=1e-2)
    # the scores are those of the network's own argmax, scored independently of the helper
    predicted = net.predict(test[0], verbose=0).argmax(-1)
    np.testing.assert_array_equal(run.predicted, predicted)
    right = predicted == test[1]
    assert run.scores["pixel_accuracy"] == pytest.approx(right.mean())
    iou = [np.sum((predicted == c) & (test[1] == c)) / np.sum((predicted == c) | (test[1] == c)) for c in (0, 1)]
    assert run.scores["mean_iou"] == pytest.approx(np.mean(iou))
    # Keras' accuracy on the validation scenes is the pixel accuracy; and the task was learnt
    assert run.history["val_accuracy"][-1] == pytest.approx(right.mean(), abs=1e-6)
    assert run.scores["pixel_accuracy"] > 0.9 > max(test[1].mean(), 1 - test[1].mean())
    assert (run.epochs, run.params, len(run.history["loss"])) == (30, net.count_params(), 30)
    table = experiments.segmentation_table([run], ["off", "on"])
    assert list(table.columns) == ["params", "pixel accuracy", "mean IoU", "IoU off", "IoU on", "seconds"]
    assert table.loc["r", "IoU on"] == round(iou[1], 3) and table.loc["r", "mean IoU"] == round(np.mean(iou), 3)
    scores, again = experiments.score_segmenter(net, *test)
    np.testing.assert_array_equal(again, predicted)
    assert scores["mean_iou"] == run.scores["mean_iou"]
