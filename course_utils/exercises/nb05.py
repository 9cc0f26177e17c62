"""Exercises of notebook 05 (depthwise-separable, grouped and spatially separable convolutions).

Every expected value is counted by :mod:`course_utils.params` (the same code
that matches Keras' ``count_params``), never typed in.
"""

from __future__ import annotations

import numpy as np

from course_utils import params as course_params
from course_utils.exercises import Exercise, as_int, expect_equal, require

__all__ = [
    "RANK_ONE_KERNEL",
    "grouped_params",
    "rank_one_factors",
    "reduction_with_multiplier",
    "separable_params",
    "buggy_separable_params",
    "fix_separable_params",
]

#: The kernel of :data:`rank_one_factors`: it is a column vector times a row vector.
RANK_ONE_KERNEL = np.array([[2.0, 4.0, 6.0], [1.0, 2.0, 3.0], [-1.0, -2.0, -3.0]])


def _layer_params(layer: dict, c_in: int) -> int:
    table = course_params.parameter_table([layer], input_size=8, input_channels=c_in)
    return int(table["params"].sum())


# ----------------------------------------------------------------------------- 1
def _check_separable_params(answer) -> None:
    c_in, c_out, k = 32, 64, 5
    n = as_int(answer, "a parameter count")
    c = course_params.compare_standard_vs_separable(c_in, c_out, k)
    wrong = {
        c.standard: "that is the count of the *standard* 5x5 convolution. The separable one first filters "
                    "each input channel on its own, then mixes channels with 1x1 kernels.",
        k * k * c_in: "that is the depthwise stage alone: add the pointwise (1x1) stage that mixes the channels.",
        c_in * c_out: "that is the pointwise stage alone: add the depthwise 5x5 filters.",
        c.separable + c_out: "you counted the biases; leave them out, as the notes do.",
        k * k * c_out + c_in * c_out: "the depthwise stage has one 5x5 filter per *input* channel, "
                                      "not per output channel.",
    }
    expect_equal(n, c.separable, "count the depthwise stage (one k x k filter per input channel) and the "
                                 "pointwise stage (a 1x1 kernel for every input-output channel pair), then add.",
                 wrong)


separable_params = Exercise(
    "separable_params",
    "How many parameters (biases left out) does a 5x5 depthwise-separable convolution from 32 to 64 "
    "channels have? Give an int.",
    _check_separable_params,
)


