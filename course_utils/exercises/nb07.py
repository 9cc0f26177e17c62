"""Exercises of notebook 07 (backprop through convolution).

The data of each exercise is a module constant, so the notebook shows it and the
check compares with a reference computed by :mod:`course_utils.ops`.
"""

from __future__ import annotations

import numpy as np

from course_utils.exercises import Exercise, require
from course_utils.ops import conv2d_backward, conv2d_forward, max_pool_backward, max_pool_forward

__all__ = [
    "INPUT",
    "KERNEL",
    "UPSTREAM",
    "POOL_INPUT",
    "POOL_UPSTREAM",
    "weight_gradient",
    "input_gradient",
    "maxpool_gradient",
    "input_gradient_function",
    "avgpool_gradient",
    "buggy_window_backward",
    "fix_window_backward",
    "tap_position",
    "broken_right_layers",
]

#: A 3x3 input, a 2x2 kernel and the gradient dE/dH^l of the 2x2 output.
INPUT = np.array([[2., 0., 1.], [1., 3., -1.], [0., 2., 1.]])
KERNEL = np.array([[1., -2.], [0., 3.]])
UPSTREAM = np.array([[1., -1.], [2., 0.5]])
#: A 4x4 input of a 2x2 max-pool (stride 2) and the gradient of its 2x2 output.
POOL_INPUT = np.array([[1., 5., 2., 0.], [4., 3., 8., 1.], [0., 2., 3., 7.], [6., 1., 4., 2.]])
POOL_UPSTREAM = np.array([[0.5, -1.], [2., 3.]])


def _conv_grads(x, w, dout):
    out, cache = conv2d_forward(x[None, :, :, None], w[:, :, None, None], None)
    dx, dw, _ = conv2d_backward(np.asarray(dout, float)[None, :, :, None], cache)
    return dx[0, :, :, 0], dw[:, :, 0, 0]


def _as_matrix(answer, shape, what: str) -> np.ndarray:
    array = np.asarray(answer, dtype=float)
    require(array.shape == shape, (f"{what} should have shape {shape}, yours has shape {array.shape}. "
                                  "A gradient always has the shape of the thing it differentiates."))
    return array


def _check_weight_gradient(answer) -> None:
    dw = _as_matrix(answer, KERNEL.shape, "dE/dW")
    expected = _conv_grads(INPUT, KERNEL, UPSTREAM)[1]
    if np.allclose(dw, expected[::-1, ::-1]):
        raise AssertionError("your matrix is the right one rotated by 180 degrees. dE/dW is a "
                             "*correlation* of the input with dE/dH: slide dE/dH over H^{l-1} without flipping it.")
    require(np.allclose(dw, expected), (
        "dE/dw_rs = sum over m, n of dE/dh_mn * h^{l-1}_{r+m-1, s+n-1}: place dE/dH (2x2) on the "
        "input at offset (r, s), multiply element by element and add."))


def _check_input_gradient(answer) -> None:
    dx = _as_matrix(answer, INPUT.shape, "dE/dH^{l-1}")
    expected = _conv_grads(INPUT, KERNEL, UPSTREAM)[0]
    unrotated = _conv_grads(INPUT, KERNEL[::-1, ::-1], UPSTREAM)[0]
    if np.allclose(dx, unrotated) and not np.allclose(dx, expected):
        raise AssertionError("almost: you used the kernel as it is. In the full convolution the kernel "
                             "is rotated by 180 degrees (flip rows and columns).")
    require(np.allclose(dx, expected), (
        "pad dE/dH with k-1 = 1 zeros on every side (it becomes 4x4), rotate the kernel by 180 "
        "degrees and slide it over the padded gradient; each position gives one entry."))


def _check_maxpool_gradient(answer) -> None:
    dx = _as_matrix(answer, POOL_INPUT.shape, "dE/dH^{l-1}")
    out, cache = max_pool_forward(POOL_INPUT[None, :, :, None], 2)
    expected = max_pool_backward(POOL_UPSTREAM[None, :, :, None], cache)[0, :, :, 0]
    require(np.count_nonzero(dx) <= np.count_nonzero(expected), (
        "too many non-zero entries: in each 2x2 window only the input that won the max gets gradient; "
        "the other three get 0 (spreading it evenly would be average pooling)."))
    require(np.allclose(dx, expected), (
        "find the largest value of each 2x2 window and give it the upstream gradient of that window."))


