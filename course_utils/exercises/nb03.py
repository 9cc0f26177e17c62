"""Exercises of notebook 03 (dilated convolution).

Every reference answer is computed by the course package (arithmetic, the
receptive-field table, the parameter table, the numpy convolution), so the
checks and the lecture cannot drift apart. Hints never state the answer.
"""

from __future__ import annotations

import numpy as np

from course_utils import arithmetic, ops, params
from course_utils import receptive_field as rfm
from course_utils.exercises import Exercise, as_letters, require
from course_utils.models import context_layers
from course_utils.plots.dilated import dilation_footprint

__all__ = [
    "RF_STACK",
    "GRIDDING_STACKS",
    "span",
    "stack_rf",
    "module_weights",
    "gridding",
    "tap_position",
    "broken_right_layers",
]

#: The stack of 3x3 convolutions of the receptive-field exercise (dilations).
RF_STACK = (1, 2, 4, 8)
#: Stacks of 3x3 convolutions (dilations) for the gridding exercise.
GRIDDING_STACKS = {"A": (1, 2, 4), "B": (2, 2, 2), "C": (1, 2, 3), "D": (2, 4, 8), "E": (1, 3, 9)}


def _check_span(answer) -> None:
    require(callable(answer), "answer should be a function span(k, d) returning an int.")
    for k in (3, 2, 5, 1, 4, 6, 7):
        for d in range(1, 7):
            got, expected = answer(k, d), arithmetic.effective_kernel(k, d)
            if got == expected:
                continue
            if d == 1:
                raise AssertionError(f"span({k}, 1) returned {got!r}: with d = 1 the kernel is an ordinary "
                                     f"{k}-tap kernel. Start from that case.")
            if k > 1 and got == k * d:
                raise AssertionError(f"span({k}, {d}) returned k*d. Count the gaps: {k} taps have {k - 1} "
                                     "gaps between them, and each gap holds d - 1 zeros.")
            raise AssertionError(f"span({k}, {d}) returned {got!r}, which is not right. Hint: draw the "
                                 f"{k} taps on a line with d - 1 zeros between neighbours and count.")


def _check_stack_rf(answer) -> None:
    table = rfm.receptive_field_table([f"conv3d{d}" for d in RF_STACK])
    expected = int(table["rf"].iloc[-1])
    plain = int(rfm.receptive_field_table(["conv3"] * len(RF_STACK))["rf"].iloc[-1])
    if answer == plain:
        raise AssertionError("that is the receptive field of four *plain* 3x3 layers. Each dilated layer "
                             "adds (k_eff - 1) pixels, and k_eff grows with the dilation.")
    spans = sum(arithmetic.effective_kernel(3, d) for d in RF_STACK)
    if answer == spans:
        raise AssertionError("you added the spans of the four kernels. A stack of layers overlaps by one "
                             "pixel per layer: start from 1 and add (k_eff - 1) for every layer.")
    if answer == (expected, expected) or answer == f"{expected}x{expected}":
        raise AssertionError("give one number, the side of the square receptive field.")
    require(answer == expected, ("start from rf = 1 and add (k_eff - 1) * jump for every layer; here "
                                "jump stays 1 (no stride) and k_eff = k + (k - 1)(d - 1)."))


def _weights_only(c: int) -> int:
    table = params.parameter_table(context_layers(c), input_size=16, input_channels=c)
    return int(table["params"].sum()) - len(table) * c  # minus one bias of C per layer


def _check_module_weights(answer) -> None:
    require(callable(answer), "answer should be a function module_weights(C) returning an int.")
    for c in (3, 8, 21, 64, 1, 2):
        got, expected = answer(c), _weights_only(c)
        if got == expected:
            continue
        if got == expected + 8 * c:
            raise AssertionError("you counted the biases too; the question asks for the kernel weights only.")
        if got == 72 * c * c:
            raise AssertionError("look at the kernel size of the eighth layer again.")
        raise AssertionError(f"module_weights({c}) returned {got!r}. Each layer maps C channels to C "
                             "channels: a kh x kw layer has kh*kw*C*C weights. Add the eight layers.")


def _check_gridding(answer) -> None:
    chosen = as_letters(answer, GRIDDING_STACKS, "stacks")
    full = {name for name, dil in GRIDDING_STACKS.items() if np.all(dilation_footprint(dil) > 0)}
    wrong_in, missing = sorted(chosen - full), sorted(full - chosen)
    if wrong_in:
        raise AssertionError(f"{', '.join(wrong_in)} leave(s) holes. When every dilation of a stack is a "
                             "multiple of some g > 1, which input offsets can the stack ever reach?")
    require(not missing, (f"you missed {len(missing)} stack(s) that read every pixel. Draw the 1-D footprint: "
                         "can the layers fill the gaps that a larger dilation leaves?"))


def _read_pixel(y: int, x: int, i: int, j: int, s: int, d: int) -> tuple[int, int]:
    """The padded input pixel tap (i, j) of output (y, x) reads, measured with ops.conv2d_forward."""
    size = (max(y, x) * s + 2 * d + 3)
    image = np.arange(size * size, dtype=float).reshape(1, size, size, 1)
    w = np.zeros((3, 3, 1, 1))
    w[i, j] = 1.0
    out, _ = ops.conv2d_forward(image, w, None, stride=s, dilation=d)
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


span = Exercise(
    "nb03-span",
    "Write span(k, d): how many input pixels a k-tap kernel with dilation d covers along one axis.",
    _check_span)
stack_rf = Exercise(
    "nb03-stack-rf",
    f"What is the receptive field (side, in pixels) of 3x3 convolutions with dilations {RF_STACK}, stride 1?",
    _check_stack_rf)
module_weights = Exercise(
    "nb03-module-weights",
    "Write module_weights(C): the number of kernel weights (no biases) of the Basic context module.",
    _check_module_weights)
gridding = Exercise(
    "nb03-gridding",
    "Which stacks of 3x3 convolutions in GRIDDING_STACKS read every pixel of their receptive field?",
    _check_gridding)
tap_position = Exercise(
    "nb03-tap-position",
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
    "nb03-broken-right-layers",
    "Before running the comparison with autodiff: which layers' kernel gradients will the broken "
    "dilated backprop get right? Give a set of layer names.",
    _check_broken_right_layers, style="predict")
