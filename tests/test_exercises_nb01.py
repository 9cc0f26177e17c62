"""The exercises of notebook 01 accept the solutions and give hints (never the answer) otherwise."""

from __future__ import annotations

import numpy as np
import pytest

from course_utils import arithmetic
from course_utils.exercises import nb01


def _hint_without(result, answer) -> None:
    assert not result and "not quite" in result.message
    assert str(answer) not in result.message.split("not quite:", 1)[1]


def test_solutions_pass(keras):
    assert nb01.output_size.check((32 + 2 * 2 - 5) // 2 + 1, quiet=True)
    assert nb01.true_convolution.check(nb01.KERNEL[::-1, ::-1], quiet=True)
    assert nb01.true_convolution.check(np.rot90(nb01.KERNEL, 2).tolist(), quiet=True)
    assert nb01.same_padding.check(lambda k: (k - 1) // 2, quiet=True)
    assert nb01.pointwise_params.check(256 * 64 + 64, quiet=True)
    assert nb01.conv2d_layer.check(keras.layers.Conv2D(32, 3, strides=2, padding="same"), quiet=True)


@pytest.mark.parametrize("wrong,word", [(15, "+1"), (14, "padding"), (32, "stride-1"), (16.5, "floor"), (17, "floor")])
def test_output_size_mistakes(wrong, word):
    result = nb01.output_size.check(wrong, quiet=True)
    _hint_without(result, arithmetic.conv_output_size(32, 5, 2, 2))
    assert word in result.message


@pytest.mark.parametrize("transform,word", [(lambda k: k, "cross-correlation"), (lambda k: k.T, "transpose"),
                                            (lambda k: k[::-1], "one axis"), (lambda k: k[:, ::-1], "one axis"),
                                            (lambda k: np.zeros((2, 2)), "shape")])
def test_true_convolution_mistakes(transform, word):
    result = nb01.true_convolution.check(transform(nb01.KERNEL), quiet=True)
    assert not result and word in result.message


def test_same_padding_mistakes():
    assert "whole number" in nb01.same_padding.check(lambda k: k / 2, quiet=True).message
    assert "negative" in nb01.same_padding.check(lambda k: -1, quiet=True).message
    wrong = nb01.same_padding.check(lambda k: k // 2 + 1, quiet=True)
    assert not wrong and "solve for p" in wrong.message
    assert "function" in nb01.same_padding.check(3, quiet=True).message
    assert "whole number" in nb01.same_padding.check(lambda k: None, quiet=True).message


def test_pointwise_params_mistakes():
    expected = 256 * 64 + 64
    for wrong, word in [(256 * 64, "biases"), (256 + 64, "every input channel"), (9 * 256 * 64 + 64, "3x3")]:
        result = nb01.pointwise_params.check(wrong, quiet=True)
        _hint_without(result, expected)
        assert word in result.message
    assert "whole number" in nb01.pointwise_params.check(16448.0, quiet=True).message


def test_conv2d_layer_mistakes(keras):
    cases = [(keras.layers.Conv2D(32, 3, strides=2), "'valid'"), (keras.layers.Conv2D(32, 3, padding="same"), "stride"),
             (keras.layers.Conv2D(16, 3, strides=2, padding="same"), "filters"),
             (keras.layers.Conv2D(32, 5, strides=2, padding="same"), "3x3"),
             (keras.layers.Conv2D(32, 3, strides=4, padding="same"), "8x8"),
             (keras.layers.SeparableConv2D(32, 3, strides=2, padding="same"), "Conv2D"),
             ("Conv2D(32, 3)", "Conv2D")]
    for layer, word in cases:
        result = nb01.conv2d_layer.check(layer, quiet=True)
        assert not result and word in result.message, (layer, result.message)


def test_not_attempted():
    for exercise in (nb01.output_size, nb01.true_convolution, nb01.same_padding, nb01.pointwise_params,
                     nb01.conv2d_layer):
        assert "not attempted" in exercise.check(None, quiet=True).message
