"""Receptive-field tables against the seed's numbers and against the gradient measurement.

The measurement (course_utils.receptive_field.GradientProbe) differentiates one
output unit of a positive, linear copy of the model: the pixels with a non-zero
gradient are exactly the ones the unit depends on. The analytical box
``start + o*jump +- (rf-1)/2``, cut to the image, must equal the measured box.
"""

from __future__ import annotations

import functools
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from course_utils import receptive_field as rf
from course_utils.spec import UnsupportedLayerError
from tests._hypothesis import examples

SETTINGS = settings(max_examples=examples(20), deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                            HealthCheck.data_too_large])


def _boxes_agree(model, layer=None, units=None):
    """Measured box == analytical box for each unit; returns the analysis.

    A unit that sees no padding (``valid_units``) must be measured exactly on
    its analytical box: its extreme pixels are real dependencies. Where the box
    reaches into padding, the measurement can only see the real pixels, fewer
    still when dilation or strides leave holes: they must lie inside the box
    cut to the image. A unit that is itself zero padding has no gradient at all.
    Besides the units asked for, the first and last padding-free ones are checked.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", rf.AlignmentWarning)
        analysis = rf.analyse(model)
    probe = rf.GradientProbe(model, layer)
    n_h, n_w = probe.output_size
    valid_h, valid_w = analysis.valid_units(probe.layer)
    units = list(units or [((n_h - 1) // 2, (n_w - 1) // 2), (0, 0), (n_h - 1, n_w - 1)])
    if valid_h and valid_w:
        units += [(valid_h[0], valid_w[0]), (valid_h[1], valid_w[1])]
    exact = 0
    for unit in units:
        clean = bool(valid_h and valid_w and valid_h[0] <= unit[0] <= valid_h[1]
                     and valid_w[0] <= unit[1] <= valid_w[1])
        _check_unit(probe, analysis, unit, clean)
        exact += clean
    analysis.exact_checks = exact
    return analysis


def _check_unit(probe, analysis, unit, exact):
    """``exact``: measured box == analytical box; otherwise measured box inside the cut analytical box."""
    if exact:
        assert probe.measure(unit).bbox == analysis.box(probe.layer, unit), (unit, analysis.table().to_string())
        return
    try:
        measured = probe.measure(unit).bbox
    except ValueError as exc:  # the unit is zero padding itself
        assert "zero everywhere" in str(exc)
        return
    c_top, c_left, c_bottom, c_right = analysis.box(probe.layer, unit, clip=True)
    m_top, m_left, m_bottom, m_right = measured
    assert c_top <= m_top and c_left <= m_left and m_bottom <= c_bottom and m_right <= c_right, \
        (unit, measured, (c_top, c_left, c_bottom, c_right), analysis.table().to_string())


# ----------------------------------------------------------------------------- the seed's numbers
def test_walk_through_of_the_course_notes():
    table = rf.receptive_field_table(["conv3", "conv3", "pool2", "conv3"], input_size=10)
    assert table["n_out"].tolist() == [10, 8, 6, 3, 1]
    assert table["rf"].tolist() == [1, 3, 5, 6, 10]
    assert table["jump"].tolist() == [1, 1, 1, 2, 2]


def test_walk_through_matches_the_measurement(keras):
    L = keras.layers
    model = keras.Sequential([keras.Input((10, 10, 1)), L.Conv2D(1, 3), L.Conv2D(1, 3), L.MaxPooling2D(2),
                              L.Conv2D(1, 3)])
    analysis = _boxes_agree(model, units=[(0, 0)])
    assert rf.empirical_receptive_field(model).size == (10, 10)
    assert analysis.table()["rf"].tolist() == [1, 3, 5, 6, 10]


CONTEXT_MODULE = ["conv3", "conv3", "conv3d2", "conv3d4", "conv3d8", "conv3d16", "conv3", "conv1"]


def test_context_module_of_yu_and_koltun():
    table = rf.receptive_field_table(CONTEXT_MODULE)
    assert table["rf"].tolist()[1:] == [3, 5, 9, 17, 33, 65, 67, 67]
    assert table["dilation"].tolist()[1:] == ["1", "1", "2", "4", "8", "16", "1", "1"]
    # padded by its dilation, every layer keeps the 64x64 resolution of the front end
    padded = [{"kind": "conv", "kernel": k, "dilation": d, "padding": d * (k - 1) // 2}
              for k, d in [(3, 1), (3, 1), (3, 2), (3, 4), (3, 8), (3, 16), (3, 1), (1, 1)]]
    table = rf.receptive_field_table(padded, input_size=64)
    assert set(table["n_out"]) == {64}
    assert table["rf"].tolist()[1:] == [3, 5, 9, 17, 33, 65, 67, 67]


def test_context_module_in_keras_matches_the_measurement(keras):
    L = keras.layers
    layers = [L.Conv2D(2, 3 if d else 1, dilation_rate=d or 1, padding="same", activation="relu")
              for d in (1, 1, 2, 4, 8, 16, 1, 0)]
    model = keras.Sequential([keras.Input((80, 80, 2)), *layers])
    analysis = _boxes_agree(model)
    assert rf.empirical_receptive_field(model).size == (67, 67)
    assert analysis.table()["rf"].tolist()[1:] == [3, 5, 9, 17, 33, 65, 67, 67]


# ----------------------------------------------------------------------------- random networks
def _random_chain(keras, data, kinds, max_layers=6):
    """A random Sequential model of the given layer kinds that Keras accepts."""
    L = keras.layers
    h, w = data.draw(st.integers(16, 48), "h"), data.draw(st.integers(16, 48), "w")
    x = keras.Input((h, w, 2))
    y = x
    for _ in range(data.draw(st.integers(1, max_layers), "depth")):
        kind = data.draw(st.sampled_from(kinds))
        k = (data.draw(st.integers(1, 5)), data.draw(st.integers(1, 5)))
        s = data.draw(st.integers(1, 3))
        d = data.draw(st.integers(1, 3)) if s == 1 else 1
        pad = data.draw(st.sampled_from(["same", "valid"]))
        layer = {
            "conv": lambda: L.Conv2D(2, k, strides=s, dilation_rate=d, padding=pad),
            "dw": lambda: L.DepthwiseConv2D(k, strides=s, dilation_rate=d, padding=pad),
            "sep": lambda: L.SeparableConv2D(2, k, strides=s, dilation_rate=d, padding=pad),
            "maxpool": lambda: L.MaxPooling2D(k, strides=s, padding=pad),
            "avgpool": lambda: L.AveragePooling2D(k, strides=s, padding=pad),
            "pad": lambda: L.ZeroPadding2D(((k[0], s), (d, k[1]))),
            "crop": lambda: L.Cropping2D(((k[0] - 1, s - 1), (d - 1, k[1] - 1))),
            "bn_relu": lambda: L.ReLU(),
            "tconv": lambda: L.Conv2DTranspose(2, k, strides=s, padding=pad),
            "up": lambda: L.UpSampling2D((s, data.draw(st.integers(1, 3))),
                                         interpolation=data.draw(st.sampled_from(["nearest", "bilinear"]))),
        }[kind]()
        try:
            candidate = layer(y)
        except ValueError:
            continue  # does not fit: Keras says so
        if min(candidate.shape[1:3]) < 1 or max(candidate.shape[1:3]) > 160:
            continue
        y = candidate
        if kind == "bn_relu":
            y = L.BatchNormalization()(y)
    return keras.Model(x, y)


STANDARD = ["conv", "dw", "sep", "maxpool", "avgpool", "pad", "crop", "bn_relu"]


def _with_room_for_exact_units(keras, model, max_size=320):
    """The same layers on an input tall and wide enough for padding-free units.

    Only such units are checked exactly (measured box == analytical box); with
    none, a check degrades to "measured inside analytical", which an RF that is
    too large passes. The same layers (rebuilt from their configurations) are
    put on a larger input, each axis growing by its RF, until the last layer has
    padding-free units along both.
    """
    for _ in range(6):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", rf.AlignmentWarning)
            analysis = rf.analyse(model)
        field = analysis[analysis.last]
        if field.h.valid and field.w.valid:
            return model
        h, w = model.inputs[0].shape[1:3]
        h, w = (n if axis.valid else n + int(np.ceil(float(axis.rf))) for n, axis in ((h, field.h), (w, field.w)))
        assume(max(h, w) <= max_size)
        x = keras.Input((h, w, model.inputs[0].shape[-1]))
        y = x
        for layer in model.layers[1:]:
            y = type(layer).from_config(layer.get_config())(y)
        model = keras.Model(x, y)
    assume(False)


@SETTINGS
@given(data=st.data())
def test_random_networks_match_the_measurement(keras, data):
    model = _with_room_for_exact_units(keras, _random_chain(keras, data, STANDARD))
    analysis = _boxes_agree(model)
    # the first and last padding-free units were measured exactly, not only "inside the box"
    assert analysis.exact_checks >= 2, analysis.table().to_string()


@SETTINGS
@given(data=st.data())
def test_transposed_and_upsampling_boxes_contain_the_measurement(keras, data):
    """Units of a transposed conv differ by phase: the table's box contains each unit's measured box."""
    model = _random_chain(keras, data, STANDARD + ["tconv", "up"], max_layers=5)
    analysis = rf.analyse(model)
    probe = rf.GradientProbe(model)
    n_h, n_w = probe.output_size
    for unit in {((n_h - 1) // 2 + i, (n_w - 1) // 2 + i) for i in range(3)} | {(0, 0)}:
        if unit[0] < n_h and unit[1] < n_w:
            _check_unit(probe, analysis, unit, exact=False)


@pytest.mark.parametrize("k, s, padding", [(3, 2, "valid"), (3, 2, "same"), (5, 2, "same"), (7, 4, "valid"),
                                           (5, 1, "valid")])
def test_transposed_conv_rf_is_exact_for_the_fullest_units(keras, k, s, padding):
    """Some units see exactly the table's box when s divides the extent (k-1) + (3-1) on the fine grid.

    (The transposed conv's output units differ by phase; the table gives the
    box of the fullest phase, exact when the extent is a multiple of s.)
    """
    L = keras.layers
    model = keras.Sequential([keras.Input((20, 21, 1)), L.Conv2D(1, 3, strides=2),
                              L.Conv2DTranspose(1, k, strides=s, padding=padding), L.Conv2D(1, 3)])
    analysis = rf.analyse(model)
    probe = rf.GradientProbe(model)
    boxes = [analysis.box(None, (o, o), clip=True) for o in range(6, 6 + s)]
    measured = [probe.measure((o, o)).bbox for o in range(6, 6 + s)]
    assert any(m == b for m, b in zip(measured, boxes)), (measured, boxes)


@pytest.mark.parametrize("f, k", [(2, 2), (2, 4), (3, 3), (4, 2), (4, 6)])
def test_bilinear_upsampling_rf_is_exact_for_the_fullest_units(keras, f, k):
    """Bilinear up-sampling by f acts as FCN's (2f - f%2)-tap kernel with stride 1/f: like the
    transposed conv, its table box is reached by the fullest units when f divides the extent
    (2f - f%2 - 1) + (k - 1) on the fine grid, and contains every unit's measured box."""
    L = keras.layers
    model = keras.Sequential([keras.Input((17, 19, 1)), L.Conv2D(1, 3),
                              L.UpSampling2D(f, interpolation="bilinear"), L.Conv2D(1, k)])
    analysis = rf.analyse(model)
    probe = rf.GradientProbe(model)
    units = [(o, o) for o in range(8, 8 + 2 * f)]
    boxes = [analysis.box(None, unit, clip=True) for unit in units]
    measured = [probe.measure(unit).bbox for unit in units]
    assert all(b[0] <= m[0] and b[1] <= m[1] and m[2] <= b[2] and m[3] <= b[3] for m, b in zip(measured, boxes))
    assert any(m == b for m, b in zip(measured, boxes)), (measured, boxes)


