"""Figures of notebook 08."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from course_utils import plots  # noqa: E402
from course_utils.plots import architectures as P  # noqa: E402


def test_figures_draw():
    rng = np.random.default_rng(0)
    images = rng.uniform(size=(3, 16, 16, 3))
    masks = rng.integers(0, 4, (3, 16, 16))
    figs = [
        P.plot_architecture_costs(pd.DataFrame({"network": ["a", "b"], "params": [10, 1000], "macs": [100, 1e6]})),
        P.plot_dense_block_growth(24, 12, 4),
        P.plot_segmentation_examples(images, masks, class_names=["bg", "a", "b", "c"], n=2),
        P.plot_segmentation_examples(images, masks, masks, n=5),
        P.plot_classical_segmentation(images[0], (3, 4), masks[0] > 1, masks[0]),
        P.plot_coarse_masks(masks[0], {32: masks[1], 8: masks[2]}),
        P.plot_shift_and_stitch({(0, 0): np.ones((2, 2)), (0, 1): np.ones((2, 1)), (1, 0): np.ones((1, 2)),
                                 (1, 1): np.ones((1, 1))}, np.ones((3, 3)), 2),
    ]
    for fig in figs:
        assert isinstance(fig, matplotlib.figure.Figure)
        plt.close(fig)
    assert len(figs[3].axes) == 9  # n=5 asked, 3 images given: 3 x (image, truth, prediction)
    assert plots.plot_dense_block_growth is P.plot_dense_block_growth


def test_segmentation_examples_draw_one_row_per_network_in_order():
    rng = np.random.default_rng(0)
    images, masks = rng.uniform(size=(2, 8, 8, 3)), rng.integers(0, 4, (2, 8, 8))
    first, second = (masks + 1) % 4, (masks + 2) % 4
    fig = P.plot_segmentation_examples(images, masks, {"without": first, "with": second}, n=2)
    labels = [ax.get_ylabel() for ax in fig.axes[::2]]
    assert labels == ["image", "true mask", "without", "with"]
    assert np.array_equal(fig.axes[4].images[0].get_array(), first[0])
    assert np.array_equal(fig.axes[6].images[0].get_array(), second[0])
    plt.close(fig)


def test_training_error_panels_plot_one_minus_training_accuracy():
    from course_utils.experiments import RunResult

    def run(name, accuracy):
        return RunResult(name=name, dataset="fashion_mnist", params=1, trainable=1,
                         history={"accuracy": accuracy, "val_accuracy": accuracy}, step_loss=[],
                         test_accuracy=accuracy[-1], epochs=len(accuracy), seconds=0.0)

    fig = plots.plot_training_error({"plain": [run("plain8", [0.5, 0.75]), run("plain20", [0.25, 0.5])],
                                     "residual": [run("resnet8", [0.5, 0.875])]})
    plain, residual = fig.axes
    assert plain.get_title() == "plain" and len(plain.lines) == 2 and len(residual.lines) == 1
    assert np.allclose(plain.lines[1].get_ydata(), [0.75, 0.5])
    assert [t.get_text() for t in residual.get_legend().get_texts()] == ["resnet8: 0.125"]
    assert plain.get_shared_y_axes().joined(plain, residual)
    plt.close(fig)
