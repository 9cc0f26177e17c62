"""The exercises of notebook 03 accept the solutions and give hints (never the answer) otherwise."""

from __future__ import annotations

from course_utils.exercises import nb03


def test_solutions_pass():
    assert nb03.span.check(lambda k, d: k + (k - 1) * (d - 1), quiet=True)
    assert nb03.stack_rf.check(31, quiet=True)
    assert nb03.module_weights.check(lambda c: 64 * c * c, quiet=True)
    assert nb03.gridding.check({"A", "C", "E"}, quiet=True)
    assert nb03.gridding.check(["a", "c", "e"], quiet=True)
    assert nb03.tap_position.check(lambda y, x, i, j, s, d: (y * s + i * d, x * s + j * d), quiet=True)


def _hint(result, *forbidden):
    assert not result
    for text in forbidden:
        assert text not in result.message
    return result.message


def test_placeholders_are_not_attempted():
    for exercise in (nb03.span, nb03.stack_rf, nb03.module_weights, nb03.gridding, nb03.tap_position):
        assert "not attempted" in exercise.check(None, quiet=True).message


def test_typical_mistakes_get_specific_hints():
    assert "gaps" in _hint(nb03.span.check(lambda k, d: k * d, quiet=True))
    assert "ordinary" in _hint(nb03.span.check(lambda k, d: 0, quiet=True))
    assert "plain" in _hint(nb03.stack_rf.check(9, quiet=True), "31")
    assert "spans" in _hint(nb03.stack_rf.check(3 + 5 + 9 + 17, quiet=True), "31")
    assert "one number" in _hint(nb03.stack_rf.check((31, 31), quiet=True))
    assert "biases" in _hint(nb03.module_weights.check(lambda c: 64 * c * c + 8 * c, quiet=True), "64")
    assert "eighth" in _hint(nb03.module_weights.check(lambda c: 72 * c * c, quiet=True), "64")
    assert "holes" in _hint(nb03.gridding.check({"A", "B", "C", "E"}, quiet=True))
    assert "missed 1" in _hint(nb03.gridding.check({"A", "C"}, quiet=True))
    assert "not among" in _hint(nb03.gridding.check({"Z"}, quiet=True))
    assert "set of letters" in _hint(nb03.gridding.check(3, quiet=True))
    bug = nb03.tap_position.check(lambda y, x, i, j, s, d: (y * s + i, x * s + j), quiet=True)
    assert "broken backprop" in _hint(bug, "i * d", "i*d")
    assert "window" in _hint(nb03.tap_position.check(lambda *a: (0, 0), quiet=True))
