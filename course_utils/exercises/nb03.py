"""Exercises of notebook 03 (dilated convolution).

Every reference answer is computed by the course package (arithmetic, the
receptive-field table, the parameter table, the numpy convolution), so the
checks and the lecture cannot drift apart. Hints never state the answer.
"""

from __future__ import annotations

import numpy as np

from course_utils import arithmetic, params, segmentation
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
    "mean_iou",
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
    "Predict, then check: which stacks of 3x3 convolutions in GRIDDING_STACKS read every pixel of their "
    "receptive field?",
    _check_gridding, style="predict")


def _iou_cases() -> list[tuple[np.ndarray, np.ndarray, int]]:
    """(truth, predicted, classes): random label maps, one class absent from both, a perfect
    and an all-background prediction, and a class predicted but absent from the truth."""
    rng = np.random.default_rng(3)
    cases = []
    for n, size, classes in ((2, 6, 3), (3, 5, 4), (1, 8, 5)):
        truth = rng.integers(0, classes - 1, (n, size, size))        # the last class never occurs
        predicted = np.where(rng.uniform(size=truth.shape) < 0.7, truth, rng.integers(0, classes - 1, truth.shape))
        cases.append((truth, predicted, classes))
    truth = rng.integers(0, 3, (2, 6, 6))
    cases += [(truth, truth.copy(), 3), (truth, np.zeros_like(truth), 3), (truth, np.full_like(truth, 3), 4)]
    return cases


def _check_mean_iou(answer) -> None:
    require(callable(answer), "answer should be a function mean_iou(truth, predicted, num_classes) returning a float.")
    for truth, predicted, classes in _iou_cases():
        expected = segmentation.segmentation_scores(truth, predicted, classes)["mean_iou"]
        got = answer(truth.copy(), predicted.copy(), classes)
        require(isinstance(got, (int, float, np.floating, np.integer)) and np.ndim(got) == 0,
                f"mean_iou returned {type(got).__name__}; return one number, the mean over the classes.")
        if np.isclose(got, expected, rtol=0, atol=1e-9):
            continue
        a = [(predicted == c) for c in range(classes)]
        b = [(truth == c) for c in range(classes)]
        present = [c for c in range(classes) if (a[c] | b[c]).any()]
        dice_like = np.mean([(a[c] & b[c]).sum() / (a[c].sum() + b[c].sum()) for c in present])
        with_absent = np.mean([(a[c] & b[c]).sum() / max((a[c] | b[c]).sum(), 1) for c in range(classes)])
        per_image = np.mean([segmentation.segmentation_scores(t, p, classes)["mean_iou"]
                             for t, p in zip(truth, predicted)])
        if np.isclose(got, np.mean(truth == predicted)):
            raise AssertionError("that is the pixel accuracy. The mean IoU scores each class on its own: "
                                 "intersection over union of its predicted and true pixels, then the mean.")
        if np.isclose(got, dice_like):
            raise AssertionError("look at the union again: a pixel in both sets must be counted once, not twice.")
        if np.isclose(got, with_absent):
            raise AssertionError("a class that is neither in the truth nor in the prediction has no IoU "
                                 "(0 / 0): leave it out of the mean instead of counting it as 0.")
        if len(truth) > 1 and np.isclose(got, per_image):
            raise AssertionError("you averaged image by image. Count each class's intersection and union over "
                                 "all pixels of all images together, then take the mean over the classes.")
        raise AssertionError(f"mean_iou gave {float(got):.4f} on a {classes}-class case. For each class c: "
                             "A = predicted == c, B = truth == c, IoU = |A and B| / |A or B|.")


mean_iou = Exercise(
    "nb03-mean-iou",
    "Write mean_iou(truth, predicted, num_classes): the mean IoU of two label arrays (over all their pixels).",
    _check_mean_iou)
