"""The reference solutions of the assignments, run as a student's answers would be, against TensorFlow."""

from __future__ import annotations

import numpy as np
import pytest

from course_utils import ops
from course_utils.grading.course import get_assignment
from course_utils.grading import samples


def _answers(name: str) -> dict:
    assignment = get_assignment(name)
    namespace = {"np": np}
    for source in samples.solutions(assignment, assignment.notebooks[0]).values():
        exec(compile(source, f"<{name} solution>", "exec"), namespace)
    return namespace


@pytest.fixture(scope="module")
def a2():
    return _answers("a2_numpy_layers")


def _tf_max_pool_grad(tf, x, dout, pool, stride):
    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        y = tf.nn.max_pool2d(xt, pool, stride, "VALID")
    return tape.gradient(y, xt, output_gradients=tf.constant(dout)).numpy()


@pytest.mark.parametrize("shape, pool, stride", [((2, 4, 4, 3), 2, 2), ((1, 5, 5, 2), 3, 2), ((1, 6, 5, 1), 3, 1)])
def test_a2_reference_max_pool_backward_routes_ties_as_tensorflow(a2, tf, shape, pool, stride):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 2, size=shape).astype("float64")        # 0s and 1s: ties in almost every window
    x[0, :pool, :pool, 0] = 1.0                                  # one window tied throughout
    out, cache = a2["maxpool_forward"](x, pool, stride)
    dout = rng.standard_normal(out.shape)
    dx = a2["maxpool_backward"](dout, cache)
    np.testing.assert_allclose(dx, _tf_max_pool_grad(tf, x, dout, pool, stride), atol=1e-12)
    # the course's own layer, which the A2 checks compare answers with, agrees at ties too
    np.testing.assert_allclose(dx, ops.max_pool_backward(dout, ops.max_pool_forward(x, pool, stride)[1]), atol=1e-12)
    # every window passes its gradient on exactly once
    ones = a2["maxpool_backward"](np.ones_like(out), cache)
    assert ones.sum() == out.size


def test_a2_reference_max_pool_backward_matches_tensorflow_without_ties(a2, tf):
    x = np.random.default_rng(1).standard_normal((2, 7, 5, 3))
    out, cache = a2["maxpool_forward"](x, 3, 2)
    dout = np.random.default_rng(2).standard_normal(out.shape)
    np.testing.assert_allclose(a2["maxpool_backward"](dout, cache), _tf_max_pool_grad(tf, x, dout, 3, 2), atol=1e-12)


def test_a1_worked_examples_of_the_transposed_size():
    a1 = _answers("a1_arithmetic")
    assert a1["transposed_output_size"](2, 2, s=2) == 4      # the AIL 862 lecture's 2x2 -> 4x4
    assert a1["transposed_output_size"](2, 3) == 4
