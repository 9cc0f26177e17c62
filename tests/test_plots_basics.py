"""Figures and worked equations of notebook 01."""

from __future__ import annotations

import math

import matplotlib
import matplotlib.patches

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from numpy.lib.stride_tricks import sliding_window_view  # noqa: E402

from course_utils import arithmetic, plots  # noqa: E402
from course_utils.plots import basics  # noqa: E402

#: The worked example of the course notes (seed 001): input, kernel (the subscripts), printed output.
SEED_INPUT = np.array([[2, 2, 3, 3, 3], [0, 1, 3, 0, 3], [2, 3, 0, 1, 3], [3, 3, 2, 1, 2], [3, 3, 0, 2, 3]])
SEED_KERNEL = np.array([[2, 0, 1], [1, 0, 0], [0, 1, 1]])
SEED_PRINTED = np.array([[1, 6, 5], [7, 10, 9], [7, 10, 8]])


def _brute_force(x, w, stride, padding):
    """Cross-correlation by its definition, without course_utils."""
    windows = sliding_window_view(np.pad(x, padding), w.shape)[::stride, ::stride]
    return (windows * w).sum(axis=(-1, -2))


def _evaluate(equation: str) -> tuple[int, float]:
    """``'3 = (5 + 2*1 - 3)/2 + 1'`` -> (3, value of the right-hand side)."""
    lhs, rhs = equation.split("   with")[0].split(" = ", 1)
    return int(lhs), eval(rhs.replace("floor(", "math.floor("), {"math": math})


def test_the_three_worked_lines_of_the_notes():
    assert [basics.output_size_equation(*args) for args in [(3, 3, 1, 0), (3, 3, 1, 1), (5, 3, 2, 1)]] == [
        "1 = (3 + 2*0 - 3)/1 + 1", "3 = (3 + 2*1 - 3)/1 + 1", "3 = (5 + 2*1 - 3)/2 + 1"]


@pytest.mark.parametrize("n", [1, 4, 5, 6, 9, 12])
@pytest.mark.parametrize("k,s,p,d", [(1, 1, 0, 1), (3, 1, 0, 1), (3, 2, 1, 1), (4, 3, 2, 1), (3, 1, 2, 2),
                                     (2, 2, "same", 1), (3, 2, "valid", 1), (5, 3, (1, 2), 1)])
def test_the_written_equation_evaluates_to_its_result_and_to_the_arithmetic(n, k, s, p, d):
    try:
        expected = arithmetic.conv_output_size(n, k, s, p, d)
    except ValueError:
        with pytest.raises(ValueError):
            basics.output_size_equation(n, k, s, p, d)
        return
    equation = basics.output_size_equation(n, k, s, p, d)
    result, value = _evaluate(equation)
    assert result == value == expected
    left, right = arithmetic.padding_pair(n, k, s, p, d)
    assert ("floor" in equation) == ((n + left + right - arithmetic.effective_kernel(k, d)) % s != 0)
    assert ("k_eff" in equation) == (d != 1)


def test_result_last_and_asymmetric_padding():
    assert basics.output_size_equation(5, 3, 2, 1, result_first=False) == "(5 + 2*1 - 3)/2 + 1 = 3"
    assert basics.output_size_equation(8, 3, 2, "same") == "4 = (8 + (0 + 1) - 3)/2 + 1"


def test_seed_example_figure_shows_the_kernel_as_subscripts_and_the_computed_output():
    fig = basics.plot_conv_step(SEED_INPUT, SEED_KERNEL, stride=2, padding=1, position=(0, 1))
    inp, _, kern, _, out = fig.axes
    texts = [t.get_text() for t in inp.texts]
    assert texts[:9] == ["0", "0", "0$_{2}$", "0$_{0}$", "0$_{1}$", "0", "0", "0", "2"]
    assert sum("$_{" in t for t in texts) == 9  # the whole window, nothing else
    expected = _brute_force(SEED_INPUT, SEED_KERNEL, 2, 1)
    assert [float(t.get_text()) for t in out.texts] == expected.ravel().tolist()
    assert [float(t.get_text()) for t in kern.texts] == SEED_KERNEL.ravel().tolist()
    plt.close(fig)


def test_the_notes_printed_output_is_the_stride_1_corner():
    """The slip of seed 001 (conv_arithmetic issue 17): kept as a fact the notebook shows."""
    assert not np.array_equal(_brute_force(SEED_INPUT, SEED_KERNEL, 2, 1), SEED_PRINTED)
    assert np.array_equal(_brute_force(SEED_INPUT, SEED_KERNEL, 1, 1)[:3, :3], SEED_PRINTED)


def test_plot_conv_step_rejects_bad_arguments():
    with pytest.raises(ValueError, match="outside the 3x3 output"):
        basics.plot_conv_step(SEED_INPUT, SEED_KERNEL, stride=2, padding=1, position=(3, 0))
    with pytest.raises(ValueError, match="one channel"):
        basics.plot_conv_step(SEED_INPUT[None], SEED_KERNEL)


@pytest.mark.parametrize("n,k,s,p,d", [(7, 3, 1, 0, 1), (7, 3, 1, 1, 1), (7, 1, 2, 0, 1), (7, 3, 2, 1, 1),
                                       (8, 2, 3, 0, 1), (9, 3, 1, 0, 2)])
def test_coverage_counts_the_windows_that_read_each_pixel(n, k, s, p, d):
    counts = np.zeros((n + 2 * p, n + 2 * p), dtype=int)
    m = arithmetic.conv_output_size(n, k, s, p, d)
    for y in range(m):
        for x in range(m):
            counts[y * s: y * s + d * (k - 1) + 1: d, x * s: x * s + d * (k - 1) + 1: d] += 1
    assert np.array_equal(basics.coverage_map(n, k, s, p, d), counts[p: p + n, p: p + n])


def test_a_stride_larger_than_the_kernel_leaves_pixels_unread():
    counts = basics.coverage_map(7, 1, 2)
    assert counts.sum() == 16 and (counts == 0).sum() == 49 - 16


def test_figures_are_exported_and_draw():
    fig = plots.plot_coverage({"a": dict(k=3), "b": dict(k=1, s=2)}, n=5)
    assert len(fig.axes) == 2 and "5x5 -> 3x3" in fig.axes[1].get_title()
    plt.close(fig)
    assert plots.output_size_equation is basics.output_size_equation


def test_sliding_window_marks_the_taps_of_the_chosen_unit():
    fig = basics.plot_sliding_window(7, 3, s=2, p=1, d=2, unit=(1, 0))
    ax_in, ax_out = fig.axes
    cells = ax_in.images[0].get_array()
    border = np.ones((9, 9), bool)
    border[1:8, 1:8] = False
    assert cells.shape == (9, 9) and np.all(np.isin(cells[border], [1, 2])) and np.all(cells[~border] != 1)
    taps = np.argwhere(cells == 2)
    assert taps.tolist() == [[r, c] for r in (2, 4, 6) for c in (0, 2, 4)]  # rows from 1*2, 2 apart
    window = [p for p in ax_in.patches if isinstance(p, matplotlib.patches.Rectangle)][0]
    assert (window.get_x(), window.get_y(), window.get_width()) == (-0.5, 1.5, 5)
    out = ax_out.images[0].get_array()
    m = arithmetic.conv_output_size(7, 3, 2, 1, 2)
    assert out.shape == (m, m) and np.argwhere(out == 4).tolist() == [[1, 0]]
    plt.close(fig)
    with pytest.raises(ValueError, match="outside"):
        basics.plot_sliding_window(5, 3, 2, 1, unit=(3, 0))
