"""Checks that tell a student at once whether an answer is right, and why not.

Every check returns ``None`` when the answer is right (it may print a short
confirmation) and raises :class:`CheckFailed`, an ``AssertionError``, with a
message that says what was checked, what the student's answer did and a hint
(never the expected answer) when it is wrong. The same functions run in the
assignments' public test cells, in their hidden tests and in the lecture
notebooks, so a student sees in the autograder's feedback the message they
would have seen in class.

Core checks (any notebook):

* :func:`check_equal`: a number, string or small structure, exactly (floats to a tolerance);
* :func:`check_shape`: a numpy array's shape;
* :func:`check_array`: an array against a reference, by relative error;
* :func:`call_student`: call a student's function, turning ``NotImplementedError``
  into "not attempted" and any other crash into a readable failure.

Assignment checks: A1 (convolution arithmetic) and A2 (numpy layers), below.
Answers are compared against the course's own reference code
(:mod:`course_utils.arithmetic`, :mod:`course_utils.receptive_field`,
:mod:`course_utils.params`, :mod:`course_utils.ops`), never against numbers
typed into the tests.
"""

from __future__ import annotations

import inspect
import math
import types
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

__all__ = [
    "CheckFailed",
    "NotAttempted",
    "call_student",
    "check_array",
    "check_equal",
    "check_shape",
    # A1
    "check_output_size_fn",
    "check_transposed_size_fn",
    "check_sizes",
    "check_rf_table",
    "check_rf_step_fn",
    "check_conv_params_fn",
    "check_param_counts",
    # A2
    "check_conv_forward",
    "check_conv_backward",
    "check_maxpool_forward",
    "check_maxpool_backward",
    "check_batchnorm_forward",
    "check_batchnorm_backward",
    "check_numpy_only",
]


# ============================================================================ core
class CheckFailed(AssertionError):
    """A wrong answer, explained: ``[name] what is wrong`` and a ``Hint:`` line."""

    def __init__(self, name: str, problem: str, hint: str | None = None):
        self.name, self.problem, self.hint = name, problem, hint
        text = f"[{name}] {problem}"
        if hint:
            text += f"\nHint: {hint}"
        super().__init__(text)


class NotAttempted(CheckFailed):
    """The exercise still holds its placeholder."""

    def __init__(self, name: str, what: str = "is not answered yet"):
        super().__init__(name, f"{what}: replace `raise NotImplementedError()` with your answer "
                               "and run the cell.")


def _number(value: Any) -> float | None:
    """``value`` as a float if it is a plain number (not a bool, not an exotic subclass)."""
    if type(value) in (int, float) or (isinstance(value, (np.integer, np.floating)) and type(value).__module__ == "numpy"):
        return float(value)
    if isinstance(value, np.ndarray) and value.shape == () and value.dtype.kind in "iuf":
        return float(value)
    return None


def _describe(value: Any) -> str:
    """A short ``repr`` of a student's value (which may not even have a working one)."""
    try:
        text = repr(value)
    except Exception:
        text = f"<{type(value).__name__} object>"
    return text if len(text) <= 80 else text[:77] + "..."


