"""Convolution layers of ``course_utils.ops`` against TensorFlow and numerical gradients."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from tests._hypothesis import examples
from tests.test_ops_tf_reference import (
    FLOAT32_TOL,
    NUMERIC_TOL,
    assert_close,
    tf_conv2d,
    tf_padding,
    tf_value_and_grads,
)

from course_utils.ops import (
    check_gradients,
    col2im,
    conv2d_backward,
    conv2d_backward_naive,
    conv2d_forward,
    conv2d_forward_naive,
    im2col,
)
from course_utils.ops._validate import window_geometry

PADDINGS = ["valid", "same", 0, 1, 2, (1, 0), ((0, 2), (1, 1))]


@st.composite
def conv_cases(draw, max_size: int = 9, max_batch: int = 2):
    """A random convolution problem whose output is not empty."""
    groups = draw(st.sampled_from([1, 1, 2, 3]))
    c_in = groups * draw(st.integers(1, 2))
    c_out = groups * draw(st.integers(1, 2))
    kernel = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    stride = draw(st.sampled_from([1, 2, 3, (1, 2), (2, 1)]))
    dilation = draw(st.sampled_from([1, 2, 3, (2, 1)]))
    padding = draw(st.sampled_from(PADDINGS))
    hw = (draw(st.integers(1, max_size)), draw(st.integers(1, max_size)))
    try:
        window_geometry(hw, kernel, stride, padding, dilation, "test")
    except ValueError:
        assume(False)  # the kernel does not fit: not a valid problem
    return dict(
        x_shape=(draw(st.integers(1, max_batch)), *hw, c_in),
        w_shape=(*kernel, c_in // groups, c_out),
        args=dict(stride=stride, padding=padding, dilation=dilation, groups=groups),
        seed=draw(st.integers(0, 2**16)),
    )


def random_problem(case, dtype):
    rng = np.random.default_rng(case["seed"])
    x = rng.standard_normal(case["x_shape"]).astype(dtype)
    w = rng.standard_normal(case["w_shape"]).astype(dtype)
    b = rng.standard_normal(case["w_shape"][3]).astype(dtype)
    return rng, x, w, b


@settings(max_examples=examples(40), deadline=None)
@given(case=conv_cases())
def test_forward_and_backward_match_tensorflow(tf, case):
    """Vectorised and naive, forward and backward, equal TensorFlow in float32."""
    rng, x, w, b = random_problem(case, np.float32)
    a = case["args"]
    out, cache = conv2d_forward(x, w, b, **a)
    native = tf.nn.conv2d(x, w, a["stride"], tf_padding(a["padding"]), dilations=a["dilation"]) + b
    assert out.dtype == np.float32
    assert out.shape == native.shape
    assert_close(out, native.numpy(), FLOAT32_TOL, "conv2d_forward")

    dout = rng.standard_normal(out.shape).astype(np.float32)
    _, (dx_tf, dw_tf, db_tf) = tf_value_and_grads(
        tf, lambda x, w, b: tf_conv2d(tf, x, w, **a) + b, [x, w, b], dout
    )
    for grad, ref, what in zip(conv2d_backward(dout, cache), (dx_tf, dw_tf, db_tf), ("dx", "dw", "db")):
        assert grad.dtype == np.float32
        assert_close(grad, ref, FLOAT32_TOL, f"conv2d_backward {what}")


@settings(max_examples=examples(15), deadline=None)
@given(case=conv_cases(max_size=6))
def test_naive_loops_match_tensorflow(tf, case):
    """The loop version, with either backward function, also equals TensorFlow."""
    rng, x, w, b = random_problem(case, np.float32)
    a = case["args"]
    out, cache = conv2d_forward_naive(x, w, b, **a)
    dout = rng.standard_normal(out.shape).astype(np.float32)
    out_tf, grads_tf = tf_value_and_grads(tf, lambda x, w, b: tf_conv2d(tf, x, w, **a) + b, [x, w, b], dout)
    assert_close(out, out_tf, FLOAT32_TOL, "conv2d_forward_naive")
    # the naive cache has no im2col matrix; the vectorised backward recomputes it
    for backward in (conv2d_backward_naive, conv2d_backward):
        for grad, ref, what in zip(backward(dout, cache), grads_tf, ("dx", "dw", "db")):
            assert_close(grad, ref, FLOAT32_TOL, f"{backward.__name__} {what}")


@settings(max_examples=examples(12), deadline=None)
@given(case=conv_cases(max_size=6))
def test_backward_matches_numerical_gradient(case):
    _, x, w, b = random_problem(case, np.float64)
    a = case["args"]
    errors = check_gradients(
        lambda x, w, b: conv2d_forward(x, w, b, **a), conv2d_backward, [x, w, b], verbose=False
    )
    assert max(errors.values()) < NUMERIC_TOL, errors


def test_naive_backward_matches_numerical_gradient():
    rng = np.random.default_rng(4)
    x, w, b = rng.standard_normal((2, 5, 6, 4)), rng.standard_normal((3, 2, 2, 4)), rng.standard_normal(4)
    errors = check_gradients(
        lambda x, w, b: conv2d_forward_naive(x, w, b, stride=2, padding=1, dilation=(1, 2), groups=2),
        conv2d_backward_naive,
        [x, w, b],
        verbose=False,
    )
    assert max(errors.values()) < NUMERIC_TOL, errors


def test_seed_004_backprop_formulas(tf):
    """Seed 004, 3x3 input and 2x2 kernel: dE/dW is the correlation of the input with
    dE/dH, and dE/dX the full convolution of the zero-padded dE/dH with the rotated kernel
    (both evaluated with TensorFlow)."""
    x = np.arange(1.0, 10.0).reshape(1, 3, 3, 1)  # h^{l-1}_{11..33}
    w = np.array([[2.0, -1.0], [0.5, 3.0]]).reshape(2, 2, 1, 1)  # w_{11..22}
    dout = np.array([[1.0, -2.0], [0.5, 4.0]]).reshape(1, 2, 2, 1)  # dE/dh^l_{11..22}
    out, cache = conv2d_forward(x, w, 0.0 * np.ones(1))
    # h^l_11 = w11 h11 + w12 h12 + w21 h21 + w22 h22 (a correlation, no flip)
    assert out[0, 0, 0, 0] == pytest.approx(2 * 1 - 1 * 2 + 0.5 * 4 + 3 * 5)
    dx, dw, _ = conv2d_backward(dout, cache)
    dw_formula = tf.nn.conv2d(x.transpose(3, 1, 2, 0), dout.transpose(1, 2, 0, 3), 1, "VALID")
    rotated = w[::-1, ::-1]
    dx_formula = tf.nn.conv2d(np.pad(dout, ((0, 0), (1, 1), (1, 1), (0, 0))), rotated, 1, "VALID")
    assert_close(dw, dw_formula.numpy().transpose(1, 2, 0, 3), 1e-12, "dE/dW")
    assert_close(dx, dx_formula.numpy(), 1e-12, "dE/dX")
    # dE/dh_22 = dE/dh_11 w22 + dE/dh_12 w21 + dE/dh_21 w12 + dE/dh_22 w11 (the seed's line)
    assert dx[0, 1, 1, 0] == pytest.approx(1.0 * 3 + -2.0 * 0.5 + 0.5 * -1 + 4.0 * 2)


@settings(max_examples=examples(15), deadline=None)
@given(
    seed=st.integers(0, 2**16),
    kernel=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    stride=st.integers(1, 2),
    dilation=st.integers(1, 2),
    padding=st.sampled_from(["valid", "same"]),
)
def test_im2col_and_col2im_match_tensorflow_extract_patches(tf, seed, kernel, stride, dilation, padding):
    """im2col == tf.image.extract_patches; col2im == its gradient (the adjoint)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((2, 7, 6, 3)).astype(np.float32)
    try:
        cols = im2col(x, kernel, stride, padding, dilation)
    except ValueError:
        assume(False)
    dcols = rng.standard_normal(cols.shape).astype(np.float32)

    def patches(x):
        sizes, rates = [1, *kernel, 1], [1, dilation, dilation, 1]
        return tf.image.extract_patches(x, sizes, [1, stride, stride, 1], rates, padding.upper())

    patch_shape = patches(tf.constant(x)).shape  # (N, Ho, Wo, kh*kw*C)
    ref, (dx_ref,) = tf_value_and_grads(tf, patches, [x], dcols.reshape(patch_shape))
    assert_close(cols, ref.reshape(cols.shape), 1e-7, "im2col")
    assert_close(col2im(dcols, x.shape, kernel, stride, padding, dilation), dx_ref, FLOAT32_TOL, "col2im")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_is_kept(dtype):
    x = np.ones((1, 4, 4, 2), dtype)
    w = np.ones((3, 3, 2, 1), dtype)
    out, cache = conv2d_forward(x, w, None, padding="same")
    assert out.dtype == dtype
    assert all(g.dtype == dtype for g in conv2d_backward(np.ones_like(out), cache))


def test_integer_inputs_are_computed_in_float64():
    out, _ = conv2d_forward(np.ones((1, 3, 3, 1), int), np.ones((2, 2, 1, 1), int), [1])
    assert out.dtype == np.float64
    assert out[0, :, :, 0].tolist() == [[5.0, 5.0], [5.0, 5.0]]
