"""Model builders of notebook 03: the context module, its identity initialisation, the numpy twin."""

from __future__ import annotations

import numpy as np
import pytest

from course_utils import models, numpy_net, ops, params
from course_utils import receptive_field as rf


def test_architecture_table_matches_yu_and_koltun():
    # The paper's table (seed 003) is the specification.
    assert rf.receptive_field_table(models.context_layers())["rf"].tolist()[1:] == [3, 5, 9, 17, 33, 65, 67, 67]
    assert models.context_widths(4) == [4] * 8
    assert models.context_widths(1, "large") == [2, 2, 4, 8, 16, 32, 32, 1]
    with pytest.raises(ValueError, match="basic"):
        models.context_widths(4, "huge")


@pytest.mark.parametrize("c", [1, 5, 21])
def test_basic_module_has_64_c_squared_weights(c):
    table = params.parameter_table(models.context_layers(c), input_size=8, input_channels=c)
    assert table.attrs["total"] == 64 * c * c + 8 * c
    assert models.context_module(c).count_params() == table.attrs["total"]


def test_identity_kernel_copies_channels_and_groups():
    x = np.random.default_rng(0).uniform(0, 1, (2, 7, 7, 3))
    out, _ = ops.conv2d_forward(x, models.identity_kernel(3, 3, 3, 3), None, padding="same")
    assert np.array_equal(out, x)
    # Large module: widths change, the composition is still the identity on non-negative inputs.
    h, c = x, 3
    for k, width in zip(models.CONTEXT_KERNELS, models.context_widths(c, "large")):
        h, _ = ops.conv2d_forward(h, models.identity_kernel(k, k, h.shape[-1], width, base=c), None, padding="same")
        h = np.maximum(h, 0)
    assert np.allclose(h, x)
    with pytest.raises(ValueError, match="odd"):
        models.identity_kernel(2, 2, 3, 3)
    noisy = models.identity_kernel(3, 3, 2, 2, noise=0.01, seed=1)
    assert 0 < np.abs(noisy - models.identity_kernel(3, 3, 2, 2)).max() < 0.1


def test_identity_initialised_modules_pass_their_input_through(keras):
    x = np.random.default_rng(1).uniform(0, 1, (2, 20, 20, 4)).astype("float32")
    assert np.array_equal(models.context_module(4)(x).numpy(), x)
    assert np.allclose(models.context_module(4, variant="large")(x).numpy(), x, atol=1e-5)
    assert not np.allclose(models.context_module(4, init="random_normal")(x).numpy(), x)
    with pytest.raises(ValueError, match="init must be"):
        models.context_module(4, init="zeros")


def test_conv_identity_is_a_serialisable_keras_initializer(keras):
    init = models.ConvIdentity(base=2)
    restored = keras.initializers.deserialize(keras.initializers.serialize(init))
    assert isinstance(restored, models.ConvIdentity) and restored.base == 2
    assert np.array_equal(restored((3, 3, 2, 4)).numpy(), models.identity_kernel(3, 3, 2, 4, base=2))
    with pytest.raises(ValueError, match="Conv2D kernels"):
        init((4, 4))


def test_classifier_shapes_parameters_and_receptive_field(keras):
    model = models.context_classifier((16, 16, 1), 3, channels=2)
    assert model.output_shape == (None, 3)
    assert params.parameter_table(model).attrs["total"] == model.count_params()
    table = rf.receptive_field_table(model)
    assert table.set_index("layer").loc["context_module/ctx8", "rf"] == 69  # front-end 3 + module 67 - 1


@pytest.fixture(scope="module")
def batch():
    rng = np.random.default_rng(2)
    return rng.uniform(0, 1, (6, 12, 12, 1)).astype("float32"), rng.integers(0, 3, 6)


def test_numpy_twin_matches_keras_forward_and_autodiff(tf, keras, batch):
    x, y = batch
    net = numpy_net.NumpyContextNet((12, 12, 1), 3, channels=2, init="he_normal", seed=3)
    model = net.to_keras()
    logits, _ = net.forward(x)
    assert np.allclose(logits, model(x).numpy(), atol=1e-4)
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(y, model(x), from_logits=True))
    auto = tape.gradient(loss, model.trainable_weights)
    numpy_loss, grads = net.loss_and_grads(x, y, ops.dilated_conv2d_backward)
    assert numpy_loss == pytest.approx(float(loss), rel=1e-5)
    ours = [g for name in ["front_end"] + [f"ctx{i}" for i in range(1, 9)] + ["logits"] for g in grads[name]]
    assert max(ops.rel_error(a, b.numpy()) for a, b in zip(ours, auto)) < 1e-4


