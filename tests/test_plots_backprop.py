"""Figures and generated equations of notebook 07."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from course_utils import arithmetic, plots  # noqa: E402
from course_utils.ops import conv2d_backward, conv2d_forward  # noqa: E402
from course_utils.plots import backprop  # noqa: E402


def test_forward_equations_are_the_lecture_ones():
    lines = backprop.forward_equations(3, 2)
    assert [lhs for lhs, _ in lines] == ["h^{l}_{11}", "h^{l}_{12}", "h^{l}_{21}", "h^{l}_{22}"]
    assert lines[1][1] == ("w^{l}_{11} h^{l-1}_{12} + w^{l}_{12} h^{l-1}_{13} + "
                           "w^{l}_{21} h^{l-1}_{22} + w^{l}_{22} h^{l-1}_{23} + b")


def test_weight_gradient_of_w22_reads_h23_not_h33():
    rhs = dict(backprop.weight_gradient_equations(3, 2))[r"\frac{\partial E}{\partial w^{l}_{22}}"]
    assert "h^{l-1}_{23}" in rhs and rhs.count("h^{l-1}_{33}") == 1


def test_centre_pixel_meets_the_rotated_kernel():
    (_, rhs), = backprop.input_gradient_equations(3, 2, pixels=[(1, 1)])
    assert [rhs.index(f"w^{{l}}_{{{w}}}") for w in ("22", "21", "12", "11")] == sorted(
        rhs.index(f"w^{{l}}_{{{w}}}") for w in ("22", "21", "12", "11"))
    (_, corner), = backprop.input_gradient_equations(3, 2, pixels=[(0, 0)], show_zeros=True)
    assert corner.count(r"\cdot 0") == 3


@pytest.mark.parametrize("n,k,s,p,d", [(3, 2, 1, 0, 1), (5, 3, 2, 1, 1), (7, 3, 1, 2, 2), (6, 2, 3, 0, 1)])
def test_taps_reproduce_the_convolution_and_its_input_gradient(n, k, s, p, d):
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((n, n)), rng.standard_normal((k, k))
    out, cache = conv2d_forward(x[None, :, :, None], w[:, :, None, None], None, stride=s, padding=p, dilation=d)
    m = arithmetic.conv_output_size(n, k, s, p, d)
    dout = rng.standard_normal((m, m))
    dx = conv2d_backward(dout[None, :, :, None], cache)[0][0, :, :, 0]
    mine, mine_dx = np.zeros((m, m)), np.zeros((n, n))
    for t in backprop.conv_taps(n, k, s, p, d):
        if not t.padded:
            mine[t.out] += w[t.weight] * x[t.inp]
            mine_dx[t.inp] += w[t.weight] * dout[t.out]
    assert np.allclose(mine, out[0, :, :, 0]) and np.allclose(mine_dx, dx)


def test_latex_block_is_aligned_display_math():
    text = backprop.latex_block([("a", "b"), ("c", "d")])
    assert text.startswith("$$\\begin{aligned}") and "a &= b \\\\ c &= d" in text


def test_figures_draw():
    figs = [
        backprop.plot_conv_connections(3, 2, output=(0, 1)),
        backprop.plot_conv_connections(5, 3, stride=2, padding=1, input=(2, 2)),
        backprop.plot_matrix_row([(np.eye(2), "I"), (np.ones((2, 2)), "J", [["red", None], [None, None]])], ["+"]),
        backprop.plot_maxpool_routing(np.arange(16.).reshape(4, 4), np.ones((2, 2))),
        backprop.plot_im2col(3, 2),
        backprop.plot_implementation_timings(pd.DataFrame({"implementation": ["a", "b"], "seconds": [1.0, 0.01]})),
    ]
    for fig in figs:
        assert isinstance(fig, matplotlib.figure.Figure)
        plt.close(fig)
    assert plots.plot_conv_connections is backprop.plot_conv_connections