def _check_input_gradient_function(answer) -> None:
    require(callable(answer), "answer should be a function input_gradient(dout, w) returning an array.")
    rng = np.random.default_rng(7)
    for n, k in ((3, 2), (5, 3), (6, 2), (4, 4)):
        x = rng.standard_normal((n, n))
        w = rng.standard_normal((k, k))
        dout = rng.standard_normal((n - k + 1, n - k + 1))
        dx = np.asarray(answer(dout.copy(), w.copy()), dtype=float)
        require(dx.shape == (n, n), (f"for a {n}x{n} input and a {k}x{k} kernel your function returned shape "
                                    f"{dx.shape}; pad dout by k-1 on every side so the result is {n}x{n}."))
        expected = _conv_grads(x, w, dout)[0]
        require(np.allclose(dx, expected), (
            f"wrong values for a {n}x{n} input and a {k}x{k} kernel: check that you rotate w by 180 "
            "degrees and correlate it with the zero-padded dout."))


weight_gradient = Exercise(
    "nb07-weight-gradient",
    "For INPUT (3x3), KERNEL (2x2) and the upstream gradient UPSTREAM = dE/dH^l, compute dE/dW (2x2).",
    _check_weight_gradient)
input_gradient = Exercise(
    "nb07-input-gradient",
    "For the same INPUT, KERNEL and UPSTREAM, compute dE/dH^{l-1} (3x3).",
    _check_input_gradient)
maxpool_gradient = Exercise(
    "nb07-maxpool-gradient",
    "POOL_INPUT (4x4) goes through 2x2 max-pooling; given POOL_UPSTREAM = dE/dH^l (2x2), compute dE/dH^{l-1}.",
    _check_maxpool_gradient)
input_gradient_function = Exercise(
    "nb07-input-gradient-function",
    "Write input_gradient(dout, w): dE/dX of a single-channel, stride-1, unpadded convolution.",
    _check_input_gradient_function)


# ----------------------------------------------------------------------------- average pooling
def _check_avgpool_gradient(answer) -> None:
    from course_utils.ops import avg_pool_backward, avg_pool_forward

    got = np.asarray(answer, dtype=float)
    require(got.shape == POOL_INPUT.shape, f"answer should be a {POOL_INPUT.shape} array, like POOL_INPUT.")
    _, cache = avg_pool_forward(POOL_INPUT[None, :, :, None], 2)
    expected = avg_pool_backward(POOL_UPSTREAM[None, :, :, None], cache)[0, :, :, 0]
    if np.allclose(got, expected):
        return
    spread = np.kron(POOL_UPSTREAM, np.ones((2, 2)))
    if np.allclose(got, spread):
        raise AssertionError("every input of a window gets a share, right, but the output is a *mean* of four "
                             "inputs: how much does one of them move it?")
    _, max_cache = max_pool_forward(POOL_INPUT[None, :, :, None], 2)
    if np.allclose(got, max_pool_backward(POOL_UPSTREAM[None, :, :, None], max_cache)[0, :, :, 0]):
        raise AssertionError("that is max pooling's routing: an average depends on every input of its window.")
    raise AssertionError("each 2x2 window's upstream value is shared by its four inputs; the windows do not overlap.")


avgpool_gradient = Exercise(
    "nb07-avgpool-gradient",
    "POOL_INPUT goes through 2x2 average pooling (stride 2); the pooled output's gradient is POOL_UPSTREAM. "
    "Give dE/dH^{l-1} as a 4x4 array.",
    _check_avgpool_gradient)


# ----------------------------------------------------------------------------- find the bug
def buggy_window_backward(window, g):
    """Gradient of max(window) for an upstream gradient g. It has a bug."""
    window = np.asarray(window, dtype=float)
    return np.where(window == window.max(), g, 0.0)


def _check_fix_window_backward(answer) -> None:
    require(callable(answer), "answer should be the repaired function window_backward(window, g).")
    windows = [np.array([[1., 3.], [2., 0.]]), np.array([[4., 4.], [1., 2.]]), np.array([[0., 1.], [1., 1.]]),
               np.array([[2., 2.], [2., 2.]]), np.array([[1., 2., 5.], [5., 0., 3.], [5., 1., 2.]])]
    for window, g in zip(windows, (1.5, -2.0, 3.0, 0.5, 1.0)):
        got = np.asarray(answer(window.copy(), g), dtype=float)
        require(got.shape == window.shape, f"for a {window.shape} window your function returned shape {got.shape}.")
        _, cache = max_pool_forward(window[None, :, :, None], window.shape)
        expected = max_pool_backward(np.full((1, 1, 1, 1), g), cache)[0, :, :, 0]
        if np.allclose(got, expected):
            continue
        if np.allclose(got, buggy_window_backward(window, g)):
            raise AssertionError(f"still the buggy result for the window {window.tolist()}: add up what it "
                                 "passes on and compare with g.")
        if np.isclose(got.sum(), g):
            raise AssertionError(f"the gradient of {window.tolist()} goes to one input, but not the one "
                                 "TensorFlow picks at a tie: the first maximum, row by row.")
        raise AssertionError(f"for the window {window.tolist()} the whole of g should go to one input.")