@pytest.mark.parametrize("merge", ["add", "concat", "multiply"])
@pytest.mark.parametrize("shift", [False, True])
def test_branches_and_merges_match_the_measurement(keras, merge, shift):
    L = keras.layers
    x = keras.Input((33, 30, 2))
    trunk = L.Conv2D(2, 3, strides=2, padding="same")(x)
    a = L.Conv2D(2, 3, padding="same")(L.Conv2D(2, 3, padding="same")(trunk))
    b = L.Conv2D(2, 5, dilation_rate=2, padding="same")(trunk)
    if shift:  # same size, shifted by one unit: misaligned
        b = L.Cropping2D(((0, 1), (0, 1)))(L.ZeroPadding2D(((1, 0), (1, 0)))(b))
    joined = {"add": L.Add(), "concat": L.Concatenate(), "multiply": L.Multiply()}[merge]([a, b])
    model = keras.Model(x, L.Conv2D(2, 3, padding="same")(joined))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        table = rf.receptive_field_table(model)
    aligned = [w for w in caught if issubclass(w.category, rf.AlignmentWarning)]
    assert bool(aligned) == shift and bool(table.attrs["warnings"]) == shift
    units = [(5, 5), (8, 7)] if merge == "multiply" else None  # Multiply: zeros of the shift's padding
    _boxes_agree(model, units=units)