def check_equal(answer: Any, expected: Any, name: str, hint: str | None = None, *, tol: float = 1e-9) -> None:
    """``answer`` must equal ``expected``: numbers to ``tol`` (relative), strings and
    bools exactly, lists / tuples / dicts element by element.

    The answer must be made of plain Python or numpy values: an object that
    claims to equal everything is rejected, not believed.
    """
    if answer is None or answer is Ellipsis:
        raise NotAttempted(name)
    if isinstance(expected, bool) or isinstance(expected, str):
        if type(answer) is not type(expected) or answer != expected:
            raise CheckFailed(name, f"{_describe(answer)} is not right.", hint)
        return
    if _number(expected) is not None:
        value = _number(answer)
        if value is None:
            raise CheckFailed(name, f"expected a number, got {type(answer).__name__} {_describe(answer)}.", hint)
        if not math.isclose(value, float(expected), rel_tol=tol, abs_tol=tol):
            raise CheckFailed(name, f"{_describe(answer)} is not right.", hint)
        return
    if isinstance(expected, dict):
        if type(answer) is not dict:
            raise CheckFailed(name, f"expected a dict, got {type(answer).__name__}.", hint)
        missing = [k for k in expected if k not in answer]
        if missing:
            raise CheckFailed(name, f"the dict has no entry for {', '.join(map(repr, missing))}.", hint)
        for key in expected:
            check_equal(answer[key], expected[key], f"{name}[{key!r}]", hint, tol=tol)
        return
    if isinstance(expected, (list, tuple)):
        if type(answer) not in (list, tuple):
            raise CheckFailed(name, f"expected a list, got {type(answer).__name__}.", hint)
        if len(answer) != len(expected):
            raise CheckFailed(name, f"has {len(answer)} entries, expected {len(expected)}.", hint)
        for i, (a, e) in enumerate(zip(answer, expected)):
            check_equal(a, e, f"{name}[{i}]", hint, tol=tol)
        return
    raise TypeError(f"check_equal cannot compare with a {type(expected).__name__}")


def _array(answer: Any, name: str, hint: str | None) -> np.ndarray:
    if answer is None or answer is Ellipsis:
        raise NotAttempted(name)
    if type(answer) is not np.ndarray:
        raise CheckFailed(name, f"expected a numpy array, got {type(answer).__name__}.", hint)
    if answer.dtype.kind not in "biuf":
        raise CheckFailed(name, f"expected an array of numbers, got dtype {answer.dtype}.", hint)
    return answer


def check_shape(answer: Any, shape: tuple[int, ...], name: str, hint: str | None = None) -> None:
    """``answer`` must be a numpy array of shape ``shape``."""
    array = _array(answer, name, hint)
    if array.shape != tuple(shape):
        raise CheckFailed(name, f"has shape {array.shape}, expected {tuple(shape)}.", hint)


def relative_error(a: np.ndarray, b: np.ndarray) -> float:
    """``max|a - b| / max(max|a|, max|b|)``, as :func:`course_utils.ops.rel_error`."""
    from course_utils.ops import rel_error

    return float(rel_error(a, b))


def check_array(answer: Any, expected: np.ndarray, name: str, hint: str | None = None,
                *, tol: float = 1e-7) -> float:
    """``answer`` must have the reference's shape and a relative error below ``tol``.

    Returns the relative error (for a confirmation line).
    """
    check_shape(answer, expected.shape, name, hint)
    if not np.all(np.isfinite(answer)):
        raise CheckFailed(name, "contains NaN or infinite values.", hint)
    error = relative_error(answer, expected)
    if not error < tol:
        diff = np.abs(answer.astype(np.float64) - expected)
        where = tuple(int(i) for i in np.unravel_index(np.argmax(diff), diff.shape))
        raise CheckFailed(name, f"differs from the reference: relative error {error:.1e} "
                                f"(largest difference at index {where}).", hint)
    return error


def call_student(fn: Any, name: str, *args: Any, **kwargs: Any) -> Any:
    """``fn(*args, **kwargs)`` for a student's function, with readable failures."""
    if fn is None or fn is Ellipsis:
        raise NotAttempted(name)
    if not callable(fn):
        raise CheckFailed(name, f"expected a function, got {type(fn).__name__}.")
    try:
        return fn(*args, **kwargs)
    except NotImplementedError:
        raise NotAttempted(name, "is not implemented yet") from None
    except CheckFailed:
        raise
    except Exception as exc:
        call = _call_text(name, args, kwargs)
        raise CheckFailed(name, f"{call} raised {type(exc).__name__}: {exc}") from exc


