"""Figures of notebook 05: each draws what the counting code says."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from course_utils import params, plots  # noqa: E402
from course_utils.experiments import RunResult  # noqa: E402
from course_utils.plots import separable  # noqa: E402


def _run(name, n_params, accuracy):
    return RunResult(name=name, dataset="fashion_mnist", params=n_params, trainable=n_params,
                     history={"accuracy": [accuracy], "val_accuracy": [accuracy]}, step_loss=[1.0],
                     test_accuracy=accuracy, epochs=1, seconds=0.1)


def test_connectivity_connects_only_channels_of_the_same_group():
    full = separable.connectivity(8, 16, 1)
    assert full.shape == (16, 8) and full.sum() == 8 * 16
    grouped = separable.connectivity(8, 16, 4)
    assert grouped.sum() == 8 * 16 // 4
    assert grouped[0, :2].all() and not grouped[0, 2:].any()  # output 0 reads inputs 0-1 only
    assert (separable.connectivity(8, 8, 8) == np.eye(8)).all()  # depthwise
    with pytest.raises(ValueError, match="divide"):
        separable.connectivity(6, 8, 4)


def test_channel_connectivity_has_one_panel_per_layer_plus_depthwise_and_pointwise():
    fig = plots.plot_channel_connectivity(8, 8, groups=(1, 2))
    titles = [ax.get_title() for ax in fig.axes]
    assert len(titles) == 4 and "64 channel pairs" in titles[0] and "32 channel pairs" in titles[1]
    assert "depthwise" in titles[2] and "8 channel pairs" in titles[2]
    plt.close(fig)


def test_cost_bars_show_the_counted_parameters_and_macs():
    fig = plots.plot_conv_costs(16, 32, 3, size=8)
    heights = sorted(round(p.get_height()) for p in fig.axes[0].patches)
    c = params.compare_standard_vs_separable(16, 32, 3, size=8)
    assert heights == sorted([c.standard, c.separable, c.standard_macs, c.separable_macs])
    assert "0.142" in fig.axes[0].get_title()
    plt.close(fig)


def test_reduction_dots_lie_on_the_mobilenet_curve():
    fig = plots.plot_reduction_factor(kernels=(3, 5), n_values=(8, 64, 512))
    dots = [line for line in fig.axes[0].lines if line.get_marker() == "o" and len(line.get_xdata())]
    assert len(dots) == 2
    for dots_k, k in zip(dots, (3, 5)):
        n = np.asarray(dots_k.get_xdata(), dtype=float)
        assert np.allclose(dots_k.get_ydata(), 1 / n + 1 / k**2)
    plt.close(fig)


def test_spatially_separable_two_passes_equal_one():
    image = np.random.default_rng(0).random((12, 12))
    fig = plots.plot_spatially_separable([1, 2, 1], [-1, 0, 1], image)
    difference = fig.axes[4].images[0].get_array()
    assert difference.shape == (10, 10) and np.abs(difference).max() < 1e-12
    assert "3x1 then 1x3" in fig.axes[3].get_title()
    plt.close(fig)


def test_accuracy_vs_params_draws_one_series_per_kind():
    runs = [_run("standard w8", 1000, 0.7), _run("standard w16", 4000, 0.8),
            _run("separable w8", 300, 0.6), _run("separable w16", 900, 0.75)]
    fig = plots.plot_accuracy_vs_params(runs)
    ax = fig.axes[0]
    series = {line.get_label(): line for line in ax.lines}
    assert set(series) == {"standard", "separable"}
    assert list(series["separable"].get_xdata()) == [300, 900]
    assert ax.get_xscale() == "log" and "Fashion-MNIST" in ax.get_title()
    plt.close(fig)


def test_a_figure_given_an_axis_draws_into_it_and_one_without_makes_its_own():
    fig, (left, right) = plt.subplots(1, 2)
    assert plots.separable.plot_conv_costs(16, 32, 3, ax=right) is fig
    assert right.patches and not left.patches  # the bars are in the axis it was given
    own = plots.separable.plot_conv_costs(16, 32, 3)
    assert own is not fig and len(own.axes) == 1 and tuple(own.get_size_inches()) == (6, 3.2)
    plt.close("all")
