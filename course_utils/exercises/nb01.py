"""Exercises of notebook 01 (convolution basics and arithmetic).

Every expected value is computed by :mod:`course_utils.arithmetic`,
:mod:`course_utils.params` or Keras itself, never typed in.
"""

from __future__ import annotations

import numpy as np

from course_utils import arithmetic
from course_utils import params as course_params
from course_utils.exercises import Exercise, as_int, expect_equal, require

__all__ = [
    "KERNEL",
    "conv2d_layer",
    "output_size",
    "pointwise_params",
    "same_padding",
    "true_convolution",
    "buggy_output_size",
    "fix_output_size",
]

#: The kernel of :data:`true_convolution` (no symmetry, so every flip shows).
KERNEL = np.array([[1.0, 2.0, 0.0], [0.0, 3.0, -1.0], [4.0, 0.0, 5.0]])


# ----------------------------------------------------------------------------- 1
def _check_output_size(answer) -> None:
    n, k, s, p = 32, 5, 2, 2
    if isinstance(answer, float) and not answer.is_integer():
        raise AssertionError("a feature map has a whole number of rows: the formula has a floor.")
    got = as_int(answer, "an output size")
    expected = arithmetic.conv_output_size(n, k, s, p)
    wrong = {
        (n + 2 * p - k) // s: "you forgot the +1: the first window sits at position 0 before any stride.",
        arithmetic.conv_output_size(n, k, s, 0): "you left out the padding: it adds p zeros on *both* sides.",
        arithmetic.conv_output_size(n, k, 1, p): "that is the stride-1 size: the window moves s pixels at a time.",
    }
    expect_equal(got, expected, "n_out = floor((n + 2p - k) / s) + 1.", wrong)


output_size = Exercise(
    "output_size",
    "A 32x32 input, a 5x5 kernel, stride 2 and padding 2: how many rows does the output have? Give an int.",
    _check_output_size,
)


# ----------------------------------------------------------------------------- 2
def _check_true_convolution(answer) -> None:
    w = np.asarray(answer, dtype=float)
    require(w.shape == KERNEL.shape, f"the kernel passed to conv2d has the shape of V, {KERNEL.shape}; got {w.shape}.")
    expected = KERNEL[::-1, ::-1]
    if np.array_equal(w, KERNEL):
        raise AssertionError("that is V itself: conv2d slides it without flipping, which is cross-correlation.")
    if np.array_equal(w, KERNEL.T) or np.array_equal(w, expected.T):
        raise AssertionError("a transpose swaps rows and columns; the convolution reflects the kernel instead.")
    if np.array_equal(w, KERNEL[::-1]) or np.array_equal(w, KERNEL[:, ::-1]):
        raise AssertionError("you flipped one axis only: V(i - m, j - n) runs backwards along both.")
    require(np.allclose(w, expected), "Hint: compare h = sum I(m+i, n+j) W(m, n) with h = sum I(i-m, j-n) V(m, n).")


true_convolution = Exercise(
    "true_convolution",
    "tf.nn.conv2d computes a cross-correlation. Which kernel W must you pass it so that it computes the "
    "convolution with V = nb01.KERNEL? Give a 3x3 array.",
    _check_true_convolution,
)


# ----------------------------------------------------------------------------- 3
def _check_same_padding(answer) -> None:
    require(callable(answer), "answer should be a function same_padding(k) returning an int.")
    for k in (1, 3, 5, 7, 9, 11):
        p = answer(k)
        require(isinstance(p, (int, np.integer)) and not isinstance(p, bool), (
            f"same_padding({k}) returned {type(p).__name__}: padding is a whole number of pixels (use //)."))
        require(p >= 0, f"same_padding({k}) returned {p}: padding adds zeros, it cannot be negative.")
        for n in (k, 10, 28, 33):
            got = arithmetic.conv_output_size(n, k, 1, int(p))
            if got != n:
                raise AssertionError(
                    f"with k={k} and p={p} a {n}x{n} input becomes {got}x{got}. "
                    "Set n_out = n in the formula with s = 1 and solve for p.")


same_padding = Exercise(
    "same_padding",
    "Write same_padding(k): the padding that keeps an n x n input n x n at stride 1, for odd k.",
    _check_same_padding,
)


