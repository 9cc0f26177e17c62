"""Assignment 2 checks: numpy convolution, max-pooling and batch normalisation layers,
forward and backward, against :mod:`course_utils.ops` and numerical gradients."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from course_utils.checks.core import CheckFailed, _count, _describe, _passed, call_student, check_array, \
    check_shape
from course_utils.checks.static import check_numpy_only

__all__ = ["check_batchnorm_backward", "check_batchnorm_forward", "check_conv_backward", "check_conv_forward",
           "check_maxpool_backward", "check_maxpool_forward"]


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


def _conv_out_shape(case: dict[str, Any]) -> tuple[int, ...]:
    from course_utils.arithmetic import conv_output_size

    (n, h, w, _), (kh, kw, _, f) = case["x"], case["w"]
    return n, conv_output_size(h, kh, case["stride"], case["pad"]), conv_output_size(w, kw, case["stride"], case["pad"]), f


def _conv_cases(forward: Callable[..., Any], cases: list[dict[str, Any]], seed: int, name: str = "conv_forward"):
    """For each case: the inputs ``(x, w, b)``, the student's ``(out, cache)``, the reference
    ``(out, cache)`` as a function to call after the student's code has run, and a description."""
    from course_utils.ops import conv2d_forward

    for i, case in enumerate(cases):
        x, w, b = _conv_inputs(case, seed + i)
        student = _forward_output(call_student(forward, name, x.copy(), w.copy(), b.copy(), case["stride"],
                                               case["pad"]), name)
        yield case, (x, w, b), student, \
            (lambda x=x, w=w, b=b, case=case: conv2d_forward(x, w, b, stride=case["stride"], padding=case["pad"])), \
            f"x{case['x']}, w{case['w']}, stride={case['stride']}, pad={case['pad']}"


def check_conv_forward(fn: Callable[..., Any], cases: Iterable[dict[str, Any]], name: str = "conv_forward",
                       seed: int = 0) -> None:
    """``fn(x, w, b, stride, pad) -> (out, cache)`` against :func:`course_utils.ops.conv2d_forward`.

    A case is ``{"x": (N, H, W, C), "w": (kh, kw, C, F), "stride": s, "pad": p}``.
    """
    check_numpy_only(fn, name)
    worst = 0.0
    cases = list(cases)
    for _, _, (out, _), reference, where in _conv_cases(fn, cases, seed, name):
        expected = reference()[0]
        label = f"{name} out for {where}"
        check_shape(out, expected.shape, label, CONV_HINTS["shape"])
        worst = max(worst, check_array(out, expected, label, CONV_HINTS["values"]))
    _passed(name, f"{_count(len(cases), 'case')}, relative error {worst:.1e}")


def _numerical_gradients(forward: Callable[..., Any], inputs: list[np.ndarray], dout: np.ndarray) -> list[np.ndarray]:
    """Centred differences of ``sum(forward(*inputs) * dout)`` with respect to each input."""
    from course_utils.ops import numerical_gradient

    numeric = []
    for k in range(len(inputs)):
        def f(value: np.ndarray, k: int = k) -> np.ndarray:
            args = list(inputs)
            args[k] = value
            return forward(*args)

        numeric.append(numerical_gradient(f, inputs[k].copy(), dout))
    return numeric


def _check_gradients(backward: Callable[..., Any], name: str, dout: np.ndarray, cache: Any,
                     reference: Callable[[], Sequence[np.ndarray]], parts: Sequence[str], hints: dict[str, str],
                     where: str, numerical: tuple[Callable[..., Any], list[np.ndarray]] | None = None) -> float:
    """``backward(dout, cache)`` must return one gradient per name in ``parts``, equal to
    ``reference()`` and, with ``numerical = (forward, inputs)``, to centred differences of the
    student's own ``forward`` (its output only) at ``inputs``. The reference is computed
    after every call of the student's code. Returns the largest relative error."""
    grads = call_student(backward, name, dout.copy(), cache)
    if type(grads) is not tuple or len(grads) != len(parts):
        raise CheckFailed(name, f"should return ({', '.join(parts)}), got {_describe(grads)}.")
    numeric = _numerical_gradients(numerical[0], numerical[1], dout) if numerical else []
    worst = 0.0
    for grad, ref, part in zip(grads, reference(), parts):
        worst = max(worst, check_array(grad, ref, f"{name} {part} for {where}", hints[part], tol=1e-6))
    for grad, num, part in zip(grads, numeric, parts):
        worst = max(worst, check_array(grad, num, f"{name} {part} (numerical gradient)", hints[part], tol=1e-6))
    return worst


