"""The convolution-arithmetic explorer of notebook 01 reacts to its controls."""

from __future__ import annotations

import itertools
import re

import pytest

import matplotlib

matplotlib.use("Agg")

from course_utils import arithmetic, widgets  # noqa: E402


def _shown_size(explorer) -> int | None:
    match = re.search(r"output size: (\d+) x (\d+)", explorer.summary.value)
    if match is None:
        return None
    assert match.group(1) == match.group(2)
    return int(match.group(1))


def test_starts_on_the_notes_example_with_the_formula_filled_in():
    w = widgets.conv_arithmetic_explorer()
    assert (w.input_size.value, w.kernel.value, w.stride.value, w.padding.value) == (5, 3, 2, 1)
    assert _shown_size(w) == w.output_size == 3
    assert "3 = (5 + 2*1 - 3)/2 + 1" in w.summary.value
    assert w.unit.max == 9 and len(w.output.outputs) == 1


def test_every_setting_shows_the_arithmetic_output_size():
    w = widgets.conv_arithmetic_explorer()
    for n, k, s, p, d in itertools.product((1, 6), (1, 4), (1, 3), (0, 2), (1, 2)):
        w.set(input_size=n, kernel=k, stride=s, padding=p, dilation=d)
        try:
            expected = arithmetic.conv_output_size(n, k, s, p, d)
        except ValueError:
            expected = None
        assert _shown_size(w) == w.output_size == expected, (n, k, s, p, d)
        if expected is None:
            assert "output size: none" in w.summary.value
            assert w.output.outputs == ()
        else:
            assert w.unit.max == expected * expected


def test_the_unit_slider_walks_the_window_and_follows_the_output_size():
    w = widgets.conv_arithmetic_explorer(input_size=5, kernel=3, stride=1, padding=1)
    w.unit.value = 25
    assert "output unit 25 = (row 5, column 5) reads padded rows 5..7 and columns 5..7" in w.summary.value
    w.stride.value = 2                       # 5x5 -> 3x3: the unit is clamped to the last one
    assert w.unit.max == 9 and w.unit.value == 9
    assert "(row 3, column 3) reads padded rows 5..7" in w.summary.value


def test_notes_explain_skipped_pixels_and_same_size():
    w = widgets.conv_arithmetic_explorer(input_size=7, kernel=1, stride=3, padding=0)
    assert "some pixels are never read" in w.summary.value
    w.input_size.value = 8                   # (8 - 1) % 3 = 1: the last row is never reached
    assert "never reached" in w.summary.value
    w.kernel.value, w.stride.value, w.padding.value = 3, 1, 1
    assert "'same' size" in w.summary.value


def test_set_moves_several_sliders_and_then_the_unit():
    w = widgets.conv_arithmetic_explorer()
    w.set(input_size=7, stride=1, padding=1, unit=49)
    assert w.output_size == 7 and w.unit.value == 49
    assert "(row 7, column 7)" in w.summary.value
    with pytest.raises(ValueError, match="unknown control"):
        w.set(size=3)
