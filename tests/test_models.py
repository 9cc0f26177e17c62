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
