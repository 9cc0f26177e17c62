"""The cost explorer of notebook 05 follows its sliders."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

from course_utils import params, widgets  # noqa: E402


def test_summary_shows_the_lecture_example_and_the_reduction_factor():
    w = widgets.separable_cost_explorer(c_in=16, c_out=32, kernel=3, size=8)
    text = w.summary.value
    assert "3*3*16*32 = 4608" in text and "3*3*16 + 16*32 = 656" in text
    assert "1/N + 1/Dk^2 = 1/32 + 1/9 = 0.1424" in text
    assert w.comparison.standard == 4608 and len(w.output.outputs) == 1


def test_sliders_update_counts_and_the_ratio_matches_the_formula_without_biases():
    w = widgets.separable_cost_explorer()
    w.c_in.value, w.c_out.value, w.kernel.value = 64, 256, 5
    c = w.comparison
    assert (c.c_in, c.c_out, c.k) == (64, 256, 5)
    assert abs(c.ratio - params.mobilenet_reduction(256, 5)) < 1e-12
    assert f"{c.separable_macs:,}" in w.summary.value
    w.bias.value = True
    assert w.comparison.separable == 5 * 5 * 64 + 64 * 256 + 256
    assert "biases make the parameter ratio differ" in w.summary.value
