"""Exercises of notebook 06 (batch normalisation and regularisation).

Expected values come from Keras itself (parameter counts) or from
:mod:`course_utils.ops` (moving statistics, batch normalisation, convolution).
"""

from __future__ import annotations

import numpy as np

from course_utils.exercises import Exercise, as_float, require
from course_utils.ops import batchnorm_forward, conv2d_forward, dropout_forward

__all__ = [
    "BATCH_MEAN",
    "MOMENTUM",
    "STEPS",
    "bn_parameters",
    "dropout_scale",
    "fold_batchnorm",
    "moving_mean",
    "buggy_batchnorm",
    "fix_batchnorm",
]


# ----------------------------------------------------------------------------- 1
def _check_bn_parameters(answer) -> None:
    import keras

    try:
        trainable, non_trainable = (int(v) for v in answer)
    except (TypeError, ValueError):
        raise AssertionError("answer should be a pair of ints (trainable, non_trainable).") from None
    layer = keras.layers.BatchNormalization()
    layer.build((None, 8, 8, 64))
    expected = (sum(int(np.prod(w.shape)) for w in layer.trainable_weights),
                sum(int(np.prod(w.shape)) for w in layer.non_trainable_weights))
    if (trainable, non_trainable) == expected:
        return
    if trainable + non_trainable == 2 * 64:
        raise AssertionError("batch normalisation keeps four vectors per layer, not two: the learned "
                             "scale and shift, and the moving mean and variance used at inference.")
    raise AssertionError(
        "count vectors of length C (one entry per channel): gamma and beta are learned by gradient descent; "
        "moving_mean and moving_variance are not. Statistics are per channel, not per pixel.")


bn_parameters = Exercise(
    "bn_parameters",
    "A BatchNormalization layer follows a Conv2D with 64 filters (on 8x8 maps). How many trainable and "
    "non-trainable parameters does it have? Give (trainable, non_trainable).",
    _check_bn_parameters,
)


# ----------------------------------------------------------------------------- 2
#: The set-up of :data:`moving_mean`: every training batch has this mean.
BATCH_MEAN, MOMENTUM, STEPS = 2.0, 0.9, 5


def _expected_moving_mean() -> float:
    moving_mean, moving_var = np.zeros(1), np.ones(1)
    batch = np.full((4, 1), BATCH_MEAN)
    for _ in range(STEPS):
        batchnorm_forward(batch, np.ones(1), np.zeros(1), moving_mean, moving_var, training=True, momentum=MOMENTUM)
    return float(moving_mean[0])


def _check_moving_mean(answer) -> None:
    value = as_float(answer)
    expected = _expected_moving_mean()
    if np.isclose(value, BATCH_MEAN, rtol=0, atol=1e-3):
        raise AssertionError("that is (about) the batch mean itself. Keras keeps the fraction `momentum` of the "
                             "old moving value at every step, and the moving mean starts at 0.")
    if np.isclose(value, BATCH_MEAN * MOMENTUM**STEPS, rtol=1e-6):
        raise AssertionError("momentum**steps is the weight left on the *initial* moving mean (0), "
                             "not on the batch mean.")
    require(np.isclose(value, expected, rtol=1e-6, atol=1e-9), (
        "start from moving_mean = 0 and apply moving = moving * momentum + batch_mean * (1 - momentum) "
        f"{STEPS} times (or find the closed form of that geometric series)."))


moving_mean = Exercise(
    "moving_mean",
    f"A fresh Keras BatchNormalization(momentum={MOMENTUM}) sees {STEPS} training batches, each with mean "
    f"{BATCH_MEAN}. What is its moving mean afterwards?",
    _check_moving_mean,
)


# ----------------------------------------------------------------------------- 3
def _check_dropout_scale(answer) -> None:
    value = as_float(answer)
    rate = 0.25
    x = np.ones((1, 1000))
    _, mask = dropout_forward(x, rate, training=True, seed=0)
    expected = float(mask.max())
    if np.isclose(value, 1 - rate):
        raise AssertionError("that is the probability of keeping a unit. Which factor makes the *expected* "
                             "output of a unit equal to its input?")
    if np.isclose(value, 1.0):
        raise AssertionError("without a scale the expected output in training would be smaller than at "
                             "inference, where nothing is dropped.")
    require(np.isclose(value, expected), ("with keep probability p, a kept unit times the factor, "
                                         "averaged over the masks, must give back the unit."))


dropout_scale = Exercise(
    "dropout_scale",
    "In training, keras.layers.Dropout(0.25) sets a unit to 0 or multiplies it by a factor. Which factor?",
    _check_dropout_scale,
)


