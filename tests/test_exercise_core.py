"""The exercise frame and the topic-module collection."""

from __future__ import annotations

import sys
import types

import numpy as np
import pytest

from course_utils import _topics
from course_utils.exercises import Exercise, expect_equal


def test_exercise_reports_not_attempted_wrong_and_right(capsys):
    ex = Exercise("demo", "What is 2 + 3?", lambda a: expect_equal(a, 5, "add the two numbers"))
    assert not ex.check(None)
    assert "not attempted" in capsys.readouterr().out
    wrong = ex.check(6)
    assert not wrong and "add the two numbers" in wrong.message and "6" in wrong.message
    assert "5" not in wrong.message.replace("2 + 3", "")  # the hint never gives the answer away
    assert ex.check(5) and "correct" in capsys.readouterr().out


def test_a_check_that_crashes_on_odd_input_explains_instead_of_raising():
    def checker(answer):
        assert answer.shape == (3, 3), "expected a 3x3 array"

    result = Exercise("shape", "?", checker).check("not an array", quiet=True)
    assert not result and "AttributeError" in result.message


def test_collect_refuses_a_name_defined_twice(tmp_path, monkeypatch):
    pkg = tmp_path / "fakepkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("__all__ = ['f']\ndef f(): return 'a'\n")
    (pkg / "b.py").write_text("__all__ = ['g']\ndef g(): return 'b'\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    ns: dict = {}
    assert _topics.collect("fakepkg", [str(pkg)], ns) == ["f", "g"] and ns["g"]() == "b"
    (pkg / "c.py").write_text("__all__ = ['f']\ndef f(): return 'c'\n")
    with pytest.raises(ImportError, match="'f' is defined in both a and c"):
        _topics.collect("fakepkg", [str(pkg)], {})


def test_letter_answers_are_read_in_any_case_and_checked_against_the_choices():
    from course_utils.exercises import as_letters

    assert as_letters(["a", " B "], {"A": 1, "B": 2, "C": 3}, "stacks") == {"A", "B"}
    with pytest.raises(AssertionError, match=r"\['D'\] are not among the stacks \['A', 'B'\]"):
        as_letters({"a", "d"}, "AB", "stacks")
    with pytest.raises(AssertionError, match="set of letters"):
        as_letters(3, "AB", "stacks")


def test_number_answers_are_read_as_floats_or_asked_for():
    from course_utils.exercises import as_float

    assert as_float("0.5") == 0.5 and as_float(np.float32(2)) == 2.0
    for bad in (None, "half", [1]):
        with pytest.raises(AssertionError, match="answer should be a number"):
            as_float(bad)
