"""The exercises of notebook 04 accept the solutions and give hints (never the answer) otherwise."""

from __future__ import annotations

import numpy as np

from course_utils.exercises import nb04


def _scatter_by_hand():
    x, k = nb04.SCATTER_X, nb04.SCATTER_K
    out = np.zeros((3, 3))
    for i in range(2):
        for j in range(2):
            out[i:i + 2, j:j + 2] += x[i, j] * k
    return out


def test_solutions_pass():
    assert nb04.output_size.check(10, quiet=True)
    assert nb04.same_output_padding.check(0, quiet=True)
    assert nb04.scatter.check(_scatter_by_hand(), quiet=True)
    assert nb04.keras_kernel_shape.check((3, 3, 8, 16), quiet=True)
    assert nb04.even_overlap.check({"B", "C", "E"}, quiet=True)


def _hint(result, *forbidden):
    assert not result
    for text in forbidden:
        assert text not in result.message
    return result.message


def test_placeholders_are_not_attempted():
    for exercise in (nb04.output_size, nb04.same_output_padding, nb04.scatter, nb04.keras_kernel_shape,
                     nb04.even_overlap):
        assert "not attempted" in exercise.check(None, quiet=True).message


def test_typical_mistakes_get_specific_hints():
    assert "ordinary convolution" in _hint(nb04.output_size.check(3, quiet=True))
    assert "left out output_padding" in _hint(nb04.output_size.check(9, quiet=True), "10")
    assert "removes" in _hint(nb04.output_size.check(12, quiet=True), "10")
    assert "Solve" in _hint(nb04.same_output_padding.check(1, quiet=True))
    assert "smaller than the stride" in _hint(nb04.same_output_padding.check(5, quiet=True))
    rotated = np.zeros((3, 3))
    for i in range(2):
        for j in range(2):
            rotated[i:i + 2, j:j + 2] += nb04.SCATTER_X[i, j] * nb04.SCATTER_K[::-1, ::-1]
    assert "rotated" in _hint(nb04.scatter.check(rotated, quiet=True))
    assert "shape" in _hint(nb04.scatter.check(np.zeros((4, 4)), quiet=True))
    assert "Conv2D" in _hint(nb04.keras_kernel_shape.check((3, 3, 16, 8), quiet=True), "(3, 3, 8, 16)")
    assert "tuple" in _hint(nb04.keras_kernel_shape.check(3, quiet=True))
    assert "A" in _hint(nb04.even_overlap.check({"A", "B", "C", "E"}, quiet=True))
    assert "more pair" in _hint(nb04.even_overlap.check({"B"}, quiet=True))