def test_whole_input_after_global_pooling_and_flatten(keras):
    L = keras.layers
    x = keras.Input((20, 24, 3))
    y = L.Conv2D(4, 3)(x)
    g = L.GlobalAveragePooling2D(keepdims=True, name="gap")(y)
    model = keras.Model(x, L.Conv2D(2, 1, name="after")(g))
    table = rf.receptive_field_table(model).set_index("layer")
    assert (table.loc["gap", "rf_h"], table.loc["gap", "rf_w"]) == (20, 24)
    assert (table.loc["after", "rf_h"], table.loc["after", "rf_w"]) == (20, 24)
    assert rf.empirical_receptive_field(model).bbox == (0, 0, 19, 23)
    chain = rf.receptive_field_table(["conv3", "pool2", "flatten", "dense-10"], input_size=16)
    assert chain["rf"].tolist()[-2:] == [16, 16]


# ----------------------------------------------------------------------------- Keras applications
APPLICATIONS = ["VGG16", "VGG19", "ResNet50", "ResNet101", "MobileNet", "InceptionV3"]


@functools.lru_cache(maxsize=None)
def _application(name):
    import keras

    return getattr(keras.applications, name)(weights=None)


def _last_spatial(analysis):
    return [s.name for s in analysis.network if s.spatial and not analysis.fields[s.name].whole][-1]


