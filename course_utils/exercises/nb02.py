"""Exercises of notebook 02 (receptive fields).

Every expected value comes from :func:`course_utils.receptive_field.receptive_field_table`,
never typed in.
"""

from __future__ import annotations

from course_utils import receptive_field as rfm
from course_utils import spec as specs
from course_utils.exercises import Exercise, as_int, expect_equal, require

__all__ = [
    "STACK",
    "cover_the_image",
    "five_by_five",
    "receptive_field_function",
    "stack_jump",
    "stack_rf",
    "buggy_receptive_field",
    "fix_receptive_field",
]

#: The stack of :data:`stack_rf` and :data:`stack_jump` (valid padding, stride 1 unless written).
STACK = ["conv3", "conv3s2", "conv3", "pool2", "conv3"]


def _last(layers, column: str) -> int:
    return int(rfm.receptive_field_table(layers)[column].iloc[-1])


# ----------------------------------------------------------------------------- 1
def _check_five_by_five(answer) -> None:
    got = as_int(answer, "a number of layers")
    expected = next(n for n in range(1, 10) if _last(["conv3"] * n, "rf") >= 5)
    if got == 1:
        raise AssertionError("one 3x3 convolution sees 3x3 pixels: stack another one on top.")
    if got > expected:
        raise AssertionError(f"{got} layers see {_last(['conv3'] * got, 'rf')}x{_last(['conv3'] * got, 'rf')}: "
                             "fewer are enough: each 3x3 layer at stride 1 widens the field by k - 1 pixels.")
    expect_equal(got, expected, "each 3x3 layer at stride 1 widens the receptive field by k - 1 pixels.")


five_by_five = Exercise(
    "five_by_five",
    "How many stacked 3x3 convolutions (stride 1) does a unit need to see a 5x5 patch? Give an int.",
    _check_five_by_five,
)


# ----------------------------------------------------------------------------- 2
def _check_stack_rf(answer) -> None:
    got = as_int(answer, "a receptive field")
    expected = _last(STACK, "rf")
    no_jump = 1 + sum(s.effective_kernel[0] - 1 for s in specs.from_list(STACK) if s.kind != "input")
    expect_equal(got, expected, "r_out = r_in + (k - 1) * j_in, and j_out = j_in * s; pooling is a layer too.", {
        no_jump: "you added k - 1 for every layer, as if the jump stayed 1. After a stride-2 layer neighbouring "
                 "units are 2 pixels apart: later layers add (k - 1) * jump."})


stack_rf = Exercise(
    "stack_rf",
    "What is the receptive field of the last layer of nb02.STACK = "
    "['conv3', 'conv3s2', 'conv3', 'pool2', 'conv3']? Give an int.",
    _check_stack_rf,
)


# ----------------------------------------------------------------------------- 3
def _check_stack_jump(answer) -> None:
    got = as_int(answer, "a jump")
    expected = _last(STACK, "jump")
    expect_equal(got, expected, "j_out = j_in * s: multiply the strides of all the layers.",
                 {2: "the stride-2 convolution doubles the jump, and so does the 2x2 pooling."})


stack_jump = Exercise(
    "stack_jump",
    "How many input pixels apart are two neighbouring units of the last layer of nb02.STACK (its jump)? "
    "Give an int.",
    _check_stack_jump,
)


# ----------------------------------------------------------------------------- 4
#: Stacks of (kernel, stride) pairs the function of exercise 4 is tested on.
_RF_CASES = ([(3, 1)], [(3, 1), (3, 1)], [(3, 1), (3, 2), (3, 1)], [(5, 2), (3, 2), (3, 1), (2, 2), (3, 1)],
             [(7, 2), (3, 2), (3, 1), (1, 1)], [(1, 1), (1, 2), (3, 1)], [(2, 2)] * 4, [(11, 4), (3, 2), (5, 1)])


def _check_receptive_field_function(answer) -> None:
    require(callable(answer), "answer should be a function receptive_field(layers) taking (kernel, stride) pairs.")
    for layers in _RF_CASES:
        tokens = [f"conv{k}s{s}" for k, s in layers]
        expected = _last(tokens, "rf")
        got = answer(list(layers))
        if got != expected:
            strided_first = any(s > 1 for _, s in layers[:-1])
            raise AssertionError(
                f"receptive_field({list(layers)}) returned {got!r}. "
                + ("Did the jump change after a stride > 1 layer? " if strided_first else "")
                + "Start from r = 1, j = 1 and apply r += (k - 1) * j, then j *= s, layer by layer.")


receptive_field_function = Exercise(
    "receptive_field_function",
    "Write receptive_field(layers): the RF of the last of a stack of (kernel, stride) layers, "
    "e.g. receptive_field([(3, 1), (3, 2), (3, 1)]).",
    _check_receptive_field_function,
)


# ----------------------------------------------------------------------------- 5
def _check_cover_the_image(answer) -> None:
    image = 28
    require(isinstance(answer, (list, tuple)) and answer, "give a list of layer tokens such as ['conv3', 'conv3d2'].")
    net = specs.from_list(list(answer))
    layers = [s for s in net if s.kind != "input"]
    require(len(layers) <= 4, f"use at most 4 layers, not {len(layers)}.")
    for s in layers:
        require(s.kind == "conv" and s.kernel == (3, 3), (
            f"{s.name!r} is not a 3x3 convolution: only 3x3 convolutions are allowed."))
        require(s.stride == (1, 1), (
            f"{s.name!r} has a stride: that would shrink the map and lose the per-pixel resolution "
            "a dense prediction needs."))
    rf = _last(list(answer), "rf")
    if rf < image:
        plain = _last(["conv3"] * 4, "rf")
        raise AssertionError(f"your stack sees {rf}x{rf} pixels, less than the {image}x{image} image. "
                             f"Four plain 3x3 layers reach only {plain}: spread the kernel taps apart (dilation).")


cover_the_image = Exercise(
    "cover_the_image",
    "With at most four 3x3 convolutions, all of stride 1, build a stack (a list of tokens like 'conv3' or "
    "'conv3d2') whose receptive field covers a whole 28x28 Fashion-MNIST image.",
    _check_cover_the_image,
)


# ----------------------------------------------------------------------------- find the bug
def buggy_receptive_field(layers):
    """RF of the last of a stack of (kernel, stride) layers. It has a bug."""
    r, j = 1, 1
    for k, s in layers:
        j = j * s
        r = r + (k - 1) * j
    return r


def _check_fix_receptive_field(answer) -> None:
    require(callable(answer), "answer should be the repaired function receptive_field(layers).")
    for layers in _RF_CASES:
        got = answer(list(layers))
        expected = _last([f"conv{k}s{s}" for k, s in layers], "rf")
        if got == expected:
            continue
        if got == buggy_receptive_field(list(layers)):
            raise AssertionError(f"receptive_field({list(layers)}) still gives the buggy result. Which jump "
                                 "widens a layer's field: the spacing of its input units, or of its output units?")
        raise AssertionError(f"receptive_field({list(layers)}) returned {got!r}. Start from r = 1, j = 1; "
                             "each layer adds (k - 1) times a jump, and its stride changes the jump.")


fix_receptive_field = Exercise(
    "fix_receptive_field",
    "nb02.buggy_receptive_field(layers) is right for stride-1 stacks and wrong after a stride. "
    "Find the bug and give the repaired function.",
    _check_fix_receptive_field, style="find-the-bug")
