"""The exercises of notebook 03 accept the solutions and give hints (never the answer) otherwise."""

from __future__ import annotations

import pytest

from course_utils.exercises import Exercise, nb03

EXERCISES = [v for v in vars(nb03).values() if isinstance(v, Exercise)]


def test_solutions_pass():
    assert nb03.span.check(lambda k, d: k + (k - 1) * (d - 1), quiet=True)
    assert nb03.stack_rf.check(31, quiet=True)
    assert nb03.module_weights.check(lambda c: 64 * c * c, quiet=True)
    assert nb03.gridding.check({"A", "C", "E"}, quiet=True)
    assert nb03.gridding.check(["a", "c", "e"], quiet=True)


@pytest.mark.parametrize("exercise", EXERCISES, ids=lambda e: e.key)
def test_placeholders_are_not_attempted(exercise):
    assert len(EXERCISES) == 4
    assert "not attempted" in exercise.check(None, quiet=True).message


MISTAKES = [
    (nb03.span, lambda k, d: k * d, "gaps", ()),
    (nb03.span, lambda k, d: 0, "ordinary", ()),
    (nb03.stack_rf, 9, "plain", ("31",)),
    (nb03.stack_rf, 3 + 5 + 9 + 17, "spans", ("31",)),
    (nb03.stack_rf, (31, 31), "one number", ()),
    (nb03.module_weights, lambda c: 64 * c * c + 8 * c, "biases", ("64",)),
    (nb03.module_weights, lambda c: 72 * c * c, "eighth", ("64",)),
    (nb03.gridding, {"A", "B", "C", "E"}, "holes", ()),
    (nb03.gridding, {"A", "C"}, "missed 1", ()),
    (nb03.gridding, {"Z"}, "not among", ()),
    (nb03.gridding, 3, "set of letters", ()),
]


@pytest.mark.parametrize("exercise,answer,hint,forbidden", MISTAKES)
def test_typical_mistakes_get_specific_hints(exercise, answer, hint, forbidden):
    result = exercise.check(answer, quiet=True)
    assert not result and hint in result.message
    assert not any(text in result.message for text in forbidden)