def test_broken_backprop_is_wrong_below_the_first_dilated_layer(batch):
    x, y = batch
    net = numpy_net.NumpyContextNet((12, 12, 1), 3, channels=2, init="he_normal", seed=3)
    _, good = net.loss_and_grads(x, y)
    _, bad = net.loss_and_grads(x, y, ops.dilated_conv2d_backward_broken)
    for name in ("logits", "ctx8", "ctx7"):
        assert all(np.allclose(a, b, atol=1e-6) for a, b in zip(good[name], bad[name]))
    assert ops.rel_error(good["ctx6"][0], bad["ctx6"][0]) > 0.1
    assert ops.rel_error(good["front_end"][0], bad["front_end"][0]) > 0.1


def test_train_numpy_learns_a_separable_toy_problem():
    rng = np.random.default_rng(4)
    y = rng.integers(0, 2, 64)
    x = (rng.uniform(0, 0.3, (64, 8, 8, 1)) + 0.6 * y[:, None, None, None]).astype("float32")
    net = numpy_net.NumpyContextNet((8, 8, 1), 2, channels=2, seed=0)
    losses = numpy_net.train_numpy(net, x, y, epochs=4, batch_size=16, learning_rate=1e-2)
    assert len(losses) == 16 and np.mean(losses[-4:]) < np.mean(losses[:4])
    assert np.mean(net.predict(x) == y) > 0.9
    with pytest.raises(ValueError, match="init must be"):
        numpy_net.NumpyContextNet((8, 8, 1), 2, init="ones")


# ----------------------------------------------------------------------------- dense prediction (notebook 03)
def test_dense_predictor_layers_parameters_and_shape(keras):
    # by hand, 3 input channels, widths (4, 5), 3 classes:
    # front1 3*3*3*4 + 4 = 112, front2 3*3*4*5 + 5 = 185, scores 1*1*5*3 + 3 = 18: 315
    # Basic module on 3 channels: 7 * (3*3*3*3 + 3) + (1*1*3*3 + 3) = 588 + 12 = 600
    plain = models.dense_predictor(3, widths=(4, 5), input_shape=(16, 16, 3))
    context = models.dense_predictor(3, widths=(4, 5), context="basic", input_shape=(16, 16, 3))
    assert [layer.name for layer in plain.layers] == ["image", "front1", "front2", "scores"]
    assert [layer.name for layer in context.layers] == ["image", "front1", "front2", "scores", "context_module"]
    assert plain.count_params() == 315
    assert context.count_params() == 315 + 600
    assert plain.output_shape == context.output_shape == (None, 16, 16, 3)  # full resolution
    assert [layer.strides for layer in plain.layers[1:]] == [(1, 1)] * 3
    # receptive field: two 3x3 convolutions (5), and the module adds 66 (67 - 1)
    assert rf.receptive_field_table(plain)["rf"].iloc[-1] == 5
    assert rf.receptive_field_table(context)["rf"].iloc[-1] == 5 + 66


def test_dense_predictor_with_identity_module_starts_as_the_plain_network_truncated(keras):
    x = np.random.default_rng(0).uniform(0, 1, (2, 12, 12, 3)).astype("float32")
    plain = models.dense_predictor(4, widths=(6,), seed=3)
    context = models.dense_predictor(4, widths=(6,), context="basic", init="identity", seed=3)
    # same seed, same front-end and classifier; the identity module returns max(scores, 0)
    np.testing.assert_array_equal(context(x).numpy(), np.maximum(plain(x).numpy(), 0))
    other = models.dense_predictor(4, widths=(6,), seed=4)
    assert not np.allclose(other(x).numpy(), plain(x).numpy())


def test_dense_predictor_weights_from_copies_front_end_and_classifier_only(keras):
    x = np.random.default_rng(1).uniform(0, 1, (2, 10, 10, 3)).astype("float32")
    trained = models.dense_predictor(4, widths=(6, 5), seed=7)     # stands in for a trained front-end
    copy = models.dense_predictor(4, widths=(6, 5), seed=0, weights_from=trained)
    np.testing.assert_array_equal(copy(x).numpy(), trained(x).numpy())
    with_module = models.dense_predictor(4, widths=(6, 5), context="basic", seed=0, weights_from=trained)
    # the module keeps its identity initialisation: max(scores of the trained network, 0)
    np.testing.assert_array_equal(with_module(x).numpy(), np.maximum(trained(x).numpy(), 0))
    # copies, not shared layers: changing the source leaves the copy alone
    before = copy(x).numpy()
    trained.get_layer("scores").set_weights([w + 1 for w in trained.get_layer("scores").get_weights()])
    np.testing.assert_array_equal(copy(x).numpy(), before)


