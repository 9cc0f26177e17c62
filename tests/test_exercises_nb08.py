"""The exercises of notebook 08 accept the solutions and give hints, never the answer."""

from __future__ import annotations

import numpy as np

from course_utils.exercises import nb08


def test_solutions_pass():
    assert nb08.dense_channels.check(64 + 32 * 6, quiet=True)
    assert nb08.grouped_saving.check(3 * 3 * 384 * 384 - 3 * 3 * 192 * 384, quiet=True)
    assert nb08.vgg_saving.check(49 * 256 ** 2 - 27 * 256 ** 2, quiet=True)
    assert nb08.dense_to_conv.check(lambda k, s: k.reshape(*s, k.shape[1]), quiet=True)


def test_wrong_answers_get_hints_without_the_answer():
    for exercise, wrong, answer in ((nb08.dense_channels, 64 + 32 * 7, 256), (nb08.dense_channels, 200, 256),
                                    (nb08.grouped_saving, 1, 663552), (nb08.vgg_saving, -1441792, 1441792),
                                    (nb08.vgg_saving, 3, 1441792)):
        result = exercise.check(wrong, quiet=True)
        assert not result and str(answer) not in result.message and f"{answer:,}" not in result.message
    assert "own" in nb08.dense_channels.check(64 + 32 * 7, quiet=True).message
    assert "sign" in nb08.vgg_saving.check(-1441792, quiet=True).message


def test_dense_to_conv_recognises_the_channels_first_order():
    def pytorch_order(kernel, shape):
        h, w, c = shape
        return kernel.reshape(c, h, w, kernel.shape[1]).transpose(1, 2, 0, 3)

    result = nb08.dense_to_conv.check(pytorch_order, quiet=True)
    assert not result and "PyTorch" in result.message
    assert "shape" in nb08.dense_to_conv.check(lambda k, s: k, quiet=True).message
    assert not nb08.dense_to_conv.check(lambda k, s: np.zeros((*s, k.shape[1])), quiet=True)