@pytest.mark.parametrize("name", APPLICATIONS)
def test_applications_match_the_measurement(keras, name):
    """RF, jump and start of the last feature layer, as Keras builds the network, measured.

    At the default size the receptive field is larger than the image, so the
    measurement sees it cut; the same architecture built taller (by a multiple
    of its total stride, so that TensorFlow pads every layer alike) shows the
    whole field along the height.
    """
    model = _application(name)
    analysis = rf.analyse(model)
    last = _last_spatial(analysis)
    field = analysis[last]
    _boxes_agree(model, last)

    size = model.inputs[0].shape[1]
    total_stride = int(field.h.jump)
    taller = size + total_stride * int(np.ceil((float(field.h.rf) + 2 * total_stride - size) / total_stride))
    big = getattr(keras.applications, name)(weights=None, include_top=False, input_shape=(taller, size, 3))
    big_field = rf.analyse(big)[last]
    assert (big_field.h.jump, big_field.h.rf, big_field.h.start) == (field.h.jump, field.h.rf, field.h.start)
    big_probe = rf.GradientProbe(big, last)
    first = int(np.ceil(float(((field.h.rf - 1) / 2 - field.h.start) / field.h.jump)))
    centres = []
    for o in (first, first + 1):
        measured = big_probe.measure((o, 0))
        top, _, bottom, _ = measured.bbox
        assert bottom - top + 1 == field.h.rf  # the whole field is inside the image
        centres.append((top + bottom) / 2)
    assert centres[0] == field.h.start + first * field.h.jump
    assert centres[1] - centres[0] == field.h.jump
    assert field.h == field.w or name == "InceptionV3"