def test_dense_predictor_weights_from_a_different_network_says_what_to_build(keras):
    with pytest.raises(ValueError, match=r"layer 'front1' .*same widths"):
        models.dense_predictor(4, widths=(6,), weights_from=models.dense_predictor(4, widths=(7,)))
    with pytest.raises(ValueError, match=r"no layer 'front2'.*widths=\(6, 6\)"):
        models.dense_predictor(4, widths=(6, 6), weights_from=models.dense_predictor(4, widths=(6,)))


def test_dilated_front_end_reads_kinds_and_strides_as_spec_does():
    # Keras spellings (type, kernel_size, strides, dilation_rate) and a pool whose stride is its kernel
    layers_ = [{"name": "c1", "type": "conv", "kernel_size": 3, "filters": 4},
               {"name": "p1", "type": "maxpool", "kernel_size": 3, "strides": 2},
               {"name": "c2", "type": "conv", "kernel_size": 3, "dilation_rate": 3, "filters": 4},
               {"name": "p2", "kind": "avgpool", "kernel": 2},
               {"name": "c3", "kind": "conv", "kernel": 3, "filters": 4}]
    front = models.dilated_front_end(layers_, remove=("p1", "p2"))
    assert [d["name"] for d in front] == ["c1", "c2", "c3"]
    assert [d.get("dilation", 1) for d in front] == [1, 3 * 2, 2 * 2]
    # by hand: the original RF: c1 3, p1 +2 (jump 2), c2 (span 7) +12, p2 +2 (jump 4), c3 +8 = 27;
    # the front-end: c1 3, c2 (span 13) +12, c3 (span 9) +8 = 23, at jump 1
    assert rf.receptive_field_table(layers_)["rf"].iloc[-1] == 27
    last = rf.receptive_field_table(front).iloc[-1]
    assert (last["rf"], last["jump"]) == (23, 1)
    # a dilation that differs along the two axes is multiplied along each
    uneven = [{"name": "p", "kind": "maxpool", "kernel": 2},
              {"name": "c", "kind": "conv", "kernel": 3, "dilation": (2, 1), "filters": 2}]
    assert models.dilated_front_end(uneven, remove=("p",))[0]["dilation"] == (4, 2)


def test_vgg16_layers_and_the_dilated_front_end():
    vgg16 = models.vgg16_layers()
    # 13 convolutions, 5 poolings, fc6 and fc7
    assert len(vgg16) == 13 + 5 + 2
    # VGG-16's convolutional part has 14,714,688 parameters (Keras' VGG16(include_top=False))
    convs = [layer for layer in vgg16 if layer["name"] not in ("fc6", "fc7")]
    assert params.parameter_table(convs, input_size=224, input_channels=3).attrs["total"] == 14_714_688
    front = models.dilated_front_end(vgg16)
    names = [layer["name"] for layer in front]
    assert len(front) == 18 and "pool4" not in names and "pool5" not in names
    dilation = {layer["name"]: layer.get("dilation", 1) for layer in front}
    assert [dilation[n] for n in ("conv4_3", "conv5_1", "conv5_2", "conv5_3", "fc6", "fc7")] == [1, 2, 2, 2, 4, 1]
    assert all("dilation" not in layer for layer in vgg16)  # the input list is left alone
    # by hand: RF 92 at conv4_3 (jump 8); block 5 adds 3 * (5 - 1) * 8 = 96, fc6 (span 25) 24 * 8 = 192
    last = rf.receptive_field_table(front).iloc[-1]
    assert (last["rf"], last["jump"]) == (92 + 96 + 192, 8)
    # VGG-16: pool4 +8 (jump 16), block 5 +3*2*16, pool5 +16 (jump 32), fc6 +6*32
    last = rf.receptive_field_table(vgg16).iloc[-1]
    assert (last["rf"], last["jump"]) == (92 + 8 + 96 + 16 + 192, 32)
    # dilation changes no parameter count
    assert (params.parameter_table(front, input_size=224, input_channels=3).attrs["total"]
            == params.parameter_table(vgg16, input_size=224, input_channels=3).attrs["total"])
    with pytest.raises(ValueError, match="pool9"):
        models.dilated_front_end(vgg16, remove=("pool9",))