def check_conv_backward(forward: Callable[..., Any], backward: Callable[..., Any],
                        cases: Iterable[dict[str, Any]], name: str = "conv_backward",
                        numerical: bool = True, seed: int = 10) -> None:
    """``backward(dout, cache) -> (dx, dw, db)`` against :func:`course_utils.ops.conv2d_backward`
    and, with ``numerical``, against centred differences of the student's forward pass."""
    from course_utils.ops import conv2d_backward

    check_numpy_only(backward, name)
    worst = 0.0
    cases = list(cases)
    for i, (case, inputs, (_, cache), reference, where) in enumerate(_conv_cases(forward, cases, seed)):
        dout = _rng(seed + 100 + i).standard_normal(_conv_out_shape(case))

        def student_out(x_: np.ndarray, w_: np.ndarray, b_: np.ndarray, case: dict[str, Any] = case) -> np.ndarray:
            return forward(x_, w_, b_, case["stride"], case["pad"])[0]

        worst = max(worst, _check_gradients(
            backward, name, dout, cache, lambda: conv2d_backward(dout, reference()[1]), ("dx", "dw", "db"),
            CONV_HINTS, where, (student_out, list(inputs)) if numerical and i == 0 else None))
    _passed(name, f"{_count(len(cases), 'case')}, relative error {worst:.1e}")


POOL_HINTS = {
    "shape": "the output is (N, (H - pool)//stride + 1, (W - pool)//stride + 1, C).",
    "values": "each output is the maximum of its pool x pool window, channel by channel.",
    "dx": "only the input that won its window receives the gradient; every other input gets 0 "
          "(and overlapping windows add up).",
}


def _pool_cases(forward: Callable[..., Any], cases: list[dict[str, Any]], seed: int):
    """For each case: the input (a permutation, so every window has one winner), the
    student's ``(out, cache)``, the reference ``(out, cache)`` as a function to call after
    the student's code has run, the output's shape and a description."""
    from course_utils.ops import max_pool_forward

    for i, case in enumerate(cases):
        size = int(np.prod(case["x"]))
        x = _rng(seed + i).permutation(size).reshape(case["x"]).astype(np.float64) / size
        student = _forward_output(call_student(forward, "maxpool_forward", x.copy(), case["pool"], case["stride"]),
                                  "maxpool_forward")
        n, h, w, c = case["x"]
        out_shape = (n, (h - case["pool"]) // case["stride"] + 1, (w - case["pool"]) // case["stride"] + 1, c)
        yield student, (lambda x=x, case=case: max_pool_forward(x, pool_size=case["pool"], stride=case["stride"])), \
            out_shape, f"x{case['x']}, pool={case['pool']}, stride={case['stride']}"


def check_maxpool_forward(fn: Callable[..., Any], cases: Iterable[dict[str, Any]], name: str = "maxpool_forward",
                          seed: int = 20) -> None:
    """``fn(x, pool, stride) -> (out, cache)`` against :func:`course_utils.ops.max_pool_forward`."""
    check_numpy_only(fn, name)
    cases = list(cases)
    for (out, _), reference, _, where in _pool_cases(fn, cases, seed):
        expected = reference()[0]
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
    for i, ((_, cache), reference, out_shape, where) in enumerate(_pool_cases(forward, cases, seed)):
        dout = _rng(seed + 100 + i).standard_normal(out_shape)
        dx = call_student(backward, name, dout.copy(), cache)
        check_array(dx, max_pool_backward(dout, reference()[1]), f"{name} dx for {where}", POOL_HINTS["dx"])
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
        out, _ = _forward_output(call_student(fn, name, x.copy(), gamma.copy(), beta.copy(), eps), name)
        check_array(out, batchnorm_forward(x, gamma, beta, epsilon=eps)[0], f"{name} out for x{shape}",
                    BN_HINTS["values"])
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
        dout = _rng(seed + 100 + i).standard_normal(shape)
        _, cache = _forward_output(call_student(forward, "batchnorm_forward", x.copy(), gamma.copy(), beta.copy(),
                                                eps), "batchnorm_forward")

        def student_out(x_: np.ndarray, g_: np.ndarray, b_: np.ndarray) -> np.ndarray:
            return forward(x_, g_, b_, eps)[0]

        worst = max(worst, _check_gradients(
            backward, name, dout, cache,
            lambda: batchnorm_backward(dout, batchnorm_forward(x, gamma, beta, epsilon=eps)[1]),
            ("dx", "dgamma", "dbeta"), BN_HINTS, f"x{shape}",
            (student_out, [x, gamma, beta]) if numerical and i == 0 else None))
    _passed(name, f"{_count(len(shapes), 'shape')}, relative error {worst:.1e}")
