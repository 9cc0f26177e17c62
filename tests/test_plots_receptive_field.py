"""Figures, worked lines and effective-RF measures of notebook 02."""

from __future__ import annotations

import re

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

from course_utils import data  # noqa: E402
from course_utils import receptive_field as rfm  # noqa: E402
from course_utils.plots import receptive_field as P  # noqa: E402

#: The walk-through of the course notes (seed 001): 10x10 -> 8x8 -> 6x6 -> pool -> 3x3.
WALK = ["conv3", "conv3", "pool2", "conv3"]


def test_walkthrough_lines_reproduce_the_notes_numbers_with_the_plus_one():
    lines = P.walkthrough_lines(WALK, input_size=10)
    assert [re.search(r"RF = [^|]* = (\d+)", line).group(1) for line in lines] == ["3", "5", "6", "10"]
    assert "n_out = (6 + 2*0 - 2)/2 + 1 = 3" in lines[2]        # the notes drop the + 1
    assert "RF = 5 + (2-1)*1 = 6" in lines[2] and "RF = 6 + (3-1)*2 = 10" in lines[3]
    table = rfm.receptive_field_table(WALK, input_size=10)
    for line, (_, row) in zip(lines, table.iloc[1:].iterrows()):
        assert f"= {row['n_out']} |" in line and "jump = " in line
        assert line.endswith(f"= {row['start']:g}")


def test_walkthrough_lines_every_formula_evaluates_to_the_table():
    layers = ["conv3p1", "relu", "conv3s2", "conv3d2", "pool3s2", "conv5p2"]
    table = rfm.receptive_field_table(layers, input_size=23).set_index("layer")
    for line in P.walkthrough_lines(layers, input_size=23):
        name, rest = line.split(": ", 1)
        if rest.startswith("keeps"):
            assert f"RF = {table.loc[name, 'rf']}" in rest
            continue
        for part in rest.split(" | "):
            quantity, formula = part.split(" = ", 1)
            formula = formula.split("   with")[0]
            expr, value = formula.rsplit(" = ", 1)
            column = {"n_out": "n_out", "jump": "jump", "RF": "rf", "start": "start"}[quantity]
            assert eval(expr.replace("floor(", "int(")) == pytest.approx(float(value))
            assert float(value) == pytest.approx(float(table.loc[name, column]))


def test_walkthrough_lines_say_when_a_layer_sees_everything():
    assert P.walkthrough_lines(["conv3", "gap"], input_size=6)[-1].endswith("(sees the whole input)")


def test_views_of_one_path_refuse_branches():
    import keras

    inp = keras.Input((8, 8, 1))
    a = keras.layers.Conv2D(1, 3, padding="same")(inp)
    b = keras.layers.Conv2D(1, 5, padding="same")(inp)
    model = keras.Model(inp, keras.layers.Add()([a, b]))
    with pytest.raises(ValueError, match="chain"):
        P.walkthrough_lines(model)


@pytest.mark.parametrize("layers,size", [(["conv3", "conv3"], 7), (WALK, 10), (["conv3s2", "conv3", "pool2"], 15),
                                         (["conv3d2", "conv3d4"], 20), (["conv5s2", "conv3s2", "conv3"], 21)])
def test_the_cone_spans_the_receptive_field(layers, size):
    cone = P.rf_cone(layers, input_size=size)
    inputs = cone[0][1]
    rf = int(rfm.receptive_field_table(layers, input_size=size)["rf"].iloc[-1])
    assert inputs[-1] - inputs[0] + 1 == rf
    assert [name for name, _ in cone] == [s.name for s in rfm.analyse(layers, size).network]


def test_the_cone_matches_the_gradient_of_a_keras_stack(keras):
    model = keras.Sequential([keras.Input((19, 19, 1)), keras.layers.Conv2D(1, 3, strides=2, name="a"),
                              keras.layers.Conv2D(1, 3, dilation_rate=2, name="b"),
                              keras.layers.MaxPooling2D(2, name="c")])
    for unit in (0, 1):
        cone = P.rf_cone(model, input_size=19, unit=unit)
        measured = rfm.empirical_receptive_field(model, "c", unit=(unit, unit))
        rows = np.nonzero(measured.gradient.sum(axis=1))[0]
        used = {i for i in cone[0][1] if 0 <= i < 19}
        assert set(rows.tolist()) <= used and rows.min() == min(used) and rows.max() == max(used)


