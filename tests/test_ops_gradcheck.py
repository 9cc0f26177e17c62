"""The gradient-checking tools themselves: numerical gradients, rel_error, check_gradients."""

from __future__ import annotations

import numpy as np
import pytest
from tests.test_ops_tf_reference import tf_value_and_grads

from course_utils.ops import (
    check_gradients,
    conv2d_backward,
    conv2d_forward,
    numerical_gradient,
    rel_error,
    relu_backward,
    relu_forward,
)


def test_numerical_gradient_matches_tensorflow(tf):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 4))
    dout = rng.standard_normal((3, 4))
    _, (expected,) = tf_value_and_grads(tf, lambda x: tf.sin(x) * x**2, [x], dout)
    before = x.copy()
    numeric = numerical_gradient(lambda v: np.sin(v) * v**2, x, dout)
    np.testing.assert_array_equal(x, before)  # perturbations undone
    assert rel_error(numeric, expected) < 1e-8


def test_numerical_gradient_of_a_scalar_function(tf):
    x = np.array([0.3, -1.2, 2.0])
    _, (expected,) = tf_value_and_grads(tf, lambda x: tf.reduce_sum(tf.exp(x) * x), [x], 1.0)
    assert rel_error(numerical_gradient(lambda v: np.sum(np.exp(v) * v), x), expected) < 1e-8


def test_numerical_gradient_needs_a_float_array():
    with pytest.raises(ValueError, match="float numpy array"):
        numerical_gradient(lambda v: v, np.arange(3))


def test_rel_error_scaled_and_elementwise():
    a, b = np.array([1.0, 1e-9]), np.array([1.0, 2e-9])
    assert rel_error(a, b) == pytest.approx(1e-9)  # relative to the largest entry
    assert rel_error(a, b, elementwise=True) == pytest.approx(1 / 3)  # CS231n's definition
    assert rel_error(np.zeros(3), np.zeros(3)) == 0.0
    with pytest.raises(ValueError, match="shapes differ"):
        rel_error(np.zeros(3), np.zeros(4))


def _conv_problem(seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((2, 6, 6, 2)), rng.standard_normal((3, 3, 2, 3)), rng.standard_normal(3)]


def test_check_gradients_prints_a_table_named_after_the_arguments(capsys):
    errors = check_gradients(
        lambda x, w, b: conv2d_forward(x, w, b, stride=2, padding="same"), conv2d_backward, _conv_problem()
    )
    lines = capsys.readouterr().out.splitlines()
    assert list(errors) == ["x", "w", "b"]
    assert lines[1].split() == ["input", "shape", "max", "rel.", "error"]
    assert [line.split()[0] for line in lines[2:]] == ["x", "w", "b"]
    assert all(line.endswith("ok") for line in lines[2:])
    assert "(2, 6, 6, 2)" in lines[2]


def test_check_gradients_catches_a_wrong_backward_pass(capsys):
    def backward_counting_dw_twice(dout, cache):
        dx, dw, db = conv2d_backward(dout, cache)
        return dx, 2 * dw, db

    errors = check_gradients(
        lambda x, w, b: conv2d_forward(x, w, b, stride=2),
        backward_counting_dw_twice,
        _conv_problem(),
        names=["input", "kernel", "bias"],
    )
    out = capsys.readouterr().out
    assert errors["kernel"] > 0.1 and errors["input"] < 1e-7
    assert "kernel" in out and "WRONG" in out


def test_check_gradients_with_one_input():
    x = np.random.default_rng(1).standard_normal((4, 5)) + 0.5
    assert check_gradients(relu_forward, relu_backward, [x], verbose=False)["x"] < 1e-7


def test_check_gradients_explains_a_gradient_count_mismatch():
    x, w, b = _conv_problem()
    with pytest.raises(ValueError, match=r"3 gradients for 1 inputs.*conv2d_backward\(dout, cache\)\[0\]"):
        check_gradients(lambda x: conv2d_forward(x, w, b), conv2d_backward, [x], verbose=False)


def test_check_gradients_explains_a_gradient_shape_mismatch():
    x, w, b = _conv_problem()
    with pytest.raises(ValueError, match=r"gradient for x has shape \(2, 6, 6\)"):
        check_gradients(
            lambda x: conv2d_forward(x, w, b),
            lambda dout, cache: conv2d_backward(dout, cache)[0][..., 0],
            [x],
            verbose=False,
        )
