"""Assignment 1 checks: output sizes, receptive fields and parameter counts.

Answers are compared with the course's own reference code
(:mod:`course_utils.arithmetic`, :mod:`course_utils.receptive_field`,
:mod:`course_utils.params`), never with numbers typed into the tests.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from course_utils.checks.core import CheckFailed, NotAttempted, _call_text, _count, _describe, _number, \
    _passed, call_student, check_equal

__all__ = ["check_conv_params_fn", "check_output_size_fn", "check_param_counts", "check_rf_step_fn",
           "check_rf_table", "check_sizes", "check_transposed_size_fn"]


SIZE_HINTS = {
    "padding": "padding p adds p pixels on *both* sides: the padded length is n + 2p.",
    "stride": "with stride s the kernel jumps s pixels: divide by s, round down, then add 1.",
    "dilation": "a dilated kernel spans d*(k-1) + 1 pixels; use that instead of k.",
    "plain": "count how many positions a k-pixel window takes in n pixels: n - k + 1.",
    "output_padding": "output_padding adds that many pixels at the end, after everything else.",
    "transposed": "a transposed convolution undoes a convolution: (n - 1)*s + k - 2p (+ output_padding).",
}


def _size_hint(case: dict[str, int]) -> str:
    """The hint for the most unusual parameter of a case."""
    if case.get("d", 1) != 1:
        return SIZE_HINTS["dilation"]
    if case.get("s", 1) != 1:
        return SIZE_HINTS["stride"]
    if case.get("p", 0):
        return SIZE_HINTS["padding"]
    return SIZE_HINTS["plain"]


def _geometry(layers: Sequence[str], input_size: int) -> list[dict[str, int]]:
    """``k, s, p, d`` of each layer of a teaching list (``p``: the padding before the input)."""
    from course_utils import spec

    network = list(spec.from_list(list(layers), input_size=input_size))
    return [{"k": layer.kernel[0], "s": layer.stride[0], "p": layer.padding_before(0, before.out_hw[0]),
             "d": layer.dilation[0]}
            for before, layer in zip(network, network[1:])]


def _check_fn_cases(fn: Callable[..., Any], cases: Iterable[dict[str, Any]], name: str,
                    reference: Callable[[dict[str, Any]], Any], hint: Callable[[dict[str, Any]], str]) -> None:
    """``fn(**case)`` must return the number ``reference(case)`` for every case; a wrong
    one fails with ``hint(case)``. The reference is computed after the student's call."""
    cases = list(cases)
    for case in cases:
        got = call_student(fn, name, **case)
        if _number(got) is None or float(got) != reference(case):
            raise CheckFailed(name, f"{_call_text(name, (), case)} returned {_describe(got)}.", hint(case))
    _passed(name, _count(len(cases), "case"))


def check_output_size_fn(fn: Callable[..., int], cases: Iterable[dict[str, int]],
                         name: str = "conv_output_size") -> None:
    """``fn(n, k, s=1, p=0, d=1)`` must give a convolution's output length for every case."""
    from course_utils.arithmetic import conv_output_size

    _check_fn_cases(fn, cases, name,
                    lambda c: conv_output_size(c["n"], c["k"], c.get("s", 1), c.get("p", 0), c.get("d", 1)),
                    _size_hint)


def check_transposed_size_fn(fn: Callable[..., int], cases: Iterable[dict[str, int]],
                             name: str = "transposed_output_size") -> None:
    """``fn(n, k, s=1, p=0, output_padding=0)`` must give a transposed convolution's output length."""
    from course_utils.arithmetic import transposed_conv_output_size

    _check_fn_cases(fn, cases, name,
                    lambda c: transposed_conv_output_size(c["n"], c["k"], c.get("s", 1), c.get("p", 0),
                                                          c.get("output_padding", 0)),
                    lambda c: SIZE_HINTS["output_padding" if c.get("output_padding") else "transposed"])


def _rf_rows(layers: Sequence[Any], input_size: int) -> list[dict[str, Any]]:
    from course_utils.receptive_field import receptive_field_table

    table = receptive_field_table(list(layers), input_size=input_size)
    return table.to_dict("records")[1:]  # the input row is given


def _one_per_layer(answer: Any, n: int, name: str, what: str) -> None:
    """``answer`` must be a list (or tuple) of ``n`` entries: ``what`` names them in the message."""
    if answer is None or answer is Ellipsis:
        raise NotAttempted(name)
    if type(answer) not in (list, tuple) or len(answer) != n:
        raise CheckFailed(name, f"expected a list of {n} {what}; got {_describe(answer)}.")


def check_sizes(answer: Any, layers: Sequence[str], input_size: int, name: str = "sizes") -> None:
    """``answer`` lists the output length after each layer of ``layers``."""
    rows = _rf_rows(layers, input_size)
    _one_per_layer(answer, len(rows), name, "lengths, one per layer")
    for i, (got, row, case) in enumerate(zip(answer, rows, _geometry(layers, input_size))):
        check_equal(got, row["n_out"], f"{name}[{i}] after {layers[i]}", _size_hint(case))
    _passed(name, _count(len(rows), "layer"))


