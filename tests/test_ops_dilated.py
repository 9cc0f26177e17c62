"""Dilated convolution: the inflated kernel, the correct backward pass and seed 000's broken one."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests._hypothesis import examples
from tests.test_ops_tf_reference import FLOAT32_TOL, NUMERIC_TOL, assert_close, tf_conv2d, tf_value_and_grads

from course_utils.ops import (
    check_gradients,
    conv2d_forward,
    dilate_kernel,
    dilated_conv2d_backward,
    dilated_conv2d_backward_broken,
)

BROKEN_MIN_ERROR = 1e-2


@settings(max_examples=examples(15), deadline=None)
@given(seed=st.integers(0, 2**16), k=st.integers(1, 3), d=st.integers(1, 4))
def test_inflated_kernel_is_the_dilated_convolution(tf, seed, k, d):
    """An ordinary convolution with the zero-filled kernel == tf.nn.conv2d(dilations=d)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((2, 12, 11, 2)).astype(np.float32)
    w = rng.standard_normal((k, k, 2, 3)).astype(np.float32)
    inflated = dilate_kernel(w, d)
    assert inflated.shape == ((k - 1) * d + 1, (k - 1) * d + 1, 2, 3)
    out, _ = conv2d_forward(x, inflated, None, padding="same")
    assert_close(out, tf.nn.conv2d(x, w, 1, "SAME", dilations=d).numpy(), FLOAT32_TOL, "inflated")


@settings(max_examples=examples(15), deadline=None)
@given(
    seed=st.integers(0, 2**16),
    d=st.sampled_from([1, 2, 3, (2, 1)]),
    stride=st.sampled_from([1, 2]),
    padding=st.sampled_from(["same", "valid", 1]),
)
def test_correct_backward_matches_tensorflow(tf, seed, d, stride, padding):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((2, 9, 10, 3)).astype(np.float32)
    w = rng.standard_normal((3, 3, 3, 4)).astype(np.float32)
    b = rng.standard_normal(4).astype(np.float32)
    out, cache = conv2d_forward(x, w, b, stride=stride, padding=padding, dilation=d)
    dout = rng.standard_normal(out.shape).astype(np.float32)
    args = dict(stride=stride, padding=padding, dilation=d)
    _, grads_tf = tf_value_and_grads(tf, lambda x, w, b: tf_conv2d(tf, x, w, **args) + b, [x, w, b], dout)
    for grad, ref, what in zip(dilated_conv2d_backward(dout, cache), grads_tf, ("dx", "dw", "db")):
        assert_close(grad, ref, FLOAT32_TOL, what)


def _dilated_problem(seed=0, d=2):
    rng = np.random.default_rng(seed)
    x, w, b = rng.standard_normal((2, 9, 9, 3)), rng.standard_normal((3, 3, 3, 4)), rng.standard_normal(4)

    def forward(x, w, b):
        return conv2d_forward(x, w, b, padding="same", dilation=d)

    return forward, [x, w, b]


def test_broken_dilated_backprop_fails_the_gradient_check(capsys):
    """Seed 000: the hand-written dilated backprop was broken. The gradient check shows
    by how much: the correct version agrees to < 1e-7, the broken one is off by O(1)."""
    forward, inputs = _dilated_problem(d=2)
    correct = check_gradients(forward, dilated_conv2d_backward, inputs)
    broken = check_gradients(forward, dilated_conv2d_backward_broken, inputs)
    table = capsys.readouterr().out
    with capsys.disabled():
        print("\n" + table)
    assert max(correct.values()) < NUMERIC_TOL, correct
    assert broken["x"] > BROKEN_MIN_ERROR and broken["w"] > BROKEN_MIN_ERROR, broken
    assert broken["b"] < NUMERIC_TOL  # only the bias gradient survives the bug
    assert "WRONG" in table


@pytest.mark.parametrize("d", [2, 4, 8, 16])
def test_broken_backprop_is_wrong_for_every_dilation_of_the_context_module(d):
    """The context module's dilations 2, 4, 8, 16 (seed 000) all expose the bug."""
    rng = np.random.default_rng(d)
    x, w = rng.standard_normal((1, 2 * d + 3, 2 * d + 3, 2)), rng.standard_normal((3, 3, 2, 2))
    out, cache = conv2d_forward(x, w, None, padding="same", dilation=d)
    dout = rng.standard_normal(out.shape)
    dx_ok, dw_ok, _ = dilated_conv2d_backward(dout, cache)
    dx_bad, dw_bad, _ = dilated_conv2d_backward_broken(dout, cache)
    assert dx_bad.shape == dx_ok.shape and dw_bad.shape == dw_ok.shape
    errors = {
        "dx": float(np.max(np.abs(dx_bad - dx_ok)) / np.max(np.abs(dx_ok))),
        "dw": float(np.max(np.abs(dw_bad - dw_ok)) / np.max(np.abs(dw_ok))),
    }
    assert min(errors.values()) > BROKEN_MIN_ERROR, errors


def test_broken_backprop_is_right_without_dilation():
    """With d = 1 the bug is invisible: why a test suite must try d > 1."""
    forward, inputs = _dilated_problem(d=1)
    errors = check_gradients(forward, dilated_conv2d_backward_broken, inputs, verbose=False)
    assert max(errors.values()) < NUMERIC_TOL, errors


def test_groups_are_refused():
    x, w = np.zeros((1, 5, 5, 2)), np.zeros((3, 3, 1, 2))
    _, cache = conv2d_forward(x, w, None, dilation=2, padding="same", groups=2)
    with pytest.raises(ValueError, match="only groups=1"):
        dilated_conv2d_backward(np.zeros((1, 5, 5, 2)), cache)