fix_window_backward = Exercise(
    "nb07-fix-window-backward",
    "nb07.buggy_window_backward(window, g) is right when the maximum is unique. Find the bug and give "
    "the repaired function (at a tie, the first maximum in row-major order wins, as in TensorFlow).",
    _check_fix_window_backward, style="find-the-bug")


# ----------------------------------------------------------------------------- dilated backprop (section 10)
def _read_pixel(y: int, x: int, i: int, j: int, s: int, d: int) -> tuple[int, int]:
    """The padded input pixel tap (i, j) of output (y, x) reads, measured with ops.conv2d_forward."""
    size = (max(y, x) * s + 2 * d + 3)
    image = np.arange(size * size, dtype=float).reshape(1, size, size, 1)
    w = np.zeros((3, 3, 1, 1))
    w[i, j] = 1.0
    out, _ = conv2d_forward(image, w, None, stride=s, dilation=d)
    row, col = divmod(int(out[0, y, x, 0]), size)
    return row, col


def _check_tap_position(answer) -> None:
    require(callable(answer), "answer should be a function read(y, x, i, j, s, d) returning (row, col).")
    for y, x, i, j, s, d in [(0, 0, 1, 2, 1, 1), (2, 1, 1, 1, 1, 1), (1, 2, 2, 0, 2, 1),
                             (1, 1, 2, 2, 1, 2), (2, 0, 1, 2, 2, 3), (0, 3, 2, 1, 3, 2)]:
        got, expected = tuple(answer(y, x, i, j, s, d)), _read_pixel(y, x, i, j, s, d)
        if got == expected:
            continue
        if d > 1 and got == (y * s + i, x * s + j):
            raise AssertionError("your function forgets the gaps: with d > 1 neighbouring taps are d pixels "
                                 "apart. This is exactly the bug of the broken backprop.")
        raise AssertionError(f"read{(y, x, i, j, s, d)} returned {got}, which is not right. The window of "
                             "output (y, x) starts at (y*s, x*s); the taps then step through it.")


tap_position = Exercise(
    "nb07-tap-position",
    "Write read(y, x, i, j, s, d): the (row, col) of the padded input that tap (i, j) of output (y, x) "
    "reads, for stride s and dilation d.",
    _check_tap_position)


# ----------------------------------------------------------------------------- predict, then check
def _broken_right_layers() -> set[str]:
    """Layers of the numpy context network whose kernel gradient the broken backprop gets right:
    those reached, going backwards, before the first dilated layer (their dx never went through one)."""
    from course_utils.models import CONTEXT_DILATIONS

    layers = [("front_end", 1)] + [(f"ctx{i}", d) for i, d in enumerate(CONTEXT_DILATIONS, start=1)]
    right = set()
    for name, d in reversed(layers):
        if d > 1:
            break
        right.add(name)
    return right


def _check_broken_right_layers(answer) -> None:
    from course_utils.models import CONTEXT_DILATIONS

    names = ["front_end"] + [f"ctx{i}" for i in range(1, len(CONTEXT_DILATIONS) + 1)]
    try:
        chosen = {str(a).strip() for a in answer}
    except TypeError:
        raise AssertionError("answer with a set of layer names, e.g. {'ctx1', 'ctx2'}.") from None
    unknown = chosen - set(names)
    require(not unknown, f"{sorted(unknown)} are not layers of the network {names}.")
    expected = _broken_right_layers()
    if chosen == expected:
        return
    undilated = {n for n, d in zip(names, (1,) + tuple(CONTEXT_DILATIONS)) if d == 1}
    if chosen - expected and chosen - expected <= undilated:
        raise AssertionError("each layer with d = 1 computes its own gradients correctly from the dout it gets, "
                             "but is the dout it gets right? Follow the gradient from the loss down.")
    if expected - chosen:
        raise AssertionError("some layers get their whole gradient before the backward pass meets any "
                             "dilated layer: which are they?")
    raise AssertionError("a dilated layer's own kernel gradient is wrong already: its taps are looked for "
                         "at the wrong pixels.")


broken_right_layers = Exercise(
    "nb07-broken-right-layers",
    "Before running the comparison with autodiff: which layers' kernel gradients will the broken "
    "dilated backprop get right? Give a set of layer names.",
    _check_broken_right_layers, style="predict")
