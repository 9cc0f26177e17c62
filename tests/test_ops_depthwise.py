"""Depthwise and depthwise-separable convolution against TensorFlow and numerical gradients."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from tests._hypothesis import examples
from tests.test_ops_tf_reference import FLOAT32_TOL, NUMERIC_TOL, assert_close, tf_padding, tf_value_and_grads

from course_utils.ops import (
    check_gradients,
    depthwise_conv2d_backward,
    depthwise_conv2d_forward,
    separable_conv2d_backward,
    separable_conv2d_forward,
)
from course_utils.ops._validate import window_geometry


@st.composite
def depthwise_cases(draw):
    c_in, multiplier = draw(st.integers(1, 3)), draw(st.integers(1, 2))
    kernel = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    # TensorFlow's depthwise op does not combine stride > 1 with dilation > 1, and its
    # gradient wants equal strides along both axes
    stride, dilation = draw(st.sampled_from([(1, 1), (2, 1), (3, 1), (1, 2), (1, 3), (1, (2, 1))]))
    padding = draw(st.sampled_from(["valid", "same", 1, ((1, 0), (0, 2))]))
    hw = (draw(st.integers(1, 8)), draw(st.integers(1, 8)))
    try:
        window_geometry(hw, kernel, stride, padding, dilation, "test")
    except ValueError:
        assume(False)
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    x = rng.standard_normal((draw(st.integers(1, 2)), *hw, c_in))
    w = rng.standard_normal((*kernel, c_in, multiplier))
    return rng, x, w, dict(stride=stride, padding=padding, dilation=dilation)


def _tf_pairs(value):
    return [value, value] if isinstance(value, int) else list(value)


@settings(max_examples=examples(30), deadline=None)
@given(case=depthwise_cases())
def test_depthwise_matches_tensorflow(tf, case):
    rng, x, w, a = case
    x, w = x.astype(np.float32), w.astype(np.float32)
    b = rng.standard_normal(w.shape[2] * w.shape[3]).astype(np.float32)
    out, cache = depthwise_conv2d_forward(x, w, b, **a)
    dout = rng.standard_normal(out.shape).astype(np.float32)

    def reference(x, w, b):
        strides = [1, *_tf_pairs(a["stride"]), 1]
        return tf.nn.depthwise_conv2d(
            x, w, strides, tf_padding(a["padding"]), dilations=_tf_pairs(a["dilation"])
        ) + b

    out_tf, grads_tf = tf_value_and_grads(tf, reference, [x, w, b], dout)
    assert_close(out, out_tf, FLOAT32_TOL, "depthwise forward")
    for grad, ref, what in zip(depthwise_conv2d_backward(dout, cache), grads_tf, ("dx", "dw", "db")):
        assert grad.shape == ref.shape
        assert_close(grad, ref, FLOAT32_TOL, f"depthwise {what}")


@settings(max_examples=examples(30), deadline=None)
@given(case=depthwise_cases(), c_out=st.integers(1, 4))
def test_separable_matches_tensorflow(tf, case, c_out):
    rng, x, dw, a = case
    assume(a["padding"] in ("valid", "same"))  # tf.nn.separable_conv2d takes no explicit padding
    x, dw = x.astype(np.float32), dw.astype(np.float32)
    pw = rng.standard_normal((1, 1, dw.shape[2] * dw.shape[3], c_out)).astype(np.float32)
    b = rng.standard_normal(c_out).astype(np.float32)
    out, cache = separable_conv2d_forward(x, dw, pw, b, **a)
    dout = rng.standard_normal(out.shape).astype(np.float32)

    def reference(x, dw, pw, b):
        strides = [1, *_tf_pairs(a["stride"]), 1]
        return tf.nn.separable_conv2d(
            x, dw, pw, strides, a["padding"].upper(), dilations=_tf_pairs(a["dilation"])
        ) + b

    out_tf, grads_tf = tf_value_and_grads(tf, reference, [x, dw, pw, b], dout)
    assert_close(out, out_tf, FLOAT32_TOL, "separable forward")
    names = ("dx", "d_depthwise", "d_pointwise", "db")
    for grad, ref, what in zip(separable_conv2d_backward(dout, cache), grads_tf, names):
        assert grad.shape == ref.shape
        assert_close(grad, ref, FLOAT32_TOL, f"separable {what}")


@settings(max_examples=examples(8), deadline=None)
@given(case=depthwise_cases())
def test_depthwise_and_separable_match_numerical_gradients(case):
    rng, x, w, a = case
    b = rng.standard_normal(w.shape[2] * w.shape[3])
    errors = check_gradients(
        lambda x, w, b: depthwise_conv2d_forward(x, w, b, **a), depthwise_conv2d_backward, [x, w, b], verbose=False
    )
    assert max(errors.values()) < NUMERIC_TOL, errors
    pw = rng.standard_normal((1, 1, w.shape[2] * w.shape[3], 2))
    errors = check_gradients(
        lambda x, dw, pw, b: separable_conv2d_forward(x, dw, pw, b, **a),
        separable_conv2d_backward,
        [x, w, pw, np.zeros(2)],
        verbose=False,
    )
    assert max(errors.values()) < NUMERIC_TOL, errors


def test_pointwise_shape_mismatch_is_explained():
    with pytest.raises(ValueError, match=r"pointwise_w has shape \(1, 1, 5, 4\).*\(1, 1, 6, C_out\)"):
        separable_conv2d_forward(np.zeros((1, 5, 5, 3)), np.zeros((3, 3, 3, 2)), np.zeros((1, 1, 5, 4)))
