"""Batch normalisation against Keras ``BatchNormalization`` (both modes, moving statistics)
and numerical gradients."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests._hypothesis import examples
from tests.test_ops_tf_reference import FLOAT32_TOL, NUMERIC_TOL, assert_close

from course_utils.ops import batchnorm_backward, batchnorm_forward, check_gradients

SHAPES = [(6, 3), (2, 4, 5, 3), (3, 2, 3, 1), (1, 5, 5, 4)]


@st.composite
def bn_cases(draw, max_offset=3.0, min_scale=0.2):
    """Random batch-norm problems; x has mean up to ``max_offset`` and spread from ``min_scale``."""
    shape = draw(st.sampled_from(SHAPES))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    c = shape[-1]
    x = rng.normal(draw(st.floats(-max_offset, max_offset)), draw(st.floats(min_scale, 4)), shape)
    # |gamma| >= 0.5 keeps the gradient well above the rounding of the numerical check
    gamma = rng.uniform(0.5, 1.5, c) * rng.choice([-1, 1], c)
    beta = rng.uniform(-0.5, 0.5, c)
    moving_mean = rng.normal(0, 1, c)
    moving_var = rng.uniform(0.5, 2, c)
    options = dict(
        momentum=draw(st.sampled_from([0.99, 0.9, 0.5])), epsilon=draw(st.sampled_from([1e-3, 1e-5]))
    )
    return rng, x, gamma, beta, moving_mean, moving_var, options


@pytest.mark.parametrize("training", [True, False])
@settings(max_examples=examples(20), deadline=None)
# float32 loses ~log10(|mean| / std) digits in x - mean, in Keras as here: keep that
# ratio below ~4 so that two correct float32 implementations agree to 1e-5
@given(case=bn_cases(max_offset=2.0, min_scale=0.5))
def test_matches_keras_batch_normalization(tf, keras, training, case):
    rng, x, gamma, beta, moving_mean, moving_var, options = (
        v.astype(np.float32) if isinstance(v, np.ndarray) else v for v in case
    )
    layer = keras.layers.BatchNormalization(**options)
    layer.build(x.shape)
    layer.set_weights([gamma, beta, moving_mean, moving_var])
    ours_mean, ours_var = moving_mean.copy(), moving_var.copy()
    out, cache = batchnorm_forward(x, gamma, beta, ours_mean, ours_var, training=training, **options)

    dout = rng.standard_normal(x.shape).astype(np.float32)
    x_t = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(x_t)
        out_keras = layer(x_t, training=training)
    dx_k, dgamma_k, dbeta_k = tape.gradient(
        out_keras, [x_t, layer.gamma, layer.beta], output_gradients=tf.constant(dout)
    )
    assert_close(out, out_keras.numpy(), FLOAT32_TOL, "forward")
    # moving statistics: updated the Keras way in training, untouched in inference
    assert_close(ours_mean, layer.moving_mean.numpy(), FLOAT32_TOL, "moving_mean")
    assert_close(ours_var, layer.moving_variance.numpy(), FLOAT32_TOL, "moving_var")
    if not training:
        np.testing.assert_array_equal(ours_mean, moving_mean)
    dx, dgamma, dbeta = batchnorm_backward(dout, cache)
    assert_close(dx, dx_k.numpy(), FLOAT32_TOL, "dx")
    assert_close(dgamma, dgamma_k.numpy(), FLOAT32_TOL, "dgamma")
    assert_close(dbeta, dbeta_k.numpy(), FLOAT32_TOL, "dbeta")


@pytest.mark.parametrize("training", [True, False])
@settings(max_examples=examples(10), deadline=None)
@given(case=bn_cases())
def test_matches_numerical_gradient(training, case):
    _, x, gamma, beta, moving_mean, moving_var, options = case
    errors = check_gradients(
        lambda x, gamma, beta: batchnorm_forward(
            x, gamma, beta, moving_mean.copy(), moving_var.copy(), training=training, **options
        ),
        batchnorm_backward,
        [x, gamma, beta],
        verbose=False,
    )
    assert max(errors.values()) < NUMERIC_TOL, errors


def test_moving_variance_is_the_biased_batch_variance(keras):
    """One training step from (mean 0, var 1) with momentum 0: the moving statistics become
    exactly the batch's, and Keras' variance divides by m (like np.var), not m - 1."""
    x = np.array([[1.0], [2.0], [4.0], [9.0]], dtype=np.float32)
    layer = keras.layers.BatchNormalization(momentum=0.0)
    layer(x, training=True)
    moving_mean, moving_var = np.zeros(1, np.float32), np.ones(1, np.float32)
    batchnorm_forward(x, np.ones(1), np.zeros(1), moving_mean, moving_var, momentum=0.0)
    assert moving_var[0] == pytest.approx(layer.moving_variance.numpy()[0], rel=1e-6)
    assert moving_mean[0] == pytest.approx(layer.moving_mean.numpy()[0], rel=1e-6)
    assert moving_var[0] != pytest.approx(np.var(x, ddof=1), rel=1e-3)


def test_wrong_parameter_shape_is_explained():
    with pytest.raises(ValueError, match=r"gamma must have shape \(C,\) = \(3,\).*\(2, 4, 4, 3\)"):
        batchnorm_forward(np.zeros((2, 4, 4, 3)), np.ones(4), np.zeros(3))
    with pytest.raises(ValueError, match="training=False needs moving_mean"):
        batchnorm_forward(np.zeros((2, 3)), np.ones(3), np.zeros(3), training=False)
