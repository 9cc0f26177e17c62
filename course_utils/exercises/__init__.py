"""Self-checking exercises of the lecture notebooks.

One module per notebook (``course_utils.exercises.nb01`` ...) defines its
exercises as :class:`Exercise` objects. In a notebook::

    from course_utils.exercises import nb01
    answer = ...                      # the student's answer
    nb01.output_size.check(answer)    # prints at once whether it is right, with a hint if not

A check is a function that raises ``AssertionError`` with a helpful message
(a hint, never the answer) when the answer is wrong, always explicitly
(:func:`require`, never a bare ``assert``, so that the checks still decide
under ``python -O``); the same check functions
are what the autograder calls for the graded assignments (course_utils.checks).
Solutions are revealed in the notebook's markdown (a ``<details>`` block), so a
student decides when to look.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

NOT_ATTEMPTED = (None, Ellipsis)


@dataclass(frozen=True)
class Result:
    exercise: str
    passed: bool
    message: str

    def __bool__(self) -> bool:
        return self.passed

    def __repr__(self) -> str:  # what a notebook cell shows
        return self.message


@dataclass(frozen=True)
class Exercise:
    """A question with a check that explains what is wrong."""

    key: str
    question: str
    checker: Callable[[Any], None]
    #: ``""`` (answer a question), ``"predict"`` (predict a result, then run the cell that shows it)
    #: or ``"find-the-bug"`` (a function with a bug is given; answer with the repaired function).
    style: str = ""

    def check(self, answer: Any, *, quiet: bool = False) -> Result:
        """Check ``answer``; prints (unless ``quiet``) and returns a :class:`Result`."""
        if any(answer is marker for marker in NOT_ATTEMPTED):
            result = Result(self.key, False, f"[{self.key}] not attempted yet: replace the placeholder with your answer.")
        else:
            try:
                self.checker(answer)
            except AssertionError as exc:
                result = Result(self.key, False, f"[{self.key}] not quite: {exc}")
            except Exception as exc:  # the student's object broke the check: say how
                result = Result(self.key, False, f"[{self.key}] could not check your answer: "
                                                 f"{type(exc).__name__}: {exc}")
            else:
                result = Result(self.key, True, f"[{self.key}] correct!")
        if not quiet:
            print(result.message)
        return result


def require(condition: Any, message: str) -> None:
    """Raise ``AssertionError(message)`` unless ``condition`` holds.

    An ``assert`` statement would do the same, except under ``python -O`` (or
    ``PYTHONOPTIMIZE``), where it is removed and every wrong answer would pass.
    """
    if not condition:
        raise AssertionError(message)


def as_int(answer: Any, what: str) -> int:
    """``answer`` as an int, or AssertionError saying that ``what`` is a whole number."""
    require(isinstance(answer, (int, np.integer)) and not isinstance(answer, bool), (
        f"{what} is a whole number: give an int, not {type(answer).__name__}."))
    return int(answer)


def as_float(answer: Any) -> float:
    """``answer`` as a float, or AssertionError asking for a number."""
    try:
        return float(answer)
    except (TypeError, ValueError):
        raise AssertionError("answer should be a number.") from None


def as_letters(answer: Any, choices: Any, what: str) -> set[str]:
    """``answer`` (an iterable of letters, any case) as a set of upper-case letters, all of them
    among ``choices`` (``what``: the name of those, e.g. "stacks"); AssertionError otherwise."""
    try:
        chosen = {str(a).strip().upper() for a in answer}
    except TypeError:
        raise AssertionError("answer with a set of letters, e.g. {'A', 'B'}.") from None
    unknown = chosen - set(choices)
    require(not unknown, f"{sorted(unknown)} are not among the {what} {sorted(choices)}.")
    return chosen


def expect_equal(answer: Any, expected: Any, hint: str, mistakes: dict[Any, str] | None = None) -> None:
    """Raise AssertionError with ``hint`` unless ``answer`` equals ``expected``.

    ``mistakes`` maps typical wrong answers to what each one tells about the mistake;
    an answer equal to one of them gets that explanation instead of ``hint`` (a key
    equal to ``expected`` is ignored, so a case where two formulas agree is right).

    The comparison is the autograder's (:func:`course_utils.checks.check_equal`):
    numbers to a tiny relative tolerance, containers element by element, and
    objects that claim to equal everything are not believed.
    """
    from course_utils import checks

    for wrong, why in (mistakes or {}).items():
        if wrong != expected and type(answer) is type(wrong) and answer == wrong:
            raise AssertionError(why)
    checks.check_equal(answer, expected, "answer", hint)
