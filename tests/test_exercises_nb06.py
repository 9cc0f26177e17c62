"""Exercises of notebook 06: right answers pass, usual mistakes get a hint that is not the answer."""

from __future__ import annotations

import numpy as np

from course_utils.exercises import nb06


def _message(exercise, answer):
    return exercise.check(answer, quiet=True).message


def test_bn_parameters():
    assert nb06.bn_parameters.check((128, 128), quiet=True)
    assert "four vectors" in _message(nb06.bn_parameters, (64, 64))
    assert "per channel" in _message(nb06.bn_parameters, (2 * 8 * 8 * 64, 2 * 8 * 8 * 64))
    assert "pair" in _message(nb06.bn_parameters, 256)


def test_moving_mean():
    assert nb06.moving_mean.check(2.0 * (1 - 0.9**5), quiet=True)
    assert "batch mean itself" in _message(nb06.moving_mean, 2.0)
    assert "initial" in _message(nb06.moving_mean, 2.0 * 0.9**5)
    message = _message(nb06.moving_mean, 0.5)
    assert "0.819" not in message and "momentum" in message


def test_dropout_scale():
    assert nb06.dropout_scale.check(4 / 3, quiet=True)
    assert "probability of keeping" in _message(nb06.dropout_scale, 0.75)
    assert "1.33" not in _message(nb06.dropout_scale, 2.0)


def _fold(w, b, gamma, beta, mean, var, eps):
    scale = gamma / np.sqrt(var + eps)
    return w * scale, (b - mean) * scale + beta


def test_fold_batchnorm():
    assert nb06.fold_batchnorm.check(_fold, quiet=True)
    assert "function" in _message(nb06.fold_batchnorm, 3)
    bias_wrong = lambda *a: (_fold(*a)[0], _fold(*a)[1] + 1.0)  # noqa: E731
    assert "the bias is off" in _message(nb06.fold_batchnorm, bias_wrong)
    no_scale = lambda w, b, gamma, beta, mean, var, eps: (w, b - mean + beta)  # noqa: E731
    assert "scaled by its own" in _message(nb06.fold_batchnorm, no_scale)
    assert "shape" in _message(nb06.fold_batchnorm, lambda *a: (a[0][..., :1], a[1]))