def _call_text(name: str, args: Sequence[Any], kwargs: dict[str, Any]) -> str:
    def short(v: Any) -> str:
        return f"array{v.shape}" if isinstance(v, np.ndarray) else _describe(v)

    parts = [short(a) for a in args] + [f"{k}={short(v)}" for k, v in kwargs.items()]
    return f"{name}({', '.join(parts)})"


def _passed(name: str, detail: str = "") -> None:
    print(f"[{name}] correct{': ' + detail if detail else '.'}")


def _count(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


# ============================================================================ A1: arithmetic
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


def check_output_size_fn(fn: Callable[..., int], cases: Iterable[dict[str, int]],
                         name: str = "conv_output_size") -> None:
    """``fn(n, k, s=1, p=0, d=1)`` must give a convolution's output length for every case."""
    from course_utils.arithmetic import conv_output_size

    cases = list(cases)
    for case in cases:
        expected = conv_output_size(case["n"], case["k"], case.get("s", 1), case.get("p", 0), case.get("d", 1))
        got = call_student(fn, name, **case)
        if _number(got) is None or float(got) != expected:
            raise CheckFailed(name, f"{_call_text(name, (), case)} returned {_describe(got)}.", _size_hint(case))
    _passed(name, _count(len(cases), "case"))


def check_transposed_size_fn(fn: Callable[..., int], cases: Iterable[dict[str, int]],
                             name: str = "transposed_output_size") -> None:
    """``fn(n, k, s=1, p=0, output_padding=0)`` must give a transposed convolution's output length."""
    from course_utils.arithmetic import transposed_conv_output_size

    cases = list(cases)
    for case in cases:
        expected = transposed_conv_output_size(case["n"], case["k"], case.get("s", 1), case.get("p", 0),
                                               case.get("output_padding", 0))
        got = call_student(fn, name, **case)
        if _number(got) is None or float(got) != expected:
            hint = SIZE_HINTS["output_padding" if case.get("output_padding") else "transposed"]
            raise CheckFailed(name, f"{_call_text(name, (), case)} returned {_describe(got)}.", hint)
    _passed(name, _count(len(cases), "case"))


def _rf_rows(layers: Sequence[Any], input_size: int) -> list[dict[str, Any]]:
    from course_utils.receptive_field import receptive_field_table

    table = receptive_field_table(list(layers), input_size=input_size)
    return table.to_dict("records")[1:]  # the input row is given


def check_sizes(answer: Any, layers: Sequence[str], input_size: int, name: str = "sizes") -> None:
    """``answer`` lists the output length after each layer of ``layers``."""
    rows = _rf_rows(layers, input_size)
    if answer is None or answer is Ellipsis:
        raise NotAttempted(name)
    if type(answer) not in (list, tuple) or len(answer) != len(rows):
        raise CheckFailed(name, f"expected a list of {len(rows)} lengths, one per layer; got {_describe(answer)}.")
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
    if answer is None or answer is Ellipsis:
        raise NotAttempted(name)
    if type(answer) not in (list, tuple) or len(answer) != len(rows):
        raise CheckFailed(name, f"expected a list of {len(rows)} rows (one per layer, without the input); "
                                f"got {_describe(answer)}.")
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
    reproduce the receptive-field table of every chain of conv / pool tokens."""
    chains = list(chains)
    for layers, size in chains:
        state: Any = (size, 1, 1, 0.0)
        for case, row in zip(_geometry(layers, size), _rf_rows(layers, size)):
            got = call_student(fn, name, state, **case)
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

    cases = list(cases)
    for case in cases:
        token = f"{'sep' if separable else 'conv'}{case['k']}-{case['c_out']}"
        table = parameter_table([token], input_size=case["k"] + 4, input_channels=case["c_in"])
        expected = int(table["params"].iloc[0])
        if not case.get("bias", True):
            expected -= case["c_out"]
        got = call_student(fn, name, **case)
        if _number(got) is None or float(got) != expected:
            raise CheckFailed(name, f"{_call_text(name, (), case)} returned {_describe(got)}.",
                              PARAM_HINTS["separable" if separable else "conv"])
    _passed(name, _count(len(cases), "case"))


def check_param_counts(answer: Any, layers: Sequence[str], input_size: int, input_channels: int,
                       name: str = "param_counts") -> None:
    """``answer``: one ``(trainable, non_trainable)`` pair per layer of ``layers``."""
    from course_utils.params import parameter_table

    table = parameter_table(list(layers), input_size=input_size, input_channels=input_channels)
    if answer is None or answer is Ellipsis:
        raise NotAttempted(name)
    if type(answer) not in (list, tuple) or len(answer) != len(table):
        raise CheckFailed(name, f"expected a list of {len(table)} (trainable, non_trainable) pairs, "
                                f"one per layer; got {_describe(answer)}.")
    for i, (got, (_, row)) in enumerate(zip(answer, table.iterrows())):
        kind = "bn" if layers[i].startswith("bn") else "separable" if layers[i].startswith("sep") else "conv"
        hint = PARAM_HINTS[kind] if row["params"] else "pooling and activations have no parameters."
        check_equal(got, (int(row["trainable"]), int(row["non_trainable"])), f"{name}[{i}] ({layers[i]})", hint)
    _passed(name, _count(len(table), "layer"))


# ============================================================================ A2: numpy layers
BANNED_MODULES = ("course_utils.ops", "tensorflow", "keras", "torch", "scipy", "jax")


def _referenced(fn: Callable[..., Any], seen: set[int]) -> Iterable[tuple[str, Any]]:
    """(name, object) of the globals and closure variables a function (and its nested code) uses."""
    code = getattr(fn, "__code__", None)
    if code is None or id(code) in seen:
        return
    seen.add(id(code))
    stack = [code]
    names: set[str] = set()
    while stack:
        c = stack.pop()
        names.update(c.co_names)
        stack.extend(const for const in c.co_consts if isinstance(const, types.CodeType))
    for name in sorted(names):
        if name in fn.__globals__:
            yield name, fn.__globals__[name]
    for name, cell in zip(code.co_freevars, fn.__closure__ or ()):
        try:
            yield name, cell.cell_contents
        except ValueError:  # an empty cell
            continue


def _banned(obj: Any, attribute_names: set[str]) -> str | None:
    module = obj.__name__ if isinstance(obj, types.ModuleType) else getattr(obj, "__module__", None) or ""
    if any(module == b or module.startswith(b + ".") for b in BANNED_MODULES):
        return module
    if isinstance(obj, types.ModuleType) and module == "course_utils" and "ops" in attribute_names:
        return "course_utils.ops"
    return None


def check_numpy_only(fn: Callable[..., Any], name: str) -> None:
    """``fn`` (and the notebook functions it calls) must not use the reference layers or a framework."""
    seen: set[int] = set()
    todo = [fn]
    while todo:
        current = todo.pop()
        code_names = set(getattr(getattr(current, "__code__", None), "co_names", ()))
        for ref_name, obj in _referenced(current, seen):
            where = _banned(obj, code_names)
            if where:
                raise CheckFailed(name, f"uses {ref_name!r} from {where}.",
                                  "implement the layer yourself with numpy; the reference layers are "
                                  "what your code is compared against.")
            if inspect.isfunction(obj) and obj.__module__ == fn.__module__:
                todo.append(obj)


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def _forward_output(result: Any, name: str) -> tuple[Any, Any]:
    if type(result) is not tuple or len(result) != 2:
        raise CheckFailed(name, f"should return a pair (out, cache), got {_describe(result)}.",
                          "end with `return out, cache`.")
    return result


CONV_HINTS = {
    "shape": "the output is (N, H_out, W_out, C_out) with H_out = (H + 2*pad - kh) // stride + 1.",
    "values": "out[n, i, j, f] = sum over the window x_pad[n, i*s:i*s+kh, j*s:j*s+kw, :] times "
              "w[:, :, :, f], plus b[f]. Pad only H and W, with zeros.",
    "dx": "each input pixel collects dout times the kernel taps that touched it: add, do not overwrite, "
          "and crop the padding away at the end.",
    "dw": "dw[:, :, :, f] sums, over every output position, the input window times dout at that position.",
    "db": "db[f] is the sum of dout[..., f] over the batch and both spatial axes.",
}


def _conv_inputs(case: dict[str, Any], seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = _rng(seed)
    return (rng.standard_normal(case["x"]), rng.standard_normal(case["w"]), rng.standard_normal(case["w"][-1]))


def check_conv_forward(fn: Callable[..., Any], cases: Iterable[dict[str, Any]], name: str = "conv_forward",
                       seed: int = 0) -> None:
    """``fn(x, w, b, stride, pad) -> (out, cache)`` against :func:`course_utils.ops.conv2d_forward`.

    A case is ``{"x": (N, H, W, C), "w": (kh, kw, C, F), "stride": s, "pad": p}``.
    """
    from course_utils.ops import conv2d_forward

    check_numpy_only(fn, name)
    worst = 0.0
    cases = list(cases)
    for i, case in enumerate(cases):
        x, w, b = _conv_inputs(case, seed + i)
        expected, _ = conv2d_forward(x, w, b, stride=case["stride"], padding=case["pad"])
        out, _ = _forward_output(call_student(fn, name, x.copy(), w.copy(), b.copy(), case["stride"], case["pad"]), name)
        label = f"{name} out for x{case['x']}, w{case['w']}, stride={case['stride']}, pad={case['pad']}"
        check_shape(out, expected.shape, label, CONV_HINTS["shape"])
        worst = max(worst, check_array(out, expected, label, CONV_HINTS["values"]))
    _passed(name, f"{_count(len(cases), 'case')}, relative error {worst:.1e}")


def _gradient_check(forward: Callable[..., Any], inputs: list[np.ndarray], dout: np.ndarray,
                    grads: Sequence[np.ndarray], labels: Sequence[str], hints: Sequence[str],
                    tol: float = 1e-6) -> float:
    """Compare analytic gradients with centred differences of ``sum(forward(*inputs) * dout)``."""
    from course_utils.ops import numerical_gradient

    worst = 0.0
    for k, (grad, label, hint) in enumerate(zip(grads, labels, hints)):
        def f(value: np.ndarray, k: int = k) -> np.ndarray:
            args = list(inputs)
            args[k] = value
            return forward(*args)

        numeric = numerical_gradient(f, inputs[k].copy(), dout)
        error = check_array(grad, numeric, f"{label} (numerical gradient)", hint, tol=tol)
        worst = max(worst, error)
    return worst


def check_conv_backward(forward: Callable[..., Any], backward: Callable[..., Any],
                        cases: Iterable[dict[str, Any]], name: str = "conv_backward",
                        numerical: bool = True, seed: int = 10) -> None:
    """``backward(dout, cache) -> (dx, dw, db)`` against :func:`course_utils.ops.conv2d_backward`
    and, with ``numerical``, against centred differences of the student's forward pass."""
    from course_utils.ops import conv2d_backward, conv2d_forward

    check_numpy_only(backward, name)
    worst = 0.0
    cases = list(cases)
    for i, case in enumerate(cases):
        x, w, b = _conv_inputs(case, seed + i)
        ref_out, ref_cache = conv2d_forward(x, w, b, stride=case["stride"], padding=case["pad"])
        dout = _rng(seed + 100 + i).standard_normal(ref_out.shape)
        expected = conv2d_backward(dout, ref_cache)
        _, cache = _forward_output(call_student(forward, "conv_forward", x.copy(), w.copy(), b.copy(),
                                                case["stride"], case["pad"]), "conv_forward")
        grads = call_student(backward, name, dout.copy(), cache)
        if type(grads) is not tuple or len(grads) != 3:
            raise CheckFailed(name, f"should return (dx, dw, db), got {_describe(grads)}.")
        label = f"for x{case['x']}, w{case['w']}, stride={case['stride']}, pad={case['pad']}"
        for grad, ref, part in zip(grads, expected, ("dx", "dw", "db")):
            worst = max(worst, check_array(grad, ref, f"{name} {part} {label}", CONV_HINTS[part], tol=1e-6))
        if numerical and i == 0:
            def student_out(x_: np.ndarray, w_: np.ndarray, b_: np.ndarray) -> np.ndarray:
                return forward(x_, w_, b_, case["stride"], case["pad"])[0]

            worst = max(worst, _gradient_check(student_out, [x, w, b], dout, grads,
                                               [f"{name} {p}" for p in ("dx", "dw", "db")],
                                               [CONV_HINTS[p] for p in ("dx", "dw", "db")]))
    _passed(name, f"{_count(len(cases), 'case')}, relative error {worst:.1e}")


POOL_HINTS = {
    "shape": "the output is (N, (H - pool)//stride + 1, (W - pool)//stride + 1, C).",
    "values": "each output is the maximum of its pool x pool window, channel by channel.",
    "dx": "only the input that won its window receives the gradient; every other input gets 0 "
          "(and overlapping windows add up).",
}


def _pool_cases(forward: Callable[..., Any], cases: list[dict[str, Any]], seed: int):
    """For each case: the input (a permutation, so every window has one winner), the
    reference ``(out, cache)``, the student's ``(out, cache)`` and a description."""
    from course_utils.ops import max_pool_forward

    for i, case in enumerate(cases):
        size = int(np.prod(case["x"]))
        x = _rng(seed + i).permutation(size).reshape(case["x"]).astype(np.float64) / size
        reference = max_pool_forward(x, pool_size=case["pool"], stride=case["stride"])
        student = _forward_output(call_student(forward, "maxpool_forward", x.copy(), case["pool"], case["stride"]),
                                  "maxpool_forward")
        yield reference, student, f"x{case['x']}, pool={case['pool']}, stride={case['stride']}"


def check_maxpool_forward(fn: Callable[..., Any], cases: Iterable[dict[str, Any]], name: str = "maxpool_forward",
                          seed: int = 20) -> None:
    """``fn(x, pool, stride) -> (out, cache)`` against :func:`course_utils.ops.max_pool_forward`."""
    check_numpy_only(fn, name)
    cases = list(cases)
    for (expected, _), (out, _), where in _pool_cases(fn, cases, seed):
        check_shape(out, expected.shape, f"{name} out for {where}", POOL_HINTS["shape"])
        check_array(out, expected, f"{name} out for {where}", POOL_HINTS["values"])
    _passed(name, _count(len(cases), "case"))


def check_maxpool_backward(forward: Callable[..., Any], backward: Callable[..., Any],
                           cases: Iterable[dict[str, Any]], name: str = "maxpool_backward",
                           seed: int = 30) -> None:
    """``backward(dout, cache) -> dx`` against :func:`course_utils.ops.max_pool_backward`."""
    from course_utils.ops import max_pool_backward

    check_numpy_only(backward, name)
    cases = list(cases)
    for i, ((ref_out, ref_cache), (_, cache), where) in enumerate(_pool_cases(forward, cases, seed)):
        dout = _rng(seed + 100 + i).standard_normal(ref_out.shape)
        dx = call_student(backward, name, dout.copy(), cache)
        check_array(dx, max_pool_backward(dout, ref_cache), f"{name} dx for {where}", POOL_HINTS["dx"])
    _passed(name, _count(len(cases), "case"))


BN_HINTS = {
    "values": "normalise each channel with the batch mean and the *biased* variance (divide by m), "
              "x_hat = (x - mean) / sqrt(var + eps), then out = gamma * x_hat + beta. "
              "Average over every axis but the last.",
    "dx": "dx = (gamma / sqrt(var + eps)) * (dout - mean(dout) - x_hat * mean(dout * x_hat)), "
          "the means taken over every axis but the last.",
    "dgamma": "dgamma sums dout * x_hat over every axis but the channels.",
    "dbeta": "dbeta sums dout over every axis but the channels.",
}


def _bn_inputs(shape: tuple[int, ...], seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = _rng(seed)
    c = shape[-1]
    return 3.0 * rng.standard_normal(shape) + 1.5, rng.standard_normal(c) + 1.0, rng.standard_normal(c)


def check_batchnorm_forward(fn: Callable[..., Any], shapes: Iterable[tuple[int, ...]],
                            name: str = "batchnorm_forward", eps: float = 1e-3, seed: int = 40) -> None:
    """``fn(x, gamma, beta, eps) -> (out, cache)`` (training mode) against
    :func:`course_utils.ops.batchnorm_forward`, for ``(N, C)`` and ``(N, H, W, C)`` inputs."""
    from course_utils.ops import batchnorm_forward

    check_numpy_only(fn, name)
    shapes = list(shapes)
    for i, shape in enumerate(shapes):
        x, gamma, beta = _bn_inputs(shape, seed + i)
        expected, _ = batchnorm_forward(x, gamma, beta, epsilon=eps)
        out, _ = _forward_output(call_student(fn, name, x.copy(), gamma.copy(), beta.copy(), eps), name)
        check_array(out, expected, f"{name} out for x{shape}", BN_HINTS["values"])
    _passed(name, _count(len(shapes), "shape"))


def check_batchnorm_backward(forward: Callable[..., Any], backward: Callable[..., Any],
                             shapes: Iterable[tuple[int, ...]], name: str = "batchnorm_backward",
                             eps: float = 1e-3, numerical: bool = True, seed: int = 50) -> None:
    """``backward(dout, cache) -> (dx, dgamma, dbeta)`` against
    :func:`course_utils.ops.batchnorm_backward` and numerical gradients."""
    from course_utils.ops import batchnorm_backward, batchnorm_forward

    check_numpy_only(backward, name)
    worst = 0.0
    shapes = list(shapes)
    for i, shape in enumerate(shapes):
        x, gamma, beta = _bn_inputs(shape, seed + i)
        ref_out, ref_cache = batchnorm_forward(x, gamma, beta, epsilon=eps)
        dout = _rng(seed + 100 + i).standard_normal(ref_out.shape)
        expected = batchnorm_backward(dout, ref_cache)
        _, cache = _forward_output(call_student(forward, "batchnorm_forward", x.copy(), gamma.copy(), beta.copy(),
                                                eps), "batchnorm_forward")
        grads = call_student(backward, name, dout.copy(), cache)
        if type(grads) is not tuple or len(grads) != 3:
            raise CheckFailed(name, f"should return (dx, dgamma, dbeta), got {_describe(grads)}.")
        for grad, ref, part in zip(grads, expected, ("dx", "dgamma", "dbeta")):
            worst = max(worst, check_array(grad, ref, f"{name} {part} for x{shape}", BN_HINTS[part], tol=1e-6))
        if numerical and i == 0:
            def student_out(x_: np.ndarray, g_: np.ndarray, b_: np.ndarray) -> np.ndarray:
                return forward(x_, g_, b_, eps)[0]

            worst = max(worst, _gradient_check(student_out, [x, gamma, beta], dout, grads,
                                               [f"{name} {p}" for p in ("dx", "dgamma", "dbeta")],
                                               [BN_HINTS[p] for p in ("dx", "dgamma", "dbeta")]))
    _passed(name, f"{_count(len(shapes), 'shape')}, relative error {worst:.1e}")