RF_HINTS = {
    "n_out": "n_out is the output length of the layer (part 1).",
    "jump": "the jump multiplies by the layer's stride: jump_out = jump_in * s.",
    "rf": "the receptive field grows by (k_eff - 1) * jump_in, with k_eff = d*(k-1) + 1 "
          "(use the jump *before* the layer).",
    "start": "start moves by ((k_eff - 1)/2 - p) * jump_in: half the kernel to the right, "
             "the padding to the left.",
}


def check_rf_table(answer: Any, layers: Sequence[str], input_size: int, name: str = "rf_table",
                   columns: Sequence[str] = ("n_out", "jump", "rf", "start")) -> None:
    """``answer``: one ``(n_out, jump, rf, start)`` tuple per layer (input row excluded)."""
    rows = _rf_rows(layers, input_size)
    _one_per_layer(answer, len(rows), name, "rows (one per layer, without the input)")
    order = ("n_out", "jump", "rf", "start")
    for i, (got, row) in enumerate(zip(answer, rows)):
        where = f"{name}[{i}] ({layers[i]})"
        if type(got) not in (list, tuple) or len(got) != 4:
            raise CheckFailed(where, f"expected a tuple (n_out, jump, rf, start), got {_describe(got)}.")
        for column in columns:
            check_equal(got[order.index(column)], row[column], f"{where} {column}", RF_HINTS[column])
    _passed(name, f"{_count(len(rows), 'layer')}, columns {', '.join(columns)}")


def check_rf_step_fn(fn: Callable[..., Any], chains: Iterable[tuple[Sequence[str], int]],
                     name: str = "rf_step") -> None:
    """``fn((n, jump, rf, start), k, s=1, p=0, d=1)`` applied layer by layer must
    reproduce the receptive-field table of every chain of conv / pool tokens. Each step's
    reference row is worked out after the student's call."""
    chains = list(chains)
    for layers, size in chains:
        state: Any = (size, 1, 1, 0.0)
        for j, case in enumerate(_geometry(layers, size)):
            got = call_student(fn, name, state, **case)
            row = _rf_rows(layers[:j + 1], size)[-1]
            where = f"{name}({_describe(tuple(state))}, k={case['k']}, s={case['s']}, p={case['p']}, d={case['d']})"
            if type(got) not in (list, tuple) or len(got) != 4:
                raise CheckFailed(name, f"{where} returned {_describe(got)}; expected a tuple (n, jump, rf, start).")
            for column, value in zip(("n_out", "jump", "rf", "start"), got):
                if _number(value) is None or not math.isclose(float(value), float(row[column]), abs_tol=1e-9):
                    raise CheckFailed(name, f"{where} returned {column} = {_describe(value)}.", RF_HINTS[column])
            state = tuple(got)
    _passed(name, _count(len(chains), "network"))


PARAM_HINTS = {
    "conv": "a k x k convolution has one k*k*C_in kernel per output channel, plus one bias each.",
    "separable": "depthwise: one k*k kernel per input channel; pointwise: a 1x1 convolution "
                 "C_in -> C_out (plus C_out biases if bias=True).",
    "bn": "batch normalisation keeps 4 numbers per channel: gamma and beta are trained, the moving "
          "mean and variance are not.",
}


def check_conv_params_fn(fn: Callable[..., int], cases: Iterable[dict[str, Any]], separable: bool = False,
                         name: str = "conv_params") -> None:
    """``fn(k, c_in, c_out, bias=True)``: parameters of a standard (or depthwise-separable) convolution."""
    from course_utils.params import parameter_table

    def reference(case: dict[str, Any]) -> int:
        token = f"{'sep' if separable else 'conv'}{case['k']}-{case['c_out']}"
        table = parameter_table([token], input_size=case["k"] + 4, input_channels=case["c_in"])
        return int(table["params"].iloc[0]) - (0 if case.get("bias", True) else case["c_out"])

    _check_fn_cases(fn, cases, name, reference, lambda c: PARAM_HINTS["separable" if separable else "conv"])


def check_param_counts(answer: Any, layers: Sequence[str], input_size: int, input_channels: int,
                       name: str = "param_counts") -> None:
    """``answer``: one ``(trainable, non_trainable)`` pair per layer of ``layers``."""
    from course_utils.params import parameter_table

    table = parameter_table(list(layers), input_size=input_size, input_channels=input_channels)
    _one_per_layer(answer, len(table), name, "(trainable, non_trainable) pairs, one per layer")
    for i, (got, (_, row)) in enumerate(zip(answer, table.iterrows())):
        kind = "bn" if layers[i].startswith("bn") else "separable" if layers[i].startswith("sep") else "conv"
        hint = PARAM_HINTS[kind] if row["params"] else "pooling and activations have no parameters."
        check_equal(got, (int(row["trainable"]), int(row["non_trainable"])), f"{name}[{i}] ({layers[i]})", hint)
    _passed(name, _count(len(table), "layer"))
