"""The explorer of notebook 03 reacts to its controls."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402

from course_utils import widgets  # noqa: E402
from course_utils.widgets.dilated import DILATION_PRESETS  # noqa: E402


def test_default_stack_reads_its_whole_receptive_field():
    w = widgets.dilation_explorer()
    assert "<b>15x15</b>" in w.summary.value and "every pixel" in w.summary.value
    assert w.footprint.shape == (15, 15) and len(w.output.outputs) == 1


def test_presets_and_text_update_the_footprint_and_summary():
    w = widgets.dilation_explorer()
    name = next(k for k, v in DILATION_PRESETS.items() if v == "2, 2, 2")
    w.preset.value = name
    assert w.dilations.value == "2, 2, 2"
    assert "gridding" in w.summary.value and np.count_nonzero(w.footprint == 0) > 0
    w.dilations.value = "1, 1, 2, 4, 8, 16, 1"
    assert "<b>67x67</b>" in w.summary.value
    w.kernel.value = 5
    assert w.footprint.shape[0] > 67


def test_invalid_input_is_explained():
    w = widgets.dilation_explorer()
    w.dilations.value = "1, two"
    assert "whole numbers" in w.summary.value and w.footprint is None and not w.output.outputs
    w.dilations.value = "0"
    assert "1 or more" in w.summary.value
    w.dilations.value = "1 2 4"
    assert "<b>15x15</b>" in w.summary.value
