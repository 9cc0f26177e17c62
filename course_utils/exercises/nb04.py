"""Exercises of notebook 04 (transposed convolution).

Reference answers are computed by :mod:`course_utils.arithmetic`,
:mod:`course_utils.ops` and Keras itself; hints never state the answer.
"""

from __future__ import annotations

import numpy as np

from course_utils import arithmetic, ops
from course_utils.exercises import Exercise, as_letters, require
from course_utils.plots.transposed import overlap_map

__all__ = [
    "SIZE_CASE",
    "SCATTER_X",
    "SCATTER_K",
    "PAIRS",
    "output_size",
    "scatter",
    "keras_kernel_shape",
    "even_overlap",
    "same_output_padding",
    "buggy_transposed_size",
    "fix_transposed_size",
]

#: n, k, s, p, output_padding of the output-size exercise (PyTorch-style integer padding).
SIZE_CASE = {"n": 5, "k": 3, "s": 2, "p": 1, "output_padding": 1}
#: Input and kernel of the scatter exercise (stride 1, no padding).
SCATTER_X = np.array([[1.0, -1.0], [2.0, 0.0]])
SCATTER_K = np.array([[1.0, 2.0], [0.0, 1.0]])
#: (kernel, stride) pairs of the checkerboard exercise.
PAIRS = {"A": (3, 2), "B": (4, 2), "C": (2, 2), "D": (5, 2), "E": (3, 3), "F": (6, 4)}


def _check_output_size(answer) -> None:
    n, k, s, p, op = SIZE_CASE.values()
    expected = arithmetic.transposed_conv_output_size(n, k, s, p, op)
    if answer == arithmetic.conv_output_size(n, k, s, p):
        raise AssertionError("that is the output size of the ordinary convolution. A transposed convolution "
                             "goes the other way: it makes the input larger.")
    if answer == expected - op:
        raise AssertionError("close: you left out output_padding, which adds rows at the bottom (and columns "
                             "on the right).")
    if answer == expected + 2 * p:
        raise AssertionError("close: in a transposed convolution the padding p *removes* p rows on each side.")
    require(answer == expected, "use n_out = (n - 1)*s + k - 2p + output_padding, term by term.")


def _transposed(x: np.ndarray, k: np.ndarray, stride: int = 1) -> np.ndarray:
    out, _ = ops.conv2d_transpose_forward(x[None, :, :, None], k[:, :, None, None], None, stride=stride)
    return out[0, :, :, 0]


def _check_scatter(answer) -> None:
    got = np.asarray(answer, dtype=float)
    expected = _transposed(SCATTER_X, SCATTER_K)
    require(got.shape == expected.shape, (
        f"your array has shape {got.shape}. With stride 1 and no padding the output side is "
        "(n - 1)*1 + k: each 2x2 copy of the kernel is shifted by one pixel."))
    if np.allclose(got, _transposed(SCATTER_X, SCATTER_K[::-1, ::-1])) and not np.allclose(got, expected):
        raise AssertionError("you rotated the kernel. In the scatter view nothing is rotated: x[i, j] * K "
                             "is written, as it is, with its top-left corner at (i, j).")
    require(np.allclose(got, expected), ("write one 3x3 array per input pixel holding x[i, j] * K at (i, j) "
                                        "and zeros elsewhere, then add the four arrays."))


def _kernel_shape(filters: int, kernel: int, channels: int) -> tuple[int, ...]:
    import keras

    layer = keras.layers.Conv2DTranspose(filters, kernel)
    layer.build((None, 8, 8, channels))
    return tuple(layer.kernel.shape)


def _check_keras_kernel_shape(answer) -> None:
    try:
        got = tuple(int(v) for v in answer)
    except TypeError:
        raise AssertionError("answer with a tuple of four ints (kh, kw, ..., ...).") from None
    expected = _kernel_shape(8, 3, 16)
    if got == _kernel_shape(8, 3, 16)[:2] + _kernel_shape(8, 3, 16)[2:][::-1]:
        raise AssertionError("that is the layout of a Conv2D kernel. Conv2DTranspose stores the kernel of "
                             "the convolution it transposes, which maps the *output* channels back to the input.")
    require(got == expected, "a Keras kernel starts with (kh, kw); think about which channels come next.")


