"""Transposed convolution against the seed's exact example, Keras ``Conv2DTranspose`` and
numerical gradients."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests._hypothesis import examples
from tests.test_ops_tf_reference import FLOAT32_TOL, NUMERIC_TOL, assert_close

from course_utils.ops import (
    check_gradients,
    conv2d_transpose_backward,
    conv2d_transpose_forward,
)

SEED_INPUT = [[0.0, 1.0], [2.0, 3.0]]


@pytest.mark.parametrize(
    "kernel, expected",
    [
        # seed 002: nn.ConvTranspose2d(1, 1, kernel_size=2, stride=2, padding=0, bias=False)
        ([[0.0, 1.0], [2.0, 3.0]], [[0, 0, 0, 1], [0, 0, 2, 3], [0, 2, 0, 3], [4, 6, 6, 9]]),
        ([[4.0, 1.0], [2.0, 3.0]], [[0, 0, 4, 1], [0, 0, 2, 3], [8, 2, 12, 3], [4, 6, 6, 9]]),
    ],
)
def test_seed_002_two_by_two_example(kernel, expected):
    x = np.array(SEED_INPUT).reshape(1, 2, 2, 1)
    w = np.array(kernel).reshape(2, 2, 1, 1)
    out, _ = conv2d_transpose_forward(x, w, None, stride=2)
    assert out.shape == (1, 4, 4, 1)
    np.testing.assert_array_equal(out[0, :, :, 0], np.array(expected, dtype=float))


@st.composite
def transposed_cases(draw):
    kernel = (draw(st.integers(1, 4)), draw(st.integers(1, 3)))
    stride = draw(st.sampled_from([1, 2, 3, (2, 1)]))
    dilation = draw(st.sampled_from([1, 1, 2]))
    padding = draw(st.sampled_from(["valid", "same"]))
    max_pad = min(stride) if isinstance(stride, tuple) else stride
    output_padding = draw(st.sampled_from([None, *range(max_pad)]))
    n, h, w = draw(st.integers(1, 2)), draw(st.integers(1, 5)), draw(st.integers(1, 5))
    c_in, c_out = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    x = rng.standard_normal((n, h, w, c_in))
    weights = rng.standard_normal((*kernel, c_out, c_in))  # Keras layout
    bias = rng.standard_normal(c_out)
    args = dict(stride=stride, padding=padding, output_padding=output_padding, dilation=dilation)
    return rng, x, weights, bias, args


def keras_conv2d_transpose(keras, w, b, args):
    """A built Keras layer with our weights, and the taps of its kernel that are ours.

    Keras refuses stride > 1 together with dilation > 1, and TensorFlow's CPU kernels
    refuse dilation > 1 for some shapes; the layer is therefore built with the
    equivalent zero-inserted ("inflated") kernel and dilation 1 (for d = 1 that is w).
    """
    d = args["dilation"]
    kernel = np.zeros(((w.shape[0] - 1) * d + 1, (w.shape[1] - 1) * d + 1, *w.shape[2:]), w.dtype)
    kernel[::d, ::d] = w
    layer = keras.layers.Conv2DTranspose(
        filters=w.shape[2],
        kernel_size=kernel.shape[:2],
        strides=args["stride"],
        padding=args["padding"],
        output_padding=args["output_padding"],
    )
    layer.build((None, None, None, w.shape[3]))
    layer.set_weights([kernel, b])
    return layer, (slice(None, None, d), slice(None, None, d))


@settings(max_examples=examples(40), deadline=None)
@given(case=transposed_cases())
def test_matches_keras_conv2d_transpose(tf, keras, case):
    rng, x, w, b, args = case
    x, w, b = (v.astype(np.float32) for v in (x, w, b))
    layer, taps = keras_conv2d_transpose(keras, w, b, args)
    try:
        out, cache = conv2d_transpose_forward(x, w, b, **args)
    except ValueError:
        # we refuse only what Keras/TensorFlow refuse (inconsistent output_padding)
        # or turn into an empty output (e.g. 'same', even kernel, output_padding=0)
        try:
            refused = layer(x).shape.num_elements() == 0
        except Exception:
            refused = True
        assert refused, "Keras accepts arguments that conv2d_transpose_forward refuses"
        return
    x_t = tf.constant(x)
    dout = rng.standard_normal(out.shape).astype(np.float32)
    with tf.GradientTape() as tape:
        tape.watch(x_t)
        out_keras = layer(x_t)
    dx_k, dw_k, db_k = tape.gradient(
        out_keras, [x_t, layer.kernel, layer.bias], output_gradients=tf.constant(dout)
    )
    assert out.shape == tuple(out_keras.shape) == tuple(layer.compute_output_shape(x.shape))
    assert_close(out, out_keras.numpy(), FLOAT32_TOL, "forward")
    dx, dw, db = conv2d_transpose_backward(dout, cache)
    assert_close(dx, dx_k.numpy(), FLOAT32_TOL, "dx")
    assert_close(dw, dw_k.numpy()[taps], FLOAT32_TOL, "dw")
    assert_close(db, db_k.numpy(), FLOAT32_TOL, "db")


@settings(max_examples=examples(10), deadline=None)
@given(case=transposed_cases())
def test_matches_numerical_gradient(case):
    _, x, w, b, args = case
    try:
        conv2d_transpose_forward(x, w, b, **args)
    except ValueError:
        return  # covered by the Keras test
    errors = check_gradients(
        lambda x, w, b: conv2d_transpose_forward(x, w, b, **args),
        conv2d_transpose_backward,
        [x, w, b],
        verbose=False,
    )
    assert max(errors.values()) < NUMERIC_TOL, errors


@pytest.mark.parametrize("padding, stride, output_padding", [(1, 2, 1), (2, 3, 0), (0, 1, None)])
def test_integer_padding_matches_tf_conv2d_transpose(tf, padding, stride, output_padding):
    """PyTorch-style integer padding: (n - 1) s - 2p + k + output_padding, as tf.nn.conv2d_transpose
    with explicit padding computes it."""
    rng = np.random.default_rng(padding)
    x = rng.standard_normal((2, 4, 3, 2)).astype(np.float32)
    w = rng.standard_normal((3, 3, 5, 2)).astype(np.float32)
    out, _ = conv2d_transpose_forward(x, w, None, stride, padding, output_padding)
    ref = tf.nn.conv2d_transpose(
        x, w, out.shape, stride, [[0, 0], [padding, padding], [padding, padding], [0, 0]]
    )
    assert_close(out, ref.numpy(), FLOAT32_TOL, "integer padding")


def test_kernel_layout_mistake_is_explained():
    x = np.zeros((1, 3, 3, 4))
    with pytest.raises(ValueError, match=r"\(3, 3, 4, 2\).*\(1, 3, 3, 4\).*LAST axis must be C_in = 4"):
        conv2d_transpose_forward(x, np.zeros((3, 3, 4, 2)), None)


def test_inconsistent_output_padding_is_explained():
    with pytest.raises(ValueError, match="output_padding"):
        conv2d_transpose_forward(np.zeros((1, 3, 3, 1)), np.zeros((2, 2, 1, 1)), None, 2, "same", 0)
    with pytest.raises(ValueError, match="smaller than the stride"):
        conv2d_transpose_forward(np.zeros((1, 3, 3, 1)), np.zeros((2, 2, 1, 1)), None, 2, "valid", 2)