# ----------------------------------------------------------------------------- 4
def _check_fold_batchnorm(answer) -> None:
    require(callable(answer), ("answer should be a function fold(w, b, gamma, beta, mean, var, eps) "
                              "returning (w_folded, b_folded)."))
    rng = np.random.default_rng(6)
    for kh, c_in, c_out in ((3, 2, 4), (1, 3, 5), (5, 1, 2)):
        x = rng.standard_normal((2, 7, 7, c_in))
        w = rng.standard_normal((kh, kh, c_in, c_out))
        b = rng.standard_normal(c_out)
        gamma, beta = rng.standard_normal(c_out), rng.standard_normal(c_out)
        mean, var = rng.standard_normal(c_out), rng.uniform(0.5, 2.0, c_out)
        eps = 1e-3
        conv, _ = conv2d_forward(x, w, b)
        expected, _ = batchnorm_forward(conv, gamma, beta, mean.copy(), var.copy(), training=False, epsilon=eps)
        result = answer(w.copy(), b.copy(), gamma, beta, mean, var, eps)
        try:
            w_f, b_f = result
        except (TypeError, ValueError):
            raise AssertionError("fold should return a pair (w_folded, b_folded).") from None
        w_f, b_f = np.asarray(w_f, dtype=float), np.asarray(b_f, dtype=float)
        require(w_f.shape == w.shape and b_f.shape == b.shape, (
            f"w_folded should keep w's shape {w.shape} and b_folded b's shape {b.shape}; "
            f"yours are {w_f.shape} and {b_f.shape}."))
        got, _ = conv2d_forward(x, w_f, b_f)
        if not np.allclose(got, expected, atol=1e-8):
            scale_only = np.allclose(got - got.mean(axis=(0, 1, 2)), expected - expected.mean(axis=(0, 1, 2)),
                                     atol=1e-8)
            if scale_only:
                raise AssertionError("the weights are right; the bias is off. At inference BN computes "
                                     "gamma * (conv + b - mean) / sqrt(var + eps) + beta: collect every "
                                     "constant term.")
            raise AssertionError("the folded convolution differs from conv followed by BN at inference. "
                                 "Each output channel f is scaled by its own gamma_f / sqrt(var_f + eps): "
                                 "w[..., f] is the last axis (NumPy broadcasting over the last axis helps).")


fold_batchnorm = Exercise(
    "fold_batchnorm",
    "Write fold(w, b, gamma, beta, mean, var, eps) returning (w_folded, b_folded) such that a convolution "
    "with them equals the convolution (w, b) followed by batch normalisation at inference.",
    _check_fold_batchnorm,
)


# ----------------------------------------------------------------------------- find the bug
def buggy_batchnorm(x, gamma, beta, eps=1e-3):
    """Batch normalisation of an NHWC batch in training mode. It has a bug."""
    mean = x.mean(axis=0)
    var = x.var(axis=0)
    return gamma * (x - mean) / np.sqrt(var + eps) + beta


def _check_fix_batchnorm(answer) -> None:
    require(callable(answer), "answer should be the repaired function batchnorm(x, gamma, beta, eps=1e-3).")
    rng = np.random.default_rng(6)
    for shape in [(4, 5, 5, 3), (8, 2, 3, 2), (2, 4, 4, 1)]:
        x = 3.0 * rng.standard_normal(shape) + 1.0
        gamma, beta = rng.standard_normal(shape[-1]) + 1.0, rng.standard_normal(shape[-1])
        got = np.asarray(answer(x.copy(), gamma, beta), dtype=float)
        require(got.shape == x.shape, f"for an input of shape {shape} your function returned shape {got.shape}.")
        expected, _ = batchnorm_forward(x, gamma, beta, epsilon=1e-3)
        if np.allclose(got, expected, atol=1e-8):
            continue
        if np.allclose(got, buggy_batchnorm(x, gamma, beta), atol=1e-8):
            raise AssertionError("still the buggy result. Over which values does BN average for one channel "
                                 "of an image batch: the batch only, or the batch and every position?")
        mean = x.mean(axis=(0, 1, 2))
        unbiased = x.var(axis=(0, 1, 2), ddof=1)
        if np.allclose(got, gamma * (x - mean) / np.sqrt(unbiased + 1e-3) + beta, atol=1e-8):
            raise AssertionError("the averaging axes are right now; the variance is the biased one "
                                 "(divide by m), as in Keras.")
        raise AssertionError("not batch normalisation yet: per channel, subtract the mean and divide by "
                             "sqrt(var + eps), then scale by gamma and shift by beta.")


fix_batchnorm = Exercise(
    "nb06-fix-batchnorm",
    "nb06.buggy_batchnorm(x, gamma, beta) runs on an (N, H, W, C) batch without an error and is wrong. "
    "Find the bug and give the repaired function.",
    _check_fix_batchnorm, style="find-the-bug")
