"""The explorer of notebook 07 reacts to its controls."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

from course_utils import widgets  # noqa: E402
from course_utils.widgets import backprop  # noqa: E402


def test_forward_mode_shows_the_equation_of_the_chosen_output():
    w = widgets.conv_backprop_explorer(size=3, kernel=2)
    assert "h^{l}_{11} &= w^{l}_{11} h^{l-1}_{11}" in w.summary.value
    w.col.value = 2
    assert "h^{l}_{12} &=" in w.summary.value and len(w.output.outputs) == 1


def test_backward_mode_lists_the_outputs_that_send_gradient():
    w = widgets.conv_backprop_explorer(size=3, kernel=2)
    w.mode.value = backprop.BACKWARD
    w.row.value, w.col.value = 2, 2
    assert w.summary.value.count(r"\frac{\partial E}{\partial h^{l}_") == 4
    assert w.row.max == 3  # backward mode picks among the 3x3 inputs


def test_sliders_follow_the_output_size_and_impossible_layers_are_explained():
    w = widgets.conv_backprop_explorer(size=5, kernel=3)
    w.row.value = 3
    w.stride.value = 2
    assert w.row.max == 2 and w.row.value == 2  # 5x5 -> 2x2 with stride 2
    w.size.value, w.kernel.value = 2, 4
    assert "does not fit" in w.summary.value
    w.padding.value = 1
    assert "2x2 input → 1x1 output" in w.summary.value