def test_inception_is_square_at_its_last_layer():
    analysis = rf.analyse(_application("InceptionV3"))
    field = analysis[_last_spatial(analysis)]
    assert (field.h.rf, field.h.jump, field.h.start) == (field.w.rf, field.w.jump, field.w.start)


# ----------------------------------------------------------------------------- presentation
def test_square_tables_have_plain_integer_columns():
    table = rf.receptive_field_table(["conv3", "conv3", "pool2", "conv3"], input_size=10)
    assert list(table.columns) == ["layer", "type", "kernel", "stride", "dilation", "padding", "n_out", "jump",
                                   "rf", "start"]
    assert table["rf"].dtype.kind == "i" and table["n_out"].dtype.kind == "i"
    assert table["start"].tolist() == [0, 1, 2, 2.5, 4.5]


def test_non_square_tables_split_only_what_differs():
    table = rf.receptive_field_table(["conv3x1", "pool2"], input_size=(12, 10))
    assert {"n_out_h", "n_out_w", "rf_h", "rf_w", "start_h", "start_w", "jump"} <= set(table.columns)
    assert "rf" not in table.columns and "jump_h" not in table.columns
    assert table["rf_h"].tolist() == [1, 3, 4] and table["rf_w"].tolist() == [1, 1, 2]
    assert rf.receptive_field_table(["conv3x1"], axes="w")["rf"].tolist() == [1, 1]
    assert "rf_h" in rf.receptive_field_table(["conv3"], axes="both").columns


def test_markdown_html_and_annotations(keras):
    table = rf.receptive_field_table(["conv3", "pool2"], input_size=8)
    md = rf.to_markdown(table)
    assert md.splitlines()[0].replace(" ", "").startswith("|layer|type|")
    assert "<table" in rf.to_html(table)
    model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Conv2D(16, 3, name="c1"),
                              keras.layers.SeparableConv2D(32, 3, name="s1")])
    notes = rf.layer_annotations(model)
    assert notes["c1"] == "output 26x26x16, RF 3x3" and notes["s1"] == "output 24x24x32, RF 5x5"


def test_effective_receptive_field_lies_inside_the_theoretical_one(keras):
    L = keras.layers
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((40, 40, 1))] + [L.Conv2D(4, 3, activation="relu") for _ in range(5)])
    effective = rf.empirical_receptive_field(model, exact=False, threshold=0.05)
    top, left, bottom, right = rf.analyse(model).box()
    e_top, e_left, e_bottom, e_right = effective.bbox
    assert top <= e_top and left <= e_left and e_bottom <= bottom and e_right <= right
    assert effective.gradient.shape == (40, 40) and not effective.exact


