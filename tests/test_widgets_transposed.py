"""The explorer of notebook 04 reacts to its controls."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

from course_utils import arithmetic, widgets  # noqa: E402
from course_utils.plots.transposed import overlap_map  # noqa: E402


def test_summary_gives_the_size_and_flags_uneven_overlap():
    w = widgets.transposed_conv_explorer(size=4, kernel=3, stride=2)
    size = arithmetic.transposed_conv_output_size(4, 3, 2)
    assert f"<b>{size}</b>" in w.summary.value and "not a multiple" in w.summary.value
    assert (w.counts == overlap_map(4, 3, 2)).all() and len(w.output.outputs) == 1
    w.kernel.value = 4
    assert "is a multiple" in w.summary.value and w.counts.shape[0] == arithmetic.transposed_conv_output_size(4, 4, 2)


def test_padding_and_output_padding_change_the_size():
    w = widgets.transposed_conv_explorer(size=3, kernel=3, stride=2)
    w.padding.value, w.output_padding.value = 1, 1
    assert f"<b>{arithmetic.transposed_conv_output_size(3, 3, 2, 1, 1)}</b>" in w.summary.value
    assert w.counts.shape == (6, 6)


def test_impossible_configurations_are_explained():
    w = widgets.transposed_conv_explorer(size=3, kernel=3, stride=2, output_padding=1)
    w.stride.value = 1
    assert "Impossible" in w.summary.value and "smaller than the stride" in w.summary.value
    assert w.counts is None and not w.output.outputs
    w.stride.value = 2
    assert "Impossible" not in w.summary.value and len(w.output.outputs) == 1
    w = widgets.transposed_conv_explorer(size=1, kernel=1, stride=1)
    w.padding.value = 2
    assert "reduce the padding" in w.summary.value and w.counts is None