def test_padding_taps_are_outside_the_layer():
    cone = P.rf_cone(["conv3same", "conv3same"], input_size=5, unit=0)
    assert cone[1][1] == [-1, 0, 1]          # unit -1 of the first layer is its padding: it reads nothing
    assert cone[0][1] == [-1, 0, 1, 2]
    fig = P.plot_rf_stack(["conv3same", "conv3same"], input_size=5, unit=0)
    assert fig.axes[0].get_legend() is not None  # the hollow padding markers are labelled
    plt.close(fig)


def test_cone_errors():
    with pytest.raises(ValueError, match="outside the 1 outputs"):
        P.rf_cone(WALK, input_size=10, unit=1)
    with pytest.raises(ValueError, match="only convolution and pooling"):
        P.rf_cone(["conv3", "flatten", "dense-4"], input_size=10)


def test_rf_boxes_are_drawn_with_the_table_sizes_and_may_leave_the_image():
    image = np.zeros((10, 10))
    fig = P.plot_rf_boxes(image, WALK, unit=(0, 0))
    ax = fig.axes[0]
    boxes = [p for p in ax.patches if isinstance(p, Rectangle) and not p.fill]
    assert [round(b.get_width()) for b in boxes] == [3, 5, 6, 10]
    plt.close(fig)
    fig = P.plot_rf_boxes(np.zeros((6, 6)), ["conv3same"] * 4, show_centres=True)
    ax = fig.axes[0]
    texts = [t.get_text() for t in ax.get_legend().get_texts()]
    assert ax.get_xlim()[0] < -0.5 and ax.get_xlim()[1] > 5.5      # the 9x9 box leaves the 6x6 image
    assert "conv3same_4: RF 9x9" in texts and "unit centres of conv3same_4 (jump 1)" in texts
    plt.close(fig)


def test_rf_growth_has_one_line_per_stack_labelled_with_its_rf():
    fig = P.plot_rf_growth({"plain": ["conv3"] * 3, "strided": ["conv3s2", "conv3", "conv3"]})
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert labels == ["plain (RF 7)", "strided (RF 11)"]
    plt.close(fig)


def test_spread_and_size_of_known_maps():
    delta = np.zeros((9, 9))
    delta[4, 4] = 1
    assert P.effective_rf_spread(delta) == (0.0, 0.0) and P.effective_rf_size(delta) == 1
    box = np.zeros((11, 11))
    box[3:8, 4:7] = 1.0                       # 5 rows, 3 columns
    rows, cols = P.effective_rf_spread(box)
    assert rows == pytest.approx(np.sqrt(2.0)) and cols == pytest.approx(np.sqrt(2 / 3))
    assert P.effective_rf_size(box, 1.0) == 5
    one_d = np.convolve(np.convolve([1, 1, 1], [1, 1, 1]), [1, 1, 1])  # 3 layers of (1, 1, 1)
    g = np.outer(one_d, one_d)
    assert P.effective_rf_spread(g)[1] == pytest.approx(np.sqrt(2 * 3 / 3))
    assert P.effective_rf_size(g, 0.5) < P.effective_rf_size(g, 0.95) <= 7


def test_spread_and_size_reject_empty_maps_and_bad_masses():
    with pytest.raises(ValueError, match="zero everywhere"):
        P.effective_rf_spread(np.zeros((3, 3)))
    with pytest.raises(ValueError, match="mass"):
        P.effective_rf_size(np.ones((3, 3)), 0.0)


def test_effective_rf_figure(keras):
    model = keras.Sequential([keras.Input((16, 16, 1))] + [keras.layers.Conv2D(2, 3, padding="same") for _ in range(3)])
    exact = rfm.empirical_receptive_field(model)
    box = rfm.analyse(model).box()
    assert exact.bbox == box
    fig = P.plot_effective_rf({"exact": exact, "array": exact.gradient}, box=box)
    assert len(fig.axes) == 3 and len(fig.axes[2].get_lines()) == 2 + 2  # two profiles, two box edges
    plt.close(fig)
    fig = P.plot_rf_vs_erf([1, 2], [3, 5], [3, 4])
    assert len(fig.axes[0].get_lines()) == 2
    plt.close(fig)


def test_sample_image_is_fashion_mnist_or_says_it_is_synthetic(monkeypatch):
    image = P.sample_image()
    assert image.pixels.shape == (28, 28) and 0 <= image.pixels.min() and image.pixels.max() <= 1
    if data.is_available("fashion_mnist"):
        assert image.source.startswith("Fashion-MNIST test image 0")

    def unavailable(*args, **kwargs):
        raise data.DatasetUnavailable("not here")

    monkeypatch.setattr(data, "load_dataset", unavailable)
    fallback = P.sample_image()
    assert fallback.pixels.shape == (28, 28) and "synthetic" in fallback.source


