"""Wrong arguments fail early with a ValueError that names the shapes and says what to do."""

from __future__ import annotations

import numpy as np
import pytest

from course_utils.ops import (
    conv2d_backward,
    conv2d_forward,
    conv2d_forward_naive,
    depthwise_conv2d_forward,
    im2col,
)

X = np.zeros((2, 5, 5, 3))
W = np.zeros((3, 3, 3, 4))
B = np.zeros(4)


@pytest.mark.parametrize("forward", [conv2d_forward, conv2d_forward_naive])
@pytest.mark.parametrize(
    "x, w, b, kwargs, message",
    [
        (np.zeros((5, 5, 3)), W, B, {}, r"x must be 4-D \(N, H, W, C_in\), got shape \(5, 5, 3\).*x\[None\]"),
        (np.zeros((5, 5)), W, B, {}, r"got shape \(5, 5\).*x\[None, :, :, None\]"),
        (X, np.zeros((3, 3, 4)), B, {}, r"w must be 4-D \(kh, kw, C_in / groups, C_out\), got shape \(3, 3, 4\)"),
        (X, np.zeros((3, 3, 2, 4)), B, {}, r"w has shape \(3, 3, 2, 4\) but x has shape \(2, 5, 5, 3\).*= 3"),
        (X, W, np.zeros(3), {}, r"b must have shape \(C_out,\) = \(4,\) to match w \(3, 3, 3, 4\), got \(3,\)"),
        (X, W, B, dict(stride=0), r"stride must be >= 1, got 0"),
        (X, W, B, dict(stride=(1, 2, 3)), r"stride must be an int or a pair"),
        (X, W, B, dict(padding="full"), r"padding must be 'same', 'valid' or integers, got 'full'"),
        (X, W, B, dict(padding=-1), r"padding must be >= 0"),
        (X, W, B, dict(dilation=3), r"3x3 kernel dilated by \(3, 3\) to 7x7 does not fit in the 5x5 input"),
        (X, np.zeros((7, 7, 3, 4)), B, {}, r"7x7 kernel does not fit .* Use padding='same'"),
        (X, np.zeros((3, 3, 1, 4)), B, dict(groups=2), r"groups=2 must divide both C_in=3 .* and C_out=4"),
        (X, W, B, dict(groups=0), r"groups must be a positive int"),
    ],
)
def test_conv_arguments_are_checked(forward, x, w, b, kwargs, message):
    with pytest.raises(ValueError, match=message):
        forward(x, w, b, **kwargs)


def test_backward_checks_the_upstream_gradient():
    out, cache = conv2d_forward(X, W, B, padding="same")
    with pytest.raises(ValueError, match=r"dout must have shape \(2, 5, 5, 4\), got \(2, 3, 3, 4\)"):
        conv2d_backward(np.zeros((2, 3, 3, 4)), cache)


def test_depthwise_channel_mismatch_is_explained():
    with pytest.raises(ValueError, match=r"w has shape \(3, 3, 4, 1\) but x has shape \(2, 5, 5, 3\)"):
        depthwise_conv2d_forward(X, np.zeros((3, 3, 4, 1)))


def test_im2col_checks_rank():
    with pytest.raises(ValueError, match=r"im2col: x must be 4-D"):
        im2col(np.zeros((5, 5)), 3)
