"""Layer specs: teaching lists, Keras models (every supported layer kind), errors."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from course_utils import spec
from course_utils.spec import LayerSpec, Network, UnsupportedLayerError
from tests._hypothesis import examples


# ----------------------------------------------------------------------------- teaching lists
def test_tokens_and_their_defaults():
    net = spec.from_list(["conv3", "conv3d2", "pool2", "conv3s2p1-64", "avgpool3s1", "tconv4s2op1-8",
                          "dw3", "sep5-16", "up2", "pad1", "crop2", "bn", "relu", "gap", "dense-10"])
    by = {s.name: s for s in net}
    c = by["conv3"]
    assert (c.kind, c.kernel, c.stride, c.padding, c.dilation) == ("conv", (3, 3), (1, 1), ((0, 0), (0, 0)), (1, 1))
    assert by["conv3d2"].dilation == (2, 2) and by["conv3d2"].effective_kernel == (5, 5)
    p = by["pool2"]
    assert (p.kind, p.kernel, p.stride, p.pool) == ("pool", (2, 2), (2, 2), "max")
    c = by["conv3s2p1-64"]
    assert (c.stride, c.padding, c.filters) == ((2, 2), ((1, 1), (1, 1)), 64)
    assert by["avgpool3s1"].stride == (1, 1) and by["avgpool3s1"].pool == "avg"
    t = by["tconv4s2op1-8"]
    assert (t.kind, t.kernel, t.stride, t.output_padding, t.filters) == ("transposed", (4, 4), (2, 2), (1, 1), 8)
    assert by["dw3"].kind == "depthwise" and by["sep5-16"].kind == "separable"
    assert by["up2"].kind == "upsample" and by["up2"].stride == (2, 2)
    assert by["pad1"].padding == ((1, 1), (1, 1)) and by["crop2"].kind == "crop"
    assert [by[n].kind for n in ("bn", "relu", "gap", "dense-10")] == ["batchnorm", "neutral", "global_pool", "dense"]
    assert net.is_chain() and net.names[0] == "input"


def test_dicts_with_defaults_and_keras_style_aliases():
    net = spec.from_list([
        {"kind": "conv", "kernel": 3},
        {"kind": "conv", "kernel": (3, 1), "stride": 2, "padding": "same", "dilation": 1, "filters": 8},
        {"kind": "pool", "kernel": 3},
        {"kind": "conv", "kernel_size": 5, "strides": 1, "dilation_rate": 2, "name": "dilated"},
    ], input_size=(60, 56), input_channels=3)
    first, second, pool, dilated = net.layers[1:]
    assert (first.stride, first.padding, first.dilation) == ((1, 1), ((0, 0), (0, 0)), (1, 1))
    assert second.kernel == (3, 1) and second.padding == "same" and second.channels == 8
    assert pool.stride == (3, 3)
    assert dilated.name == "dilated" and dilated.dilation == (2, 2)
    assert [s.out_hw for s in net.layers[1:]] == [(58, 54), (29, 27), (9, 9), (1, 1)]


def test_repeated_tokens_get_unique_names():
    assert spec.from_list(["conv3", "conv3", "conv3"]).names == ["input", "conv3", "conv3_2", "conv3_3"]


@pytest.mark.parametrize("layers, words", [
    (["conv"], ["kernel size"]),
    (["cnv3"], ["'cnv3'", "conv3"]),
    (["conv3q"], ["'conv3q'"]),
    ([{"kind": "conv", "kernel": 3, "strid": 2}], ["strid", "allowed"]),
    ([{"kind": "convolution", "kernel": 3}], ["'convolution'", "conv"]),
    ([{"kind": "conv", "kernel": 0}], ["kernel", "positive"]),
    ([{"kind": "conv", "kernel": 3, "padding": "full"}], ["padding", "'full'"]),
    ([{"kind": "pool", "kernel": 2, "dilation": 2}], ["no dilation"]),
    ([42], ["layer 1", "'conv3'"]),
])
def test_bad_lists_raise_clear_errors(layers, words):
    with pytest.raises(ValueError) as info:
        spec.from_list(layers)
    for word in words:
        assert word in str(info.value)


def test_list_too_deep_for_its_input_names_the_layer():
    with pytest.raises(ValueError, match=r"conv3_3.*kernel 3.*length 2"):
        spec.from_list(["conv3", "conv3", "conv3"], input_size=6)


def test_network_checks_names_and_inputs():
    inp = LayerSpec("x", "input")
    with pytest.raises(ValueError, match="not an earlier layer"):
        Network([inp, LayerSpec("a", "conv", ("b",))])
    with pytest.raises(ValueError, match="two layers are named 'x'"):
        Network([inp, LayerSpec("x", "neutral", ("x",))])
    with pytest.raises(ValueError, match="unknown kind 'blur'"):
        LayerSpec("b", "blur", ("x",))


def test_as_network_rejects_other_objects():
    with pytest.raises(TypeError, match="Keras model"):
        spec.as_network(42)
    with pytest.raises(TypeError, match="list"):
        spec.from_list("conv3")


# ----------------------------------------------------------------------------- Keras models
def test_every_supported_keras_layer(keras):
    L = keras.layers
    x = keras.Input((32, 30, 3))
    y = L.ZeroPadding2D(((1, 2), (0, 3)))(x)
    y = L.Conv2D(8, (3, 5), strides=2, padding="same", dilation_rate=1, use_bias=False, name="c")(y)
    y = L.BatchNormalization()(y)
    y = L.ReLU()(y)
    a = L.DepthwiseConv2D(3, padding="same", depth_multiplier=2, name="dw")(y)
    b = L.SeparableConv2D(16, 3, padding="same", dilation_rate=2, name="sep")(y)
    y = L.Add(name="add")([a, b])
    y = L.Concatenate(name="cat")([y, L.Conv2D(4, 1, groups=2, name="grouped")(y)])
    y = L.MaxPooling2D(2, name="mp")(y)
    y = L.AveragePooling2D(3, strides=1, padding="same", name="ap")(y)
    y = L.Conv2DTranspose(6, 4, strides=2, padding="same", output_padding=1, name="tc")(y)
    y = L.UpSampling2D((2, 1), interpolation="bilinear", name="up")(y)
    y = L.Cropping2D(((1, 0), (2, 2)), name="crop")(y)
    y = L.Dropout(0.1)(y)
    y = L.Activation("relu")(y)
    y = L.Dense(5, name="pixel_dense")(y)
    y = L.GlobalAveragePooling2D(name="gap")(y)
    y = L.Dense(3, name="head")(y)
    model = keras.Model(x, y, name="all_layers")
    net = spec.from_keras(model)
    kinds = {s.name: s.kind for s in net}
    assert kinds["c"] == "conv" and kinds["dw"] == "depthwise" and kinds["sep"] == "separable"
    assert kinds["add"] == "merge" and net["cat"].merge == "concat" and net["grouped"].groups == 2
    assert kinds["mp"] == "pool" and net["mp"].pool == "max" and net["ap"].pool == "avg"
    assert kinds["tc"] == "transposed" and net["gap"].pool == "avg"
    assert net["tc"].output_padding == (1, 1) and net["up"].interpolation == "bilinear"
    assert kinds["crop"] == "crop" and net["crop"].padding == ((1, 0), (2, 2))
    assert net["pixel_dense"].spatial and not net["head"].spatial and kinds["gap"] == "global_pool"
    assert net["sep"].dilation == (2, 2) and net["c"].kernel == (3, 5) and not net["c"].use_bias
    # the spec's sizes are Keras' sizes
    for layer in model.layers[1:]:
        s = net[layer.name]
        shape = tuple(layer.output.shape)
        assert s.channels == shape[-1]
        if len(shape) == 4:
            assert s.out_hw == shape[1:3]
    assert net.keras_param_count == model.count_params()


@pytest.mark.parametrize("make, fields", [
    (lambda L: L.GlobalMaxPooling2D(keepdims=True), dict(kind="global_pool", pool="max", spatial=True)),
    (lambda L: L.GlobalMaxPooling2D(), dict(kind="global_pool", pool="max", spatial=False)),
    (lambda L: L.MaxPooling2D(3, strides=2, padding="same"), dict(kind="pool", pool="max", kernel=(3, 3), stride=(2, 2))),
    (lambda L: L.LayerNormalization(axis=-1), dict(kind="neutral")),
    (lambda L: L.LayerNormalization(axis=[1, 2, 3]), dict(kind="flatten")),
    (lambda L: L.GroupNormalization(groups=2), dict(kind="flatten", spatial=True)),
    (lambda L: L.BatchNormalization(center=False), dict(kind="batchnorm", center=False, scale=True)),
    (lambda L: L.Reshape((-1,)), dict(kind="flatten", spatial=False)),
    (lambda L: L.LeakyReLU(), dict(kind="neutral")),
])
def test_one_layer_of_each_kind(keras, make, fields):
    """One layer after an input of (8, 8, 4): its spec has the fields its Keras class means."""
    x = keras.Input((8, 8, 4))
    layer = make(keras.layers)
    net = spec.from_keras(keras.Model(x, layer(x)))
    got = net[layer.name]
    assert {k: getattr(got, k) for k in fields} == fields


@pytest.mark.parametrize("merge, expected", [("Maximum", "maximum"), ("Minimum", "minimum"), ("Average", "average"),
                                             ("Multiply", "multiply"), ("Subtract", "subtract")])
def test_merge_layers_name_their_operation(keras, merge, expected):
    x = keras.Input((8, 8, 4))
    layer = getattr(keras.layers, merge)()
    net = spec.from_keras(keras.Model(x, layer([x, keras.layers.ReLU()(x)])))
    assert net[layer.name].kind == "merge" and net[layer.name].merge == expected


_LAYER = st.sampled_from(["conv", "pool", "dw", "sep", "tconv", "up", "pad", "crop", "bn"])


@settings(max_examples=examples(25), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), kinds=st.lists(_LAYER, min_size=1, max_size=6), h=st.integers(24, 40), w=st.integers(24, 40))
def test_spec_sizes_equal_keras_sizes_for_random_models(keras, data, kinds, h, w):
    """from_keras checks every size it computes against Keras (it raises otherwise); the same
    network rebuilt from its specs alone, without Keras, must get Keras' sizes.

    Kernels are drawn non-square, and convolutions dilated (stride 1 then, as Keras requires).
    """
    L = keras.layers
    x = keras.Input((h, w, 2))
    y = x
    for kind in kinds:
        k = (data.draw(st.integers(1, 4)), data.draw(st.integers(1, 4)))
        s = data.draw(st.integers(1, 2))
        d = (data.draw(st.integers(1, 3)), data.draw(st.integers(1, 3))) if s == 1 else (1, 1)
        pad = data.draw(st.sampled_from(["same", "valid"]))
        n = min(y.shape[1], y.shape[2])
        span = max(dk * (kk - 1) + 1 for kk, dk in zip(k, d))
        if kind in ("conv", "dw", "sep", "pool") and pad == "valid" and span > n:
            continue
        layer = {
            "conv": lambda: L.Conv2D(3, k, strides=s, dilation_rate=d, padding=pad),
            "pool": lambda: L.MaxPooling2D(k, strides=s, padding=pad),
            "dw": lambda: L.DepthwiseConv2D(k, strides=s, dilation_rate=d, padding=pad),
            "sep": lambda: L.SeparableConv2D(3, k, strides=s, dilation_rate=d, padding=pad),
            "tconv": lambda: L.Conv2DTranspose(3, k, strides=s, padding=pad),
            "up": lambda: L.UpSampling2D((s, data.draw(st.integers(1, 2)))),
            "pad": lambda: L.ZeroPadding2D(((k[0], 0), (1, s))),
            "crop": lambda: L.Cropping2D(((min(k[0], n // 3), 1), (0, s))),
            "bn": lambda: L.BatchNormalization(),
        }[kind]()
        y = layer(y)
    model = keras.Model(x, y)
    net = spec.from_keras(model)
    rebuilt = spec.from_list(net.layers[1:], input_size=(h, w), input_channels=2)
    assert [s.name for s in rebuilt][1:] == [layer.name for layer in model.layers[1:]]
    for layer, s in zip(model.layers[1:], rebuilt.layers[1:]):
        assert (s.out_hw, s.channels) == (tuple(layer.output.shape[1:3]), layer.output.shape[-1]), \
            (layer.name, s.describe())


def test_nested_models_shared_layers_and_ops(keras):
    L = keras.layers
    block = keras.Sequential([L.Conv2D(4, 3, padding="same"), L.ReLU()], name="block")
    inner_in = keras.Input((None, None, 4))
    inner = keras.Model(inner_in, L.Conv2D(4, 3, name="inner_conv")(inner_in), name="sub")
    shared = L.Conv2D(4, 1, name="shared")
    x = keras.Input((20, 20, 3))
    y = block(x)
    y = inner(y)
    y = keras.ops.add(shared(y), shared(y))
    y = keras.ops.relu(y)
    model = keras.Model(x, y)
    net = spec.from_keras(model)
    names = net.names
    assert any(n.startswith("block/") for n in names) and "sub/inner_conv" in names
    assert "shared" in names and "shared#2" in names and net["shared#2"].shared_with == "shared"
    add = next(s for s in net if s.kind == "merge")
    assert set(add.inputs) == {"shared", "shared#2"}
    assert net["sub/inner_conv"].out_hw == (18, 18)  # computed: the sub-model has no fixed size
    assert net.layers[-1].kind == "neutral"


def test_sequential_without_input_and_input_size(keras):
    L = keras.layers
    model = keras.Sequential([L.Conv2D(4, 3), L.MaxPooling2D(), L.Conv2D(4, 3)])
    net = spec.as_network(model, input_size=12)
    assert [s.out_hw for s in net] == [(12, 12), (10, 10), (5, 5), (3, 3)]


def test_input_size_must_match_a_fixed_model(keras):
    model = keras.Sequential([keras.Input((16, 16, 1)), keras.layers.Conv2D(2, 3)])
    assert spec.as_network(model, input_size=16).input_size == (16, 16)
    with pytest.raises(ValueError, match=r"built for 16x16.*input_size=\(20, 20\)"):
        spec.as_network(model, input_size=20)


def test_unknown_layers_are_named_never_skipped(keras):
    L = keras.layers

    class Blur(L.Layer):
        def call(self, x):
            return x

    model = keras.Sequential([keras.Input((8, 8, 1)), L.Conv2D(2, 3), Blur(name="my_blur")])
    with pytest.raises(UnsupportedLayerError, match=r"'my_blur' \(Blur\).*register_layer"):
        spec.from_keras(model)
    spec.register_layer(Blur, "neutral")
    try:
        assert spec.from_keras(model)["my_blur"].kind == "neutral"
    finally:
        spec._REGISTERED.pop(Blur)


@pytest.mark.parametrize("build, words", [
    (lambda L: L.Permute((2, 1, 3), name="swap"), ["'swap'", "Permute"]),
    (lambda L: L.Resizing(5, 5, name="resize"), ["'resize'", "Resizing"]),
    (lambda L: L.UpSampling2D(2, interpolation="bicubic", name="up"), ["'up'", "bicubic"]),
])
def test_layers_without_a_rule_raise(keras, build, words):
    x = keras.Input((8, 8, 1))
    y = build(keras.layers)(keras.layers.Conv2D(2, 3)(x))
    with pytest.raises(UnsupportedLayerError) as info:
        spec.from_keras(keras.Model(x, y))
    for word in words:
        assert word in str(info.value)


def test_non_image_inputs_are_refused(keras):
    x = keras.Input((8, 3))
    with pytest.raises(UnsupportedLayerError, match=r"shape \(None, 8, 3\).*\(batch, H, W, C\)"):
        spec.from_keras(keras.Model(x, keras.layers.Conv1D(2, 3)(x)))


def test_spatial_concatenation_is_refused(keras):
    L = keras.layers
    x = keras.Input((8, 8, 1))
    y = L.Concatenate(axis=1, name="stack")([x, x])
    with pytest.raises(UnsupportedLayerError, match="'stack'.*axis 1"):
        spec.from_keras(keras.Model(x, y))