def _even(k: int, s: int) -> bool:
    """True when every interior output pixel receives the same number of inputs."""
    counts = overlap_map(4 * (k + s), k, s)
    interior = counts[k:-k, k:-k]
    return bool(interior.min() == interior.max())


def _check_even_overlap(answer) -> None:
    chosen = as_letters(answer, PAIRS, "pairs")
    even = {name for name, (k, s) in PAIRS.items() if _even(k, s)}
    if chosen - even:
        raise AssertionError(f"{', '.join(sorted(chosen - even))}: some output pixels there receive more inputs "
                             "than their neighbours. Count how many kernel copies cover one pixel, along one axis.")
    require(not (even - chosen), (f"{len(even - chosen)} more pair(s) overlap evenly. Along one axis a copy "
                                 "starts every s pixels and is k pixels long: when does that tile evenly?"))


def _check_same_output_padding(answer) -> None:
    target, n, k, s = 7, 4, 3, 2
    valid = [op for op in range(s) if arithmetic.transposed_conv_output_size(n, k, s, "same", op) == target]
    require(isinstance(answer, (int, np.integer)) and not isinstance(answer, bool), "answer with an int.")
    require(0 <= answer < s, "output_padding must be smaller than the stride.")
    require(answer in valid, ("with padding='same' and output_padding given, Keras computes "
                             "(n - 1)*s + (k % 2) + output_padding. Solve for output_padding."))


output_size = Exercise(
    "nb04-output-size",
    "Output side of a transposed convolution with SIZE_CASE (n, k, s, p, output_padding), PyTorch-style padding?",
    _check_output_size)
scatter = Exercise(
    "nb04-scatter",
    "By hand: the transposed convolution (stride 1, no padding) of SCATTER_X with SCATTER_K, as a 2-D array.",
    _check_scatter)
keras_kernel_shape = Exercise(
    "nb04-keras-kernel-shape",
    "The shape of the kernel of Conv2DTranspose(filters=8, kernel_size=3) applied to a 16-channel input?",
    _check_keras_kernel_shape)
even_overlap = Exercise(
    "nb04-even-overlap",
    "Which (kernel, stride) pairs in PAIRS give every interior output pixel the same number of inputs?",
    _check_even_overlap)
same_output_padding = Exercise(
    "nb04-same-output-padding",
    "Conv2DTranspose(kernel_size=3, strides=2, padding='same') on a 4x4 input: which output_padding gives 7x7?",
    _check_same_output_padding)


# ----------------------------------------------------------------------------- find the bug
def buggy_transposed_size(n, k, s=1, p=0):
    """Output length of a transposed convolution. It has a bug."""
    return n * s + k - 2 * p


def _check_fix_transposed_size(answer) -> None:
    require(callable(answer), "answer should be the repaired function transposed_size(n, k, s=1, p=0).")
    for n, k, s, p in [(2, 2, 2, 0), (2, 3, 1, 0), (5, 3, 2, 1), (4, 4, 2, 1), (3, 3, 3, 0), (7, 5, 1, 2),
                       (1, 3, 2, 0), (8, 4, 4, 0)]:
        got, expected = answer(n, k, s, p), arithmetic.transposed_conv_output_size(n, k, s, p)
        if got == expected:
            continue
        if got == buggy_transposed_size(n, k, s, p):
            raise AssertionError(f"transposed_size({n}, {k}, {s}, {p}) still gives the buggy result. "
                                 "Where does the copy of the last input pixel start?")
        raise AssertionError(f"transposed_size({n}, {k}, {s}, {p}) returned {got!r}: the copies start s pixels "
                             "apart, the last one is k pixels long, and p pixels are cropped at both ends.")


fix_transposed_size = Exercise(
    "nb04-fix-transposed-size",
    "nb04.buggy_transposed_size(n, k, s, p) gives 6 for the 2x2 -> 4x4 example (k = 2, s = 2). "
    "Find the bug and give the repaired function.",
    _check_fix_transposed_size, style="find-the-bug")