# ----------------------------------------------------------------------------- 4
def _check_pointwise_params(answer) -> None:
    c_in, c_out = 256, 64
    got = as_int(answer, "a parameter count")
    table = course_params.parameter_table([f"conv1-{c_out}"], input_size=8, input_channels=c_in)
    expected = int(table["params"].sum())
    wrong = {
        expected - c_out: "add the biases: one per output channel.",
        c_in + c_out: "a 1x1 kernel is not one number per channel: each output channel has a weight for "
                      "every input channel.",
        c_in * c_out * 9 + c_out: "that is a 3x3 kernel; a pointwise convolution is 1x1.",
    }
    expect_equal(got, expected, "a 1x1 convolution is a Dense layer applied at every pixel.", wrong)


pointwise_params = Exercise(
    "pointwise_params",
    "How many parameters (weights and biases) does a 1x1 convolution from 256 to 64 channels have? Give an int.",
    _check_pointwise_params,
)


# ----------------------------------------------------------------------------- 5
def _check_conv2d_layer(answer) -> None:
    import keras

    require(isinstance(answer, keras.layers.Conv2D) and type(answer) is keras.layers.Conv2D, (
        f"give a keras.layers.Conv2D(...) layer, not {type(answer).__name__}."))
    require(tuple(answer.kernel_size) == (3, 3), f"use a 3x3 kernel, not {tuple(answer.kernel_size)}.")
    shape = tuple(answer.compute_output_shape((1, 32, 32, 16)))
    if shape[-1] != 32:
        raise AssertionError(f"your layer makes {shape[-1]} channels: the number of output channels is `filters`.")
    n, target = 32, 16
    size = shape[1]
    if size == arithmetic.conv_output_size(n, 3, 2, "valid"):
        raise AssertionError(f"{size}x{size}: with 'valid' padding the output loses the border; pad the input.")
    if size in (arithmetic.conv_output_size(n, 3, 1, "valid"), n):
        raise AssertionError("the output is (almost) as large as the input: set the stride.")
    require(shape[1:3] == (target, target), (
        f"your layer gives {shape[1]}x{shape[2]}; aim for {target}x{target} (the input halved)."))


conv2d_layer = Exercise(
    "conv2d_layer",
    "Give a keras.layers.Conv2D with 3x3 kernels that maps a (32, 32, 16) input to (16, 16, 32).",
    _check_conv2d_layer,
)


# ----------------------------------------------------------------------------- find the bug
def buggy_output_size(n, k, s=1, p=0):
    """Output length of a convolution. It has a bug."""
    return (n + p - k) // s + 1


#: (n, k, s, p) cases the repaired function is tried on.
_SIZE_CASES = [(5, 3, 2, 1), (7, 3, 1, 1), (32, 5, 2, 2), (10, 3, 1, 0), (28, 4, 2, 1), (9, 3, 3, 0),
               (224, 7, 2, 3), (8, 2, 2, 0), (6, 5, 1, 2)]


def _check_fix_output_size(answer) -> None:
    require(callable(answer), "answer should be the repaired function output_size(n, k, s=1, p=0).")
    got = [answer(n, k, s, p) for n, k, s, p in _SIZE_CASES]
    if got == [buggy_output_size(*case) for case in _SIZE_CASES]:
        raise AssertionError("your function still gives the buggy result. The padding surrounds the input: "
                             "how many zeros does it add along one axis?")
    for (n, k, s, p), got in zip(_SIZE_CASES, got):
        if got == arithmetic.conv_output_size(n, k, s, p):
            continue
        if got == (n + 2 * p - k) // s:
            raise AssertionError(f"output_size({n}, {k}, {s}, {p}) is one short: count the first position too.")
        raise AssertionError(f"output_size({n}, {k}, {s}, {p}) returned {got!r}: the kernel takes positions "
                             "0, s, 2s, ... as long as it fits inside the padded input.")


fix_output_size = Exercise(
    "nb01-fix-output-size",
    "nb01.buggy_output_size(n, k, s, p) gives a wrong size for padded inputs. Find the bug and give the repaired function.",
    _check_fix_output_size, style="find-the-bug")