def _kernel(c_in: int, c_out: int = 4) -> np.ndarray:
    """A (5, 5, c_in, c_out) kernel whose filter k has its largest weight, k + 1, at row k, column 4 - k,
    and a negative weight -(k + 1)/2 in the corner (4, 4): order, orientation and scale all differ by filter."""
    w = np.zeros((5, 5, c_in, c_out))
    for k in range(c_out):
        w[k, 4 - k, :, k] = k + 1
        w[4, 4, :, k] = -(k + 1) / 2
    return w


def test_filter_images_scale_each_filter_by_its_own_largest_weight():
    images = P.filter_images(_kernel(1))
    assert images.shape == (4, 5, 5)
    for k, image in enumerate(images):
        expected = np.full((5, 5), 0.5)
        expected[k, 4 - k], expected[4, 4] = 1.0, 0.25  # 0.5 + w / (2 max|w|), whatever the filter's scale
        np.testing.assert_allclose(image, expected)
    rgb = P.filter_images(_kernel(3))
    assert rgb.shape == (4, 5, 5, 3)
    np.testing.assert_allclose(rgb[..., 0], images)
    np.testing.assert_allclose(P.filter_images(_kernel(2)), images)  # other channel counts: their mean
    np.testing.assert_allclose(P.filter_images(np.zeros((3, 3, 1, 2))), 0.5)  # a zero filter is grey
    with pytest.raises(ValueError, match="kh, kw, c_in, c_out"):
        P.filter_images(np.zeros((3, 3, 2)))


def test_filters_figure_puts_filter_k_in_column_k_of_every_row():
    before, after = _kernel(1), 2 * _kernel(1)[..., ::-1]  # the same filters, in reverse order
    fig = P.plot_filters({"before": before, "after": after})
    axes = np.array(fig.axes).reshape(2, 4)
    for row, kernel in zip(axes, (before, after)):
        for k, ax in enumerate(row):
            np.testing.assert_allclose(ax.images[0].get_array(), P.filter_images(kernel)[k])
            assert ax.images[0].get_clim() == (0, 1)
    assert axes[0, 0].get_ylabel() == "before" and axes[1, 0].get_ylabel() == "after"
    assert [ax.get_title() for ax in axes[0]] == ["0", "1", "2", "3"]
    plt.close(fig)


def test_feature_maps_figure_scales_each_channel_and_leads_with_the_image():
    rows, cols = np.mgrid[0:6, 0:6]
    first = np.stack([(k + 1) * (rows == k) * (cols + 1) for k in range(3)], axis=-1)  # channel k: row k only
    second = np.stack([np.zeros((6, 6)), 3 * np.ones((6, 6))], axis=-1)  # a dead channel, a flat one
    image = rows / 5.0
    fig = P.plot_feature_maps({"conv1": first, "conv2": second}, image=image, channels=2)
    axes = np.array(fig.axes).reshape(2, 3)
    np.testing.assert_allclose(axes[0, 0].images[0].get_array(), image)
    assert not axes[1, 0].axison
    for k in range(2):
        np.testing.assert_allclose(axes[0, k + 1].images[0].get_array(), first[..., k] / first[..., k].max())
        assert axes[0, k + 1].get_title() == f"conv1: {k}"
    np.testing.assert_allclose(axes[1, 1].images[0].get_array(), 0.0)
    np.testing.assert_allclose(axes[1, 2].images[0].get_array(), 1.0)
    plt.close(fig)
    fig = P.plot_feature_maps({"conv1": first})
    assert len(fig.axes) == 3 and fig.axes[2].get_title() == "conv1: 2"
    plt.close(fig)
    with pytest.raises(ValueError, match="H, W, C"):
        P.plot_feature_maps({"batch": first[None]})


def test_effective_rf_table_has_one_row_per_map_with_the_box_side():
    point = np.zeros((9, 9))
    point[4, 4] = 1.0
    line = np.zeros((9, 9))
    line[4, 2:7] = 1.0  # 5 columns: half the mass within a 3x3 square, 95% within 5x5, std sqrt(2)
    table = P.effective_rf_table({"point": point, "line": line}, box=(1, 1, 7, 7))
    assert table["network"].tolist() == ["point", "line"]
    assert table["theoretical RF"].tolist() == [7, 7]
    assert table["50% of the gradient"].tolist() == [1, 3]
    assert table["95% of the gradient"].tolist() == [1, 5]
    assert table["std (pixels)"].tolist() == [0.0, round(np.sqrt(2), 2)]
