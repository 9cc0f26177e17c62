"""ReLU, dropout, dense and softmax cross-entropy against TensorFlow and numerical gradients."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests._hypothesis import examples
from tests.test_ops_tf_reference import FLOAT32_TOL, NUMERIC_TOL, assert_close, tf_value_and_grads

from course_utils.ops import (
    check_gradients,
    dense_backward,
    dense_forward,
    dropout_backward,
    dropout_forward,
    numerical_gradient,
    rel_error,
    relu_backward,
    relu_forward,
    softmax_cross_entropy,
)

seeds = st.integers(0, 2**16)


@settings(max_examples=examples(10), deadline=None)
@given(seed=seeds)
def test_relu_matches_tensorflow(tf, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((3, 4, 5, 2)).astype(np.float32)
    x[0, 0, 0, 0] = 0.0  # TensorFlow's convention at the kink: gradient 0
    out, cache = relu_forward(x)
    dout = rng.standard_normal(x.shape).astype(np.float32)
    out_tf, (dx_tf,) = tf_value_and_grads(tf, tf.nn.relu, [x], dout)
    np.testing.assert_array_equal(out, out_tf)
    np.testing.assert_array_equal(relu_backward(dout, cache), dx_tf)


@settings(max_examples=examples(10), deadline=None)
@given(seed=seeds, n=st.integers(1, 4), features=st.sampled_from([(6,), (2, 3, 2)]), m=st.integers(1, 5))
def test_dense_matches_tensorflow_and_numerical_gradient(tf, seed, n, features, m):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, *features))
    w = rng.standard_normal((int(np.prod(features)), m))
    b = rng.standard_normal(m)
    x32, w32, b32 = (v.astype(np.float32) for v in (x, w, b))
    out, cache = dense_forward(x32, w32, b32)
    dout = rng.standard_normal(out.shape).astype(np.float32)
    out_tf, grads_tf = tf_value_and_grads(
        tf, lambda x, w, b: tf.reshape(x, (n, -1)) @ w + b, [x32, w32, b32], dout
    )
    assert_close(out, out_tf, FLOAT32_TOL, "dense forward")
    for grad, ref in zip(dense_backward(dout, cache), grads_tf):
        assert grad.shape == ref.shape
        assert_close(grad, ref, FLOAT32_TOL, "dense backward")
    errors = check_gradients(dense_forward, dense_backward, [x, w, b], verbose=False)
    assert max(errors.values()) < NUMERIC_TOL, errors


@settings(max_examples=examples(15), deadline=None)
@given(seed=seeds, n=st.integers(1, 6), k=st.integers(2, 7), scale=st.sampled_from([1.0, 30.0, 1000.0]))
def test_softmax_cross_entropy_matches_tensorflow(tf, seed, n, k, scale):
    """Also for huge logits (1000): the stable form never overflows."""
    rng = np.random.default_rng(seed)
    logits = (scale * rng.standard_normal((n, k))).astype(np.float32)
    labels = rng.integers(0, k, n)
    loss, dlogits = softmax_cross_entropy(logits, labels)

    def reference(z):
        return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels, z))

    loss_tf, (dz_tf,) = tf_value_and_grads(tf, reference, [logits], np.float32(1.0))
    assert np.isfinite(loss) and np.all(np.isfinite(dlogits))
    assert loss == pytest.approx(float(loss_tf), rel=FLOAT32_TOL, abs=1e-6)
    assert_close(dlogits, dz_tf, FLOAT32_TOL, "dlogits")
    # one-hot labels give the same result
    loss_onehot, d_onehot = softmax_cross_entropy(logits, np.eye(k)[labels])
    assert loss_onehot == pytest.approx(loss, rel=1e-6)
    assert_close(d_onehot, dlogits, 1e-6, "one-hot")


def test_softmax_cross_entropy_gradient_is_numerically_right():
    rng = np.random.default_rng(3)
    logits, labels = rng.standard_normal((5, 4)), rng.integers(0, 4, 5)
    numeric = numerical_gradient(lambda z: softmax_cross_entropy(z, labels)[0], logits.copy())
    assert rel_error(softmax_cross_entropy(logits, labels)[1], numeric) < NUMERIC_TOL


class TestDropout:
    def test_inverted_scaling_and_rate(self):
        x = np.ones((200, 500))
        out, mask = dropout_forward(x, rate=0.3, seed=0)
        values = np.unique(out)
        assert len(values) == 2 and values[0] == 0.0 and values[1] == pytest.approx(1 / 0.7)
        kept = np.mean(out > 0)
        assert abs(kept - 0.7) < 0.01  # 100 000 draws: std 0.0015
        assert abs(out.mean() - 1.0) < 0.02  # expectation preserved
        np.testing.assert_array_equal(out, x * mask)

    def test_seed_and_generator_make_it_reproducible(self):
        x = np.arange(1.0, 101.0)
        a, _ = dropout_forward(x, 0.5, seed=42)
        b, _ = dropout_forward(x, 0.5, seed=42)
        c, _ = dropout_forward(x, 0.5, seed=np.random.default_rng(42))
        d, _ = dropout_forward(x, 0.5, seed=43)
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a, c)
        assert not np.array_equal(a, d)

    def test_inference_is_identity(self):
        x = np.random.default_rng(0).standard_normal((4, 3))
        out, mask = dropout_forward(x, 0.9, training=False)
        np.testing.assert_array_equal(out, x)
        np.testing.assert_array_equal(dropout_backward(np.ones_like(x), mask), np.ones_like(x))

    def test_backward_matches_numerical_gradient(self):
        x = np.random.default_rng(1).standard_normal((3, 4, 4, 2))
        errors = check_gradients(lambda x: dropout_forward(x, 0.4, seed=7), dropout_backward, [x], verbose=False)
        assert errors["x"] < NUMERIC_TOL

    def test_rate_must_be_a_fraction(self):
        with pytest.raises(ValueError, match=r"rate must be in \[0, 1\)"):
            dropout_forward(np.ones(3), 1.0)


def test_dense_shape_mismatch_is_explained():
    with pytest.raises(ValueError, match=r"x of shape \(2, 3, 4\) flattens to \(2, 12\).*\(10, 5\)"):
        dense_forward(np.zeros((2, 3, 4)), np.zeros((10, 5)), np.zeros(5))
