"""Figures and helpers of notebook 04."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import itertools  # noqa: E402

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from course_utils import arithmetic, plots  # noqa: E402


def test_insert_zeros_2d_and_nhwc():
    x = np.arange(1, 5).reshape(2, 2)
    z = plots.insert_zeros(x, 3)
    assert z.shape == (4, 4) and np.array_equal(z[::3, ::3], x) and z.sum() == x.sum()
    batch = np.ones((2, 3, 3, 4))
    assert plots.insert_zeros(batch, 2).shape == (2, 5, 5, 4)
    assert np.array_equal(plots.insert_zeros(x, 1), x)


def _overlap_by_loop(n, k, s):
    size = (n - 1) * s + k
    counts = np.zeros((size, size), dtype=int)
    for i, j in itertools.product(range(n), range(n)):
        counts[i * s:i * s + k, j * s:j * s + k] += 1
    return counts


@pytest.mark.parametrize("n,k,s", [(4, 3, 2), (3, 4, 2), (2, 2, 2), (3, 5, 3), (2, 1, 3)])
def test_overlap_map_counts_kernel_copies(n, k, s):
    counts = plots.overlap_map(n, k, s)
    assert np.array_equal(counts, _overlap_by_loop(n, k, s)[:counts.shape[0], :counts.shape[1]])
    assert counts.shape[0] == arithmetic.transposed_conv_output_size(n, k, s)


def test_overlap_with_padding_crops_the_border():
    full = plots.overlap_map(4, 3, 2)
    cropped = plots.overlap_map(4, 3, 2, p=1, output_padding=1)
    assert cropped.shape == (8, 8) and np.array_equal(cropped[:-1, :-1], full[1:-1, 1:-1][:7, :7])


def test_figures():
    x, k = np.array([[0.0, 1.0], [2.0, 3.0]]), np.array([[4.0, 1.0], [2.0, 3.0]])
    assert len(plots.plot_scatter(x, k, 2).axes) == 5
    assert len(plots.plot_zero_insertion(x, k, 2).axes) == 3
    assert len(plots.plot_overlap_maps({"a": dict(k=3, s=2), "b": dict(k=4, s=2)}).axes) == 2
    fig = plots.plot_image_row({"a": np.zeros((4, 4)), "b": np.ones((1, 4, 4, 1))})
    assert len(fig.axes) == 4  # two images and their colour bars
    assert len(plots.plot_image_row({"a": np.zeros((4, 4))}, share_scale=True).axes) == 1
    plt.close("all")
