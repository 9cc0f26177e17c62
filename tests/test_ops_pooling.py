"""Max and average pooling against Keras / TensorFlow, numerical gradients and seed 004."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from tests._hypothesis import examples
from tests.test_ops_tf_reference import FLOAT32_TOL, NUMERIC_TOL, assert_close, tf_value_and_grads

from course_utils.ops import (
    avg_pool_backward,
    avg_pool_forward,
    check_gradients,
    max_pool_backward,
    max_pool_forward,
)
from course_utils.ops._validate import window_geometry

LAYERS = {
    "max": (max_pool_forward, max_pool_backward, "MaxPooling2D"),
    "avg": (avg_pool_forward, avg_pool_backward, "AveragePooling2D"),
}


@st.composite
def pool_cases(draw):
    pool = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    stride = draw(st.sampled_from([None, 1, 2, 3, (1, 2)]))
    padding = draw(st.sampled_from(["valid", "same"]))
    hw = (draw(st.integers(1, 8)), draw(st.integers(1, 8)))
    try:
        window_geometry(hw, pool, pool if stride is None else stride, padding, 1, "test")
    except ValueError:
        assume(False)
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    # distinct values: no ties, so the arg-max (and TensorFlow's choice) is unique
    n, c = draw(st.integers(1, 2)), draw(st.integers(1, 3))
    x = rng.permutation(n * hw[0] * hw[1] * c).reshape(n, *hw, c) / 7.0 - 3.0
    return rng, x, dict(pool_size=pool, stride=stride, padding=padding)


@pytest.mark.parametrize("kind", ["max", "avg"])
@settings(max_examples=examples(30), deadline=None)
@given(case=pool_cases())
def test_matches_keras_pooling_layers(tf, keras, kind, case):
    rng, x, a = case
    forward, backward, layer_name = LAYERS[kind]
    x = x.astype(np.float32)
    out, cache = forward(x, **a)
    layer = getattr(keras.layers, layer_name)(a["pool_size"], a["stride"], a["padding"])
    dout = rng.standard_normal(out.shape).astype(np.float32)
    out_tf, (dx_tf,) = tf_value_and_grads(tf, layer, [x], dout)
    assert out.shape == out_tf.shape
    assert_close(out, out_tf, FLOAT32_TOL, f"{kind} forward")
    assert_close(backward(dout, cache), dx_tf, FLOAT32_TOL, f"{kind} backward")


@pytest.mark.parametrize("kind", ["max", "avg"])
@settings(max_examples=examples(10), deadline=None)
@given(case=pool_cases())
def test_matches_numerical_gradient(kind, case):
    _, x, a = case
    forward, backward, _ = LAYERS[kind]
    errors = check_gradients(lambda x: forward(x, **a), backward, [x], verbose=False)
    assert errors["x"] < NUMERIC_TOL, errors


def test_seed_004_max_pool_routes_gradient_to_the_arg_max():
    """Seed 004's 4x4 example: 2x2 max pooling, dH^l/dH^{l-1} is 1 exactly at each
    window's maximum: [[0,0,1,0],[0,1,0,0],[0,1,0,0],[0,0,1,0]]."""
    routing = np.array([[0, 0, 1, 0], [0, 1, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0]], dtype=float)
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (4, 4)) + 2 * routing  # the marked pixel wins its window
    out, cache = max_pool_forward(x.reshape(1, 4, 4, 1), 2)
    np.testing.assert_array_equal(out[0, :, :, 0], [[x[1, 1], x[0, 2]], [x[2, 1], x[3, 2]]])
    dx = max_pool_backward(np.ones((1, 2, 2, 1)), cache)
    np.testing.assert_array_equal(dx[0, :, :, 0], routing)
    # dE/dH^{l-1} = dE/dH^l (upsampled) x dH^l/dH^{l-1}
    dout = np.array([[1.5, -2.0], [0.25, 4.0]]).reshape(1, 2, 2, 1)
    upsampled = np.kron(dout[0, :, :, 0], np.ones((2, 2)))
    np.testing.assert_array_equal(max_pool_backward(dout, cache)[0, :, :, 0], upsampled * routing)


def test_stride_defaults_to_pool_size_and_same_padding_shape():
    out, _ = max_pool_forward(np.zeros((1, 7, 5, 2)), 3)
    assert out.shape == (1, 2, 1, 2)
    out, _ = avg_pool_forward(np.zeros((1, 7, 5, 2)), 3, 2, "same")
    assert out.shape == (1, 4, 3, 2)


def test_padding_must_be_keras_style():
    with pytest.raises(ValueError, match="'valid' or 'same'"):
        max_pool_forward(np.zeros((1, 4, 4, 1)), 2, padding=1)
    with pytest.raises(ValueError, match=r"3x3 pool window does not fit in the 2x2 input"):
        avg_pool_forward(np.zeros((1, 2, 2, 1)), 3)


@pytest.mark.parametrize("pool, stride, padding", [(2, 2, "valid"), (3, 1, "same"), (3, 2, "valid")])
def test_ties_go_to_the_first_maximum_like_tensorflow(tf, pool, stride, padding):
    """After a ReLU many windows are all zeros: the gradient must go to one input only,
    the first maximum in row-major order, exactly as TensorFlow routes it."""
    rng = np.random.default_rng(pool)
    x = np.maximum(rng.integers(-3, 3, (2, 7, 6, 3)), 0).astype(np.float32)  # many ties
    out, cache = max_pool_forward(x, pool, stride, padding)
    dout = rng.standard_normal(out.shape).astype(np.float32)
    _, (dx_tf,) = tf_value_and_grads(tf, lambda x: tf.nn.max_pool2d(x, pool, stride, padding.upper()), [x], dout)
    np.testing.assert_allclose(max_pool_backward(dout, cache), dx_tf, rtol=1e-6, atol=1e-6)
