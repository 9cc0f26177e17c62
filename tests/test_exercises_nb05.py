"""Exercises of notebook 05: right answers pass, usual mistakes get a hint that is not the answer."""

from __future__ import annotations

import numpy as np

from course_utils.exercises import nb05


def _message(exercise, answer):
    return exercise.check(answer, quiet=True).message


def test_separable_params():
    assert nb05.separable_params.check(5 * 5 * 32 + 32 * 64, quiet=True)
    assert "standard" in _message(nb05.separable_params, 5 * 5 * 32 * 64)
    assert "depthwise stage alone" in _message(nb05.separable_params, 800)
    assert "biases" in _message(nb05.separable_params, 2848 + 64)
    assert "2848" not in _message(nb05.separable_params, 1000)
    assert "int" in _message(nb05.separable_params, 2848.0)


def test_grouped_params():
    assert nb05.grouped_params.check(3 * 3 * 16 * 128, quiet=True)
    assert "groups=1" in _message(nb05.grouped_params, 3 * 3 * 64 * 128)
    assert "one group" in _message(nb05.grouped_params, 3 * 3 * 16 * 32)
    assert "18432" not in _message(nb05.grouped_params, 5)


def test_reduction_with_multiplier():
    assert nb05.reduction_with_multiplier.check(lambda n, dk, m: m / n + m / dk**2, quiet=True)
    assert "right for m = 1" in _message(nb05.reduction_with_multiplier, lambda n, dk, m: 1 / n + 1 / dk**2)
    assert "m = 1" in _message(nb05.reduction_with_multiplier, lambda n, dk, m: 1 / n)
    assert "returned None" in _message(nb05.reduction_with_multiplier, lambda n, dk, m: None)
    assert "function" in _message(nb05.reduction_with_multiplier, 0.14)


def test_rank_one_factors():
    assert nb05.rank_one_factors.check(([2, 1, -1], [1, 2, 3]), quiet=True)
    assert nb05.rank_one_factors.check((np.array([-4, -2, 2]), [-0.5, -1, -1.5]), quiet=True)
    assert "swapped" in _message(nb05.rank_one_factors, ([1, 2, 3], [2, 1, -1]))
    assert "np.outer" in _message(nb05.rank_one_factors, ([1, 1, 1], [1, 2, 3]))
    assert "pair" in _message(nb05.rank_one_factors, 3)
