"""The exercises of notebook 07 accept the solutions and give hints (never the answer) otherwise."""

from __future__ import annotations

import re

import numpy as np

from course_utils.exercises import nb07


def _weight_gradient():
    return np.array([[np.sum(nb07.INPUT[r:r + 2, s:s + 2] * nb07.UPSTREAM) for s in range(2)] for r in range(2)])


def _input_gradient(dout, w):
    k = w.shape[0]
    padded = np.pad(dout, k - 1)
    n = dout.shape[0] + k - 1
    return np.array([[np.sum(padded[i:i + k, j:j + k] * w[::-1, ::-1]) for j in range(n)] for i in range(n)])


def _maxpool_gradient():
    answer = np.zeros((4, 4))
    for r in range(2):
        for c in range(2):
            window = nb07.POOL_INPUT[2 * r:2 * r + 2, 2 * c:2 * c + 2]
            i, j = np.unravel_index(np.argmax(window), window.shape)
            answer[2 * r + i, 2 * c + j] = nb07.POOL_UPSTREAM[r, c]
    return answer


def test_solutions_pass():
    assert nb07.weight_gradient.check(_weight_gradient(), quiet=True)
    assert nb07.input_gradient.check(_input_gradient(nb07.UPSTREAM, nb07.KERNEL), quiet=True)
    assert nb07.maxpool_gradient.check(_maxpool_gradient(), quiet=True)
    assert nb07.input_gradient_function.check(_input_gradient, quiet=True)


def _numbers(text):
    return {round(float(t), 2) for t in re.findall(r"-?\d+(?:\.\d+)?", text)}


def _hint_without_answer(result, answer, hint_word):
    """A failure that explains (the hint about this mistake) and does not give the answer away
    in any formatting: the answer's non-zero values never all appear among the message's numbers."""
    assert not result
    prefix = f"[{result.exercise}] not quite: "
    assert result.message.startswith(prefix)
    explanation = result.message[len(prefix):]
    assert hint_word in explanation and len(explanation.split()) >= 8, explanation
    values = {round(float(v), 2) for v in np.ravel(answer) if v != 0}
    assert not values <= _numbers(explanation), explanation


def test_typical_mistakes_get_specific_hints():
    dw = _weight_gradient()
    result = nb07.weight_gradient.check(dw[::-1, ::-1], quiet=True)
    _hint_without_answer(result, dw, "rotated")
    assert "shape" in nb07.weight_gradient.check(np.zeros(3), quiet=True).message

    dx = _input_gradient(nb07.UPSTREAM, nb07.KERNEL)
    unrotated = _input_gradient(nb07.UPSTREAM, nb07.KERNEL[::-1, ::-1])
    result = nb07.input_gradient.check(unrotated, quiet=True)
    _hint_without_answer(result, dx, "rotated")

    spread = np.kron(nb07.POOL_UPSTREAM, np.ones((2, 2))) / 4  # average pooling's gradient
    result = nb07.maxpool_gradient.check(spread, quiet=True)
    _hint_without_answer(result, _maxpool_gradient(), "average")


def test_function_exercise_explains_wrong_shapes_and_values():
    result = nb07.input_gradient_function.check(lambda dout, w: dout, quiet=True)
    assert not result and "pad" in result.message
    result = nb07.input_gradient_function.check(lambda dout, w: _input_gradient(dout, w[::-1, ::-1]), quiet=True)
    assert not result and "rotate" in result.message
    assert not nb07.input_gradient_function.check(42, quiet=True)


def test_tap_position_accepts_the_solution_and_explains_the_broken_backprop():
    assert nb07.tap_position.check(lambda y, x, i, j, s, d: (y * s + i * d, x * s + j * d), quiet=True)
    forgets_gaps = nb07.tap_position.check(lambda y, x, i, j, s, d: (y * s + i, x * s + j), quiet=True)
    assert not forgets_gaps and "broken backprop" in forgets_gaps.message
    assert not any(text in forgets_gaps.message for text in ("i * d", "i*d"))
    assert "window" in nb07.tap_position.check(lambda *args: (0, 0), quiet=True).message
    assert "not attempted" in nb07.tap_position.check(None, quiet=True).message
