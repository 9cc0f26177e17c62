"""The check framework: failures that explain, comparisons that do not believe odd objects.

:class:`CheckFailed` (an ``AssertionError``) carries ``[name] what is wrong`` and a
``Hint:`` line, never the expected answer; :class:`NotAttempted` is the placeholder
case. :func:`check_equal`, :func:`check_shape` and :func:`check_array` compare an
answer with a reference; :func:`call_student` calls a student's function with
readable failures. The assignment checks (:mod:`.a1`, :mod:`.a2`) are built on these.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["CheckFailed", "NotAttempted", "call_student", "check_array", "check_equal", "check_shape",
           "relative_error"]


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
