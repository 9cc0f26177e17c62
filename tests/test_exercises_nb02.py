"""The exercises of notebook 02 accept the solutions and give hints (never the answer) otherwise."""

from __future__ import annotations

import pytest

from course_utils import receptive_field as rfm
from course_utils.exercises import nb02


def receptive_field(layers):
    r, j = 1, 1
    for k, s in layers:
        r += (k - 1) * j
        j *= s
    return r


def _last(layers, column):
    return int(rfm.receptive_field_table(layers)[column].iloc[-1])


def test_solutions_pass():
    assert nb02.five_by_five.check(2, quiet=True)
    assert nb02.stack_rf.check(_last(nb02.STACK, "rf"), quiet=True)
    assert nb02.stack_jump.check(_last(nb02.STACK, "jump"), quiet=True)
    assert nb02.receptive_field_function.check(receptive_field, quiet=True)
    assert nb02.cover_the_image.check(["conv3", "conv3d2", "conv3d4", "conv3d8"], quiet=True)
    assert nb02.cover_the_image.check(("conv3d4", "conv3d8", "conv3d2"), quiet=True)


def test_the_stack_numbers_follow_the_recurrences():
    layers = [(3, 1), (3, 2), (3, 1), (2, 2), (3, 1)]
    assert _last(nb02.STACK, "rf") == receptive_field(layers)
    assert _last(nb02.STACK, "jump") == 4


def test_five_by_five_mistakes():
    assert "another one" in nb02.five_by_five.check(1, quiet=True).message
    too_many = nb02.five_by_five.check(3, quiet=True)
    assert not too_many and "fewer" in too_many.message
    assert "whole number" in nb02.five_by_five.check("2", quiet=True).message


def test_stack_mistakes_get_specific_hints():
    no_jump = nb02.stack_rf.check(1 + 2 + 2 + 2 + 1 + 2, quiet=True)
    assert not no_jump and "jump" in no_jump.message and str(_last(nb02.STACK, "rf")) not in no_jump.message
    assert "pooling" in nb02.stack_jump.check(2, quiet=True).message
    assert not nb02.stack_jump.check(8, quiet=True)


def test_receptive_field_function_mistakes():
    def stride_too_early(layers):
        r, j = 1, 1
        for k, s in layers:
            j *= s
            r += (k - 1) * j
        return r

    result = nb02.receptive_field_function.check(stride_too_early, quiet=True)
    assert not result and "jump" in result.message
    result = nb02.receptive_field_function.check(lambda layers: 1 + sum(k - 1 for k, _ in layers), quiet=True)
    assert not result and "stride > 1" in result.message
    assert "function" in nb02.receptive_field_function.check(19, quiet=True).message


@pytest.mark.parametrize("answer,word", [(["conv3"] * 4, "dilation"), (["conv3s2"] * 4, "stride"),
                                         (["conv3d2"] * 5, "at most 4"), (["conv5d8"], "3x3"),
                                         (["pool2", "conv3d8"], "3x3"), ([], "list"), ("conv3d8", "list")])
def test_cover_the_image_mistakes(answer, word):
    result = nb02.cover_the_image.check(answer, quiet=True)
    assert not result and word in result.message, result.message
