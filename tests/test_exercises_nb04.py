"""The exercises of notebook 04 accept the solutions and give hints (never the answer) otherwise."""

from __future__ import annotations

import numpy as np
import pytest

from course_utils.exercises import Exercise, nb04

EXERCISES = [v for v in vars(nb04).values() if isinstance(v, Exercise)]


def _scatter_by_hand(kernel):
    out = np.zeros((3, 3))
    for i in range(2):
        for j in range(2):
            out[i:i + 2, j:j + 2] += nb04.SCATTER_X[i, j] * kernel
    return out


def test_solutions_pass():
    assert nb04.output_size.check(10, quiet=True)
    assert nb04.same_output_padding.check(0, quiet=True)
    assert nb04.scatter.check(_scatter_by_hand(nb04.SCATTER_K), quiet=True)
    assert nb04.keras_kernel_shape.check((3, 3, 8, 16), quiet=True)
    assert nb04.even_overlap.check({"B", "C", "E"}, quiet=True)


@pytest.mark.parametrize("exercise", EXERCISES, ids=lambda e: e.key)
def test_placeholders_are_not_attempted(exercise):
    assert len(EXERCISES) == 6  # the sixth is tested in test_exercises_predict_and_debug.py
    assert "not attempted" in exercise.check(None, quiet=True).message


MISTAKES = [
    (nb04.output_size, 3, "ordinary convolution", ()),
    (nb04.output_size, 9, "left out output_padding", ("10",)),
    (nb04.output_size, 12, "removes", ("10",)),
    (nb04.same_output_padding, 1, "Solve", ()),
    (nb04.same_output_padding, 5, "smaller than the stride", ()),
    (nb04.scatter, _scatter_by_hand(nb04.SCATTER_K[::-1, ::-1]), "rotated", ()),
    (nb04.scatter, np.zeros((4, 4)), "shape", ()),
    (nb04.keras_kernel_shape, (3, 3, 16, 8), "Conv2D", ("(3, 3, 8, 16)",)),
    (nb04.keras_kernel_shape, 3, "tuple", ()),
    (nb04.even_overlap, {"A", "B", "C", "E"}, "A:", ()),
    (nb04.even_overlap, {"B"}, "more pair", ()),
]


@pytest.mark.parametrize("exercise,answer,hint,forbidden", MISTAKES)
def test_typical_mistakes_get_specific_hints(exercise, answer, hint, forbidden):
    result = exercise.check(answer, quiet=True)
    assert not result and hint in result.message
    assert not any(text in result.message for text in forbidden)