# ----------------------------------------------------------------------------- 2
def _check_grouped_params(answer) -> None:
    c_in, c_out, k, g = 64, 128, 3, 4
    n = as_int(answer, "a parameter count")
    expected = _layer_params({"kind": "conv", "kernel": k, "filters": c_out, "groups": g, "use_bias": False},
                             c_in)
    wrong = {
        k * k * c_in * c_out: "that is the count with groups=1. With groups=4 each filter sees only the "
                              "input channels of its own group.",
        k * k * (c_in // g) * (c_out // g): "that is one group's count (from 64/4 to 128/4 channels), "
                                            "or the groups divided out twice: there are 4 groups side by side.",
        expected + c_out: "leave the biases out.",
    }
    expect_equal(n, expected, "a grouped convolution is `groups` small convolutions side by side, each from "
                              "C_in/groups to C_out/groups channels.", wrong)


grouped_params = Exercise(
    "grouped_params",
    "How many parameters (no biases) does Conv2D(128, 3, groups=4, use_bias=False) have on a "
    "64-channel input? Give an int.",
    _check_grouped_params,
)


# ----------------------------------------------------------------------------- 3
def _separable_ratio(c_in: int, n: int, dk: int, m: int) -> float:
    sep = _layer_params({"kind": "sep", "kernel": dk, "filters": n, "depth_multiplier": m, "use_bias": False}, c_in)
    std = _layer_params({"kind": "conv", "kernel": dk, "filters": n, "use_bias": False}, c_in)
    return sep / std


def _check_reduction_with_multiplier(answer) -> None:
    require(callable(answer), "answer should be a function reduction(n, dk, m) returning a float.")
    cases = [(16, 32, 3, 1), (8, 64, 5, 1), (16, 32, 3, 2), (32, 10, 3, 4), (3, 128, 7, 3), (64, 64, 1, 2)]
    for c_in, n, dk, m in cases:
        expected = _separable_ratio(c_in, n, dk, m)
        value = answer(n, dk, m)
        require(value is not None, "your function returned None: put your formula in place of None.")
        got = float(value)
        if not np.isclose(got, expected, rtol=1e-9, atol=0):
            if m == 1:
                raise AssertionError(
                    f"reduction(n={n}, dk={dk}, m=1) is off. With m = 1 it must be MobileNet's factor "
                    "derived above: write both costs as products and divide.")
            raise AssertionError(
                f"right for m = 1 but reduction(n={n}, dk={dk}, m={m}) is off. With multiplier m the "
                "depthwise stage has m filters per input channel and makes C_in*m channels, "
                "all of which the pointwise stage reads.")


reduction_with_multiplier = Exercise(
    "reduction_with_multiplier",
    "Write reduction(n, dk, m): the cost ratio separable / standard when the depthwise stage has depth "
    "multiplier m (Keras' depth_multiplier), for N output channels and a Dk x Dk kernel.",
    _check_reduction_with_multiplier,
)


# ----------------------------------------------------------------------------- 4
def _check_rank_one_factors(answer) -> None:
    try:
        column, row = answer
    except (TypeError, ValueError):
        raise AssertionError("answer should be a pair (column, row) of two length-3 sequences.") from None
    column, row = np.asarray(column, dtype=float), np.asarray(row, dtype=float)
    require(column.shape == (3,) and row.shape == (3,), (
        f"column and row should both have 3 entries, yours have shapes {column.shape} and {row.shape}."))
    product = np.outer(column, row)
    if np.allclose(product, RANK_ONE_KERNEL.T):
        raise AssertionError("you swapped them: np.outer(column, row) has the column's entries down the rows.")
    require(np.allclose(product, RANK_ONE_KERNEL), (
        "np.outer(column, row) should equal RANK_ONE_KERNEL. Every row of the kernel is a multiple of the "
        "same row vector; the multiples, read top to bottom, form the column."))


rank_one_factors = Exercise(
    "rank_one_factors",
    "Find a 3x1 column and a 1x3 row whose product is RANK_ONE_KERNEL (so a 3x1 then a 1x3 convolution "
    "replace it). Give (column, row).",
    _check_rank_one_factors,
)


# ----------------------------------------------------------------------------- find the bug
def buggy_separable_params(c_in, c_out, k):
    """Weights (no biases) of a depthwise-separable convolution. It has a bug."""
    return k * k * c_out + c_in * c_out


def _check_fix_separable_params(answer) -> None:
    require(callable(answer), "answer should be the repaired function separable_params(c_in, c_out, k).")
    for c_in, c_out, k in [(16, 32, 3), (32, 32, 3), (3, 64, 5), (128, 256, 3), (64, 16, 7), (8, 8, 1)]:
        got = answer(c_in, c_out, k)
        expected = course_params.compare_standard_vs_separable(c_in, c_out, k).separable
        if got == expected:
            continue
        if got == buggy_separable_params(c_in, c_out, k):
            raise AssertionError(f"separable_params({c_in}, {c_out}, {k}) still gives the buggy result. "
                                 "How many k x k filters does the depthwise stage have: one per what?")
        raise AssertionError(f"separable_params({c_in}, {c_out}, {k}) returned {got!r}: add the depthwise "
                             "stage's filters and the pointwise stage's 1x1 kernels, biases left out.")


fix_separable_params = Exercise(
    "nb05-fix-separable-params",
    "nb05.buggy_separable_params(c_in, c_out, k) is right when c_in == c_out and wrong for the notes' "
    "16 -> 32 layer. Find the bug and give the repaired function.",
    _check_fix_separable_params, style="find-the-bug")
