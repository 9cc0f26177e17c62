r"""Gradient checking: compare a backward pass with centred finite differences.

For a layer ``out = f(x)`` and an upstream gradient ``dout``, the chain rule
gives ``dL/dx = sum(dout * df/dx)``. Numerically, one entry at a time::

    dL/dx[i] ~ sum(dout * (f(x + h e_i) - f(x - h e_i))) / (2h)

The centred difference has error ``O(h^2)``; in float64 with ``h ~ 1e-5`` a
correct backward pass agrees to a relative error around ``1e-9``, a wrong one
typically to ``1e-2`` or worse. Always check in float64: float32 rounding
alone gives errors around ``1e-3``.

How the error is measured (:func:`rel_error`): the largest difference
relative to the largest entry, ``max|a - b| / max(max|a|, max|b|)``. CS231n
divides element by element instead; that blows up on entries of a correct
gradient that happen to be close to zero (their few ``1e-10`` of rounding
become a "relative error" of ``1e-2``), so it is available only on request
(``elementwise=True``).
"""

from __future__ import annotations

import inspect
from typing import Any, Callable, Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["check_gradients", "numerical_gradient", "rel_error"]


def rel_error(a: ArrayLike, b: ArrayLike, *, elementwise: bool = False, floor: float = 1e-12) -> float:
    """Relative error between two arrays of the same shape.

    Default: ``max|a - b| / max(max|a|, max|b|)``, the largest difference
    relative to the largest entry. ``elementwise=True``: CS231n's
    ``max(|a - b| / max(|a| + |b|, floor))``. ``floor`` avoids dividing by 0.
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"rel_error: shapes differ, {a.shape} vs {b.shape}.")
    if a.size == 0:
        return 0.0
    difference = np.abs(a - b)
    if elementwise:
        return float(np.max(difference / np.maximum(floor, np.abs(a) + np.abs(b))))
    scale = max(np.max(np.abs(a)), np.max(np.abs(b)), floor)
    return float(np.max(difference) / scale)


def numerical_gradient(
    f: Callable[[NDArray], ArrayLike], x: NDArray, dout: ArrayLike | None = None, h: float = 1e-5
) -> NDArray:
    """Centred-difference gradient of ``sum(f(x) * dout)`` with respect to ``x``.

    ``f`` maps the array ``x`` to an array (``dout`` then has its shape) or to
    a scalar (leave ``dout`` as ``None``). ``x`` is changed in place one entry
    at a time and restored, so ``f`` must read the array it is given. Use float64.
    """
    if not isinstance(x, np.ndarray) or not np.issubdtype(x.dtype, np.floating):
        raise ValueError("numerical_gradient: x must be a float numpy array (it is perturbed in place).")
    weight = 1.0 if dout is None else np.asarray(dout)
    grad = np.zeros_like(x, dtype=np.float64)
    for index in np.ndindex(x.shape):
        original = x[index]
        x[index] = original + h
        plus = np.array(f(x), dtype=np.float64)  # copy: f may return a view
        x[index] = original - h
        minus = np.array(f(x), dtype=np.float64)
        x[index] = original
        grad[index] = np.sum((plus - minus) * weight) / (2 * h)
    return grad


def _input_names(forward: Callable, count: int) -> list[str]:
    try:
        params = list(inspect.signature(forward).parameters)
    except (TypeError, ValueError):
        params = []
    return params[:count] if len(params) >= count else [f"input {k}" for k in range(count)]


def _first(result: Any) -> NDArray:
    """The output of a forward function that returns ``(out, cache)`` or just ``out``."""
    return result[0] if isinstance(result, tuple) else result


def check_gradients(
    forward: Callable[..., Any],
    backward: Callable[[NDArray, Any], Any],
    inputs: Sequence[ArrayLike],
    *,
    dout: ArrayLike | None = None,
    h: float = 1e-5,
    tol: float = 1e-7,
    names: Sequence[str] | None = None,
    seed: int = 271828,
    verbose: bool = True,
) -> dict[str, float]:
    """Check ``backward`` against numerical gradients for every input of ``forward``.

    Args:
        forward: ``forward(*inputs) -> (out, cache)``, e.g.
            ``lambda x, w, b: conv2d_forward(x, w, b, stride=2)``.
        backward: ``backward(dout, cache)`` returning one gradient per input,
            in the same order (a single array when there is one input).
        inputs: the arrays to differentiate; copied to float64.
        dout: upstream gradient; by default standard-normal numbers from ``seed``
            (an uncommon seed, so that ``dout`` is unrelated to inputs drawn with
            small seeds: a ``dout`` equal to the input's noise makes, e.g., the
            batch-norm ``dx`` vanish and the check meaningless).
        h: finite-difference step.
        tol: relative errors below it are reported "ok".
        names: labels for the table; by default the parameter names of ``forward``.
        verbose: print the table.

    Returns:
        ``{name: worst relative error}`` for every input.
    """
    values = [np.array(v, dtype=np.float64) for v in inputs]
    labels = list(names) if names is not None else _input_names(forward, len(values))
    out, cache = forward(*values)
    if dout is None:
        dout = np.random.default_rng(seed).standard_normal(np.shape(out))
    dout = np.asarray(dout, dtype=np.float64)
    analytic = backward(dout, cache)
    analytic = tuple(analytic) if isinstance(analytic, (tuple, list)) else (analytic,)
    if len(analytic) != len(values):
        raise ValueError(
            f"check_gradients: backward returned {len(analytic)} gradients for {len(values)} inputs "
            f"({', '.join(labels)}). Return one per input, e.g. "
            "backward=lambda dout, cache: conv2d_backward(dout, cache)[0] to check dx only."
        )

    errors: dict[str, float] = {}
    for k, (label, value, grad) in enumerate(zip(labels, values, analytic)):
        grad = np.asarray(grad)
        if grad.shape != value.shape:
            raise ValueError(
                f"check_gradients: the gradient for {label} has shape {grad.shape}, "
                f"but {label} has shape {value.shape}."
            )

        def f_k(v: NDArray, k: int = k) -> NDArray:
            args = values[:k] + [v] + values[k + 1 :]
            return _first(forward(*args))

        numeric = numerical_gradient(f_k, value, dout, h)
        errors[label] = rel_error(grad, numeric)

    if verbose:
        print(format_gradient_table(errors, {n: v.shape for n, v in zip(labels, values)}, h, tol))
    return errors


def format_gradient_table(
    errors: dict[str, float], shapes: dict[str, tuple[int, ...]], h: float, tol: float
) -> str:
    """The compact table printed by :func:`check_gradients`."""
    width = max(len("input"), *(len(n) for n in errors))
    shape_width = max(len("shape"), *(len(str(s)) for s in shapes.values()))
    lines = [
        f"gradient check: backward vs centred differences (h={h:g}), ok below {tol:g}",
        f"  {'input':<{width}}  {'shape':<{shape_width}}  max rel. error",
    ]
    for name, error in errors.items():
        verdict = "ok" if error < tol else "WRONG"
        lines.append(f"  {name:<{width}}  {str(shapes[name]):<{shape_width}}  {error:14.2e}  {verdict}")
    return "\n".join(lines)
