"""Figures and footprints of notebook 03."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from course_utils import plots  # noqa: E402
from course_utils import receptive_field as rf  # noqa: E402


@pytest.mark.parametrize("dilations", [(1,), (1, 2, 4), (2, 2, 2), (1, 1, 2, 4, 8, 16, 1)])
@pytest.mark.parametrize("kernel", [2, 3, 5])
def test_footprint_spans_the_receptive_field_and_counts_every_path(dilations, kernel):
    line = plots.footprint_1d(dilations, kernel)
    table = rf.receptive_field_table([f"conv{kernel}d{d}" for d in dilations])
    assert len(line) == table["rf"].iloc[-1]
    assert line.sum() == kernel ** len(dilations)
    assert line[0] > 0 and line[-1] > 0
    fp = plots.dilation_footprint(dilations, kernel)
    assert fp.shape == (len(line), len(line)) and fp.sum() == kernel ** (2 * len(dilations))


def test_common_factors_leave_holes_and_coprime_stacks_do_not():
    assert np.count_nonzero(plots.footprint_1d((2, 2, 2)) == 0) > 0
    assert np.count_nonzero(plots.footprint_1d((2, 4, 8))[1::2]) == 0  # only even offsets
    for ok in [(1, 2, 4), (1, 2, 3), (1, 3, 9)]:
        assert np.all(plots.footprint_1d(ok) > 0)


def test_footprint_equals_the_measured_gradient(keras):
    dil = (1, 3)
    fp = plots.dilation_footprint(dil)
    stack = keras.Sequential([keras.Input((fp.shape[0], fp.shape[0], 1))] +
                             [keras.layers.Conv2D(2, 3, dilation_rate=d) for d in dil])
    measured = rf.empirical_receptive_field(stack).gradient * 9 ** len(dil)
    assert np.allclose(measured, fp)


def test_figures_have_one_panel_per_item():
    assert len(plots.plot_dilated_kernels(3, (1, 2)).axes) == 2
    assert len(plots.plot_dilated_stack((1, 2, 4)).axes) == 3
    assert len(plots.plot_footprints({"a": (1, 2), "b": (2, 2), "c": (1,)}).axes) == 3
    fig = plots.plot_training_runs({"x": list(np.linspace(2, 1, 50)), "y": [2.3] * 50}, {"x": 0.8, "y": 0.1},
                                   reference={"ref": 0.77}, title="t")
    assert len(fig.axes) == 2 and len(fig.axes[0].lines) == 2
    import matplotlib.pyplot as plt

    plt.close("all")