def test_errors_name_what_is_wrong(keras):
    L = keras.layers
    with pytest.raises(KeyError, match="no layer named 'nope'"):
        rf.analyse(["conv3"])["nope"]
    anysize = keras.Sequential([keras.Input((None, None, 1)), L.Conv2D(1, 3, name="c")])
    with pytest.raises(ValueError, match="input_size"):
        rf.empirical_receptive_field(anysize)
    assert rf.empirical_receptive_field(anysize, input_size=9).size == (3, 3)
    with pytest.raises(ValueError, match="has no layer named 'd'"):
        rf.empirical_receptive_field(anysize, layer="d", input_size=9)
    with pytest.raises(ValueError, match=r"unit \(7, 0\) is outside the 7x7"):
        rf.empirical_receptive_field(anysize, unit=(7, 0), input_size=9)
    flat = keras.Sequential([keras.Input((8, 8, 1)), L.Flatten(), L.Dense(2)])
    with pytest.raises(ValueError, match="no layer with a spatial"):
        rf.empirical_receptive_field(flat)
    with pytest.raises(UnsupportedLayerError, match="'swap'"):
        rf.receptive_field_table(keras.Sequential([keras.Input((8, 8, 1)), L.Permute((2, 1, 3), name="swap")]))


def test_positive_linear_copy_is_linear_positive_and_leaves_the_model_alone(keras):
    from course_utils.rf_probe import positive_linear_copy

    L = keras.layers
    x = keras.Input((10, 10, 2))
    y = L.Conv2D(4, 3, activation="relu", name="c")(x)
    y = L.MaxPooling2D(2)(L.BatchNormalization()(y))
    y = L.Reshape((1, 1, 64))(L.Flatten()(y))  # fixes the channel count: a thin copy cannot be built
    model = keras.Model(x, L.Conv2D(2, 1, name="head")(y))
    before = [w.copy() for w in model.get_weights()]
    copy = positive_linear_copy(model)
    for old, new in zip(before, model.get_weights()):
        np.testing.assert_array_equal(old, new)
    assert copy.get_layer("c").filters == 4  # copied at full width
    assert all((w >= 0).all() for w in copy.get_weights())
    ones = np.ones((1, 10, 10, 2), "float32")
    out = np.asarray(copy(ones))
    assert (out > 0).all()
    np.testing.assert_allclose(np.asarray(copy(-ones)), -out, rtol=1e-5)  # linear: no ReLU, no max
    thin = positive_linear_copy(keras.Sequential([keras.Input((8, 8, 3)), L.Conv2D(16, 3, name="c")]))
    assert thin.get_layer("c").filters == 1


def test_mean_effective_gradient_averages_the_random_input_measurements(keras):
    """The map is the mean of the per-input maps, it lies inside the theoretical RF, and a
    linear network (whose gradient does not depend on the input) gives the same map for any count."""
    L = keras.layers
    keras.utils.set_random_seed(0)
    relu = keras.Sequential([keras.Input((12, 12, 1)), L.Conv2D(4, 3, activation="relu", name="c1"),
                             L.Conv2D(4, 3, activation="relu", name="c2")])
    g = rf.mean_effective_gradient(relu, inputs=3)
    each = [rf.empirical_receptive_field(relu, exact=False, seed=s).gradient for s in range(3)]
    np.testing.assert_allclose(g, np.mean(each, axis=0), rtol=1e-6)
    assert not np.allclose(each[0], each[1])  # the inputs really differ
    top, left, bottom, right = rf.analyse(relu).box()
    outside = g.copy()
    outside[top:bottom + 1, left:right + 1] = 0
    assert outside.max() == 0 and g.max() > 0
    linear = keras.Sequential([keras.Input((12, 12, 1)), L.Conv2D(2, 3), L.Conv2D(1, 3)])
    np.testing.assert_allclose(rf.mean_effective_gradient(linear, inputs=1),
                               rf.mean_effective_gradient(linear, inputs=4), rtol=1e-5)
    with pytest.raises(ValueError, match="at least 1"):
        rf.mean_effective_gradient(linear, inputs=0)
