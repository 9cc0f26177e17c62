"""Figures of notebook 06."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from course_utils import plots  # noqa: E402
from course_utils.experiments import RunResult, augmentation  # noqa: E402
from course_utils.plots import batchnorm  # noqa: E402


def _run(name, losses, accuracies, probe=None):
    return RunResult(name=name, dataset="fashion_mnist", params=10, trainable=10,
                     history={"accuracy": accuracies, "val_accuracy": accuracies}, step_loss=losses,
                     test_accuracy=accuracies[-1], epochs=len(accuracies), seconds=0.1, probe=probe)


def test_standardising_the_input_makes_the_problem_perfectly_conditioned():
    raw, standardised, y = batchnorm.normalization_problem(mean=4.0, std=2.0)
    assert np.linalg.cond(raw.T @ raw / len(raw)) > 50
    assert np.isclose(np.linalg.cond(standardised.T @ standardised / len(y)), 1.0)
    _, losses_std, optimum = batchnorm.least_squares_descent(standardised, y, steps=3)
    best = 0.5 * np.mean((standardised @ optimum - y) ** 2)
    assert losses_std[1] - best < 1e-10  # one step of the best rate solves a round bowl
    _, losses_raw, optimum = batchnorm.least_squares_descent(raw, y, steps=20)
    assert losses_raw[-1] - 0.5 * np.mean((raw @ optimum - y) ** 2) > 0.1


def test_input_normalization_figure_reports_the_condition_numbers():
    fig = plots.plot_input_normalization(steps=5)
    titles = [ax.get_title() for ax in fig.axes[:2]]
    assert "condition number 1," in titles[1] and "raw input" in titles[0]
    plt.close(fig)


def test_histograms_and_running_statistics():
    x = np.random.default_rng(0).normal(3.0, 2.0, (200, 2))
    fig = plots.plot_bn_histograms(x, (x - x.mean(0)) / x.std(0))
    assert len(fig.axes) == 2 and "mean 0.00, std 1.00" in fig.axes[1].get_legend().get_texts()[0].get_text()
    plt.close(fig)
    fig = plots.plot_running_statistics({"momentum 0.9": [0.5, 0.95]}, target=5.0)
    assert len(fig.axes[0].lines) == 2
    plt.close(fig)


def test_history_comparison_and_activation_drift():
    probe = {"layer": "block2_relu", "steps": np.arange(3), "mean": np.ones((3, 4)), "std": np.ones((3, 4))}
    runs = [_run("no BN", list(np.linspace(2, 1, 30)), [0.5, 0.6], probe),
            _run("BN", list(np.linspace(2, 0.5, 30)), [0.6, 0.7], probe)]
    fig = plots.plot_history_comparison(runs, smooth=5)
    loss_ax, accuracy_ax = fig.axes
    assert len(loss_ax.lines[0].get_ydata()) == 26  # moving average over 5 of 30 steps
    assert "BN: 0.700" in [t.get_text() for t in accuracy_ax.get_legend().get_texts()]
    plt.close(fig)
    fig = plots.plot_activation_drift(runs, channels=2)
    assert len(fig.axes) == 2 and len(fig.axes[0].lines) == 2 and "block2_relu" in fig.axes[0].get_title()
    plt.close(fig)


def test_dropout_figure_mean_of_masks_approaches_the_input():
    x = np.full((6, 6), 0.8)
    fig = plots.plot_dropout(x, rate=0.5, samples=2000)
    mean = fig.axes[2].images[0].get_array()
    assert np.abs(mean - 0.8).max() < 0.1
    assert set(np.unique(fig.axes[1].images[0].get_array())) <= {0.0, 1.6}
    assert np.array_equal(fig.axes[3].images[0].get_array(), x)
    plt.close(fig)


def test_augmented_images_grid():
    images = np.random.default_rng(0).random((2, 16, 16, 1)).astype("float32")
    fig = plots.plot_augmented_images(images, augmentation(seed=0), versions=3, titles=["a", "b"])
    assert len(fig.axes) == 2 * 4 and fig.axes[4].get_ylabel() == "b"
    plt.close(fig)


def test_generalization_gap_draws_training_solid_and_test_dashed():
    runs = [RunResult(name=name, dataset="fashion_mnist", params=10, trainable=10,
                      history={"loss": [2.0, 1.0, 0.5], "val_loss": [2.1, 1.5, 1.6],
                               "accuracy": [0.3, 0.6, train], "val_accuracy": [0.3, 0.5, 0.55]},
                      step_loss=[], test_accuracy=0.55, epochs=3, seconds=0.1)
            for name, train in (("none", 0.9), ("dropout", 0.7))]
    fig = plots.plot_generalization_gap(runs)
    loss_ax, accuracy_ax = fig.axes
    assert [l.get_linestyle() for l in loss_ax.lines] == ["-", "--", "-", "--"]
    assert list(loss_ax.lines[1].get_ydata()) == [2.1, 1.5, 1.6]  # test loss of the first run
    assert list(accuracy_ax.lines[2].get_ydata()) == [0.3, 0.6, 0.7]  # training accuracy of the second
    labels = [t.get_text() for t in accuracy_ax.get_legend().get_texts()]
    assert labels == ["none: train 0.90, test 0.55", "dropout: train 0.70, test 0.55"]
    plt.close(fig)
