"""Feedback in two stages (issue 13): hidden tests stay hidden until ``--feedback full``.

By default a student's HTML feedback shows every graded test cell's name, points, verdict
and message, but of a hidden test (``### BEGIN HIDDEN TESTS`` in the instructor's source)
neither its code nor the test case or expected value of a failed check: only the check's
name and hint. ``--feedback full`` shows everything; the scores are the same either way,
and changing the mode re-grades. A submission printing the kernel's history cannot reveal
hidden-test code: for A1 and A2 the hidden tests never enter the kernel, and any output
holding a line of hidden code is replaced in the default feedback.
"""

from __future__ import annotations

import argparse
import copy
import html as html_lib
import re
import shutil

import nbformat
import pytest

from course_utils.grading import feedback, samples
from course_utils.grading.batch import grade_batch, grader_fingerprint
from course_utils.grading.cli import register
from course_utils.grading.course import get_assignment
from course_utils.grading.isolation import Limits
from course_utils.grading.worker import Job
from course_utils.grading.parcel import Grading

A1 = get_assignment("a1_arithmetic")
A3 = get_assignment("a3_depthwise")
NOTEBOOK = f"{A1.notebooks[0]}.ipynb"
LIMITS = Limits(cell_timeout=30, budget_seconds=600)

#: ben's typical mistake (MISTAKES: forgets the dilation) first fails this hidden case.
FAILED_CASE = dict(n=15, k=3, d=2)

#: The last cell of a hostile submission: everything the kernel remembers of what it ran.
HISTORY_DUMP = '''ip = get_ipython()
print("HISTORY-DUMP")
print(In)
print(_ih)
print(repr(Out))
print(list(ip.history_manager.get_range(output=False)))
print(list(ip.history_manager.get_tail(1000, raw=True, output=False)))
print(ip.history_manager.input_hist_raw, ip.history_manager.input_hist_parsed)
'''


def _source_nb(assignment=A1):
    return nbformat.read(assignment.source_dir / f"{assignment.notebooks[0]}.ipynb", as_version=4)


def _hidden_lines(assignment=A1) -> list[str]:
    """The lines of hidden-test code (stripped) that no public part of the source also holds."""
    source = _source_nb(assignment)
    public = "\n".join(feedback.hidden_parts(c.source)[0] for c in source.cells)
    lines = [line.strip() for c in source.cells for line in feedback.hidden_parts(c.source)[1]]
    return [line for line in lines if len(line) > 8 and line not in public]


def _text(page: str) -> str:
    """A feedback page's text, as a student reads it (tags removed, entities decoded)."""
    return html_lib.unescape(re.sub(r"<[^>]+>", "", page))


def _section(page: str, grade_id: str) -> str:
    """The text of one graded cell of a feedback page: from its anchor to the next cell."""
    start = page.index(f'<a name="{grade_id}"></a>')
    end = page.find('<div class="cell border-box-sizing', start)
    return _text(page[start:end if end > 0 else None])


def _expected_size(n: int, k: int, s: int = 1, p: int = 0, d: int = 1) -> int:
    """The output length of a convolution, worked out here from the formula."""
    return (n + 2 * p - d * (k - 1) - 1) // s + 1


def _wrong_size(n: int, k: int, s: int = 1, p: int = 0, d: int = 1) -> int:
    """What ben's answer (dilation forgotten) returns."""
    return (n + 2 * p - k) // s + 1


def _class() -> dict[str, nbformat.NotebookNode]:
    ben = samples.answered(A1, wrong=["conv_output_size"])
    hostile = samples.answered(A1, wrong=["conv_output_size"])
    hostile.cells.append(nbformat.v4.new_code_cell(HISTORY_DUMP))
    return {"ada": samples.answered(A1), "ben": ben, "hostile": hostile}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """The class graded with the default feedback, then again with ``--feedback full`` into
    the same folder (the mode changed: everyone re-graded), then once more (nothing)."""
    root = tmp_path_factory.mktemp("feedback")
    samples.write_class(A1, root / "class", _class())
    out = root / "out"
    kwargs = dict(jobs=2, limits=LIMITS, progress=False, log=lambda m: None)
    hidden = grade_batch(A1, root / "class", out, **kwargs)
    shutil.copytree(out, root / "hidden")
    full = grade_batch(A1, root / "class", out, feedback="full", **kwargs)
    again = grade_batch(A1, root / "class", out, feedback="full", **kwargs)
    pages = {mode: {s: (root / where / "feedback" / s / NOTEBOOK.replace(".ipynb", ".html")).read_text()
                    for s in ("ada", "ben", "hostile")} for mode, where in (("hidden", "hidden"), ("full", "out"))}
    return {"hidden": hidden, "full": full, "again": again, "pages": pages, "root": root}


# ----------------------------------------------------------------------------- the default feedback
def test_default_feedback_shows_no_hidden_test_code(graded):
    lines = _hidden_lines()
    assert any("dict(n=15, k=3, d=2)" in line for line in lines)  # the probe looks for what matters
    for student, page in graded["pages"]["hidden"].items():
        text = _text(page)
        shown = [line for line in lines if line in text]
        assert not shown, (student, shown)
        assert feedback.BEGIN not in text and feedback.END not in text


def test_default_feedback_hides_the_failed_hidden_case_and_its_expected_value(graded):
    section = _section(graded["pages"]["hidden"]["ben"], "test_conv_output_size_hidden")
    expected, returned = _expected_size(**FAILED_CASE), _wrong_size(**FAILED_CASE)
    assert (expected, returned) == (11, 13)
    assert not re.search(rf"\b{expected}\b", section), section
    assert not re.search(rf"\b{returned}\b", section), section
    assert "n=15" not in section and "d=2" not in section
    # ... but says which test, its points, that it failed, which check and the check's hint
    assert "test_conv_output_size_hidden" in section
    assert "0.0 / 2.0" in section and "failed" in section
    assert "[conv_output_size] a hidden test failed." in section
    assert "Hint: a dilated kernel spans d*(k-1) + 1 pixels" in section
    assert "hidden test test_conv_output_size_hidden (2 points)" in section


def test_default_feedback_shows_passed_hidden_tests_and_public_tests_in_full(graded):
    page = graded["pages"]["hidden"]["ben"]
    passed = _section(page, "test_rf_step_hidden")
    assert "2.0 / 2.0" in passed and "passed" in passed and "failed" not in passed
    public = _section(page, "test_conv_output_size")
    assert "dict(n=5, k=3, s=2, p=1)" in public          # the public test's code, as in the notebook
    assert "correct: 4 cases" in public and "passed" in public
    ada = _text(graded["pages"]["hidden"]["ada"])
    assert "failed" not in ada.replace("a hidden test failed", "")


def test_full_feedback_shows_the_hidden_tests(graded):
    page = graded["pages"]["full"]["ben"]
    text = _text(page)
    assert all(line in text for line in _hidden_lines())
    section = _section(page, "test_conv_output_size_hidden")
    assert "conv_output_size(n=15, k=3, d=2) returned 13" in section
    assert feedback.BEGIN in section


def test_the_scores_do_not_depend_on_the_feedback(graded):
    hidden = {r["student_id"]: (r["score"], r["tests"]) for r in graded["hidden"].records}
    full = {r["student_id"]: (r["score"], r["tests"]) for r in graded["full"].records}
    assert hidden == full
    # ben and hostile lose the hidden test of conv_output_size (2 points)
    assert hidden["ada"][0] == 24 and hidden["ben"][0] == hidden["hostile"][0] == 22


def test_changing_the_feedback_regrades_and_the_same_mode_reuses(graded):
    assert graded["hidden"].graded == graded["full"].graded == ["ada", "ben", "hostile"]
    assert graded["again"].graded == []


def test_the_trusted_side_records_the_redacted_message_and_keeps_the_full_one(graded):
    """The instructor's autograded copy keeps the check's whole message; the trusted side
    recorded next to it what the default feedback may show."""
    autograded = nbformat.read(graded["root"] / "hidden" / "autograded" / "ben" / NOTEBOOK, as_version=4)
    cell = samples.find_cell(autograded, "test_conv_output_size_hidden")
    hint = "Hint: a dilated kernel spans d*(k-1) + 1 pixels; use that instead of k."
    assert cell.metadata[feedback.REDACTED] == f"[conv_output_size] a hidden test failed.\n{hint}"
    (error,) = [o for o in cell.outputs if o.output_type == "error"]
    assert error.evalue.startswith("[conv_output_size] conv_output_size(n=15, k=3, d=2) returned 13.")
    assert set(error) == {"output_type", "ename", "evalue", "traceback"}   # a valid output, nothing added


A2 = get_assignment("a2_numpy_layers")
#: A2's first hidden conv_forward case, and a conv_forward that takes every input and kernel
#: to be square (it passes the public tests, which are): the check names the expected shape.
A2_CASE = dict(x=(2, 6, 9, 3), w=(2, 4, 3, 5), stride=3, pad=2)


@pytest.fixture(scope="module")
def graded_a2(tmp_path_factory):
    root = tmp_path_factory.mktemp("feedback_a2")
    square = samples.edit_cell(samples.answered(A2), "conv_forward", lambda src: src.replace(
        "w_out = (w_in + 2 * pad - kw) // stride + 1", "w_out = h_out  # square inputs and kernels"))
    assert "w_out = h_out" in samples.find_cell(square, "conv_forward").source
    samples.write_class(A2, root / "class", {"square": square})
    pages = {}
    for mode in ("hidden", "full"):
        grade_batch(A2, root / "class", root / mode, feedback=mode, jobs=1, limits=LIMITS, progress=False,
                    log=lambda m: None)
        pages[mode] = (root / mode / "feedback" / "square" / f"{A2.notebooks[0]}.html").read_text()
    return pages


def test_default_feedback_hides_the_expected_shape_of_a_failed_hidden_case(graded_a2):
    (n, h, w, _), (kh, kw, _, f), s, p = A2_CASE["x"], A2_CASE["w"], A2_CASE["stride"], A2_CASE["pad"]
    expected = str((n, (h + 2 * p - kh) // s + 1, (w + 2 * p - kw) // s + 1, f))
    assert expected == "(2, 3, 4, 5)"
    full = _section(graded_a2["full"], "test_conv_forward_hidden")
    assert f"expected {expected}" in full and "x(2, 6, 9, 3)" in full     # what full feedback tells
    hidden = _section(graded_a2["hidden"], "test_conv_forward_hidden")
    assert expected not in hidden and "(2, 6, 9, 3)" not in hidden and "(2, 4, 3, 5)" not in hidden
    assert "failed" in hidden and "0.0 / 3.0" in hidden
    assert "a hidden test failed." in hidden and "Hint: the output is (N, H_out, W_out, C_out)" in hidden
    public = _section(graded_a2["hidden"], "test_conv_forward")   # the public test passed, shown in full
    assert "passed" in public and "dict(x=(2, 5, 5, 3), w=(3, 3, 3, 4), stride=1, pad=1)" in public
    assert not [line for line in _hidden_lines(A2) if line in _text(graded_a2["hidden"])]


# ----------------------------------------------------------------------------- a hostile submission
def test_a_history_dump_reveals_no_hidden_test_code(graded):
    """The last cell prints In, _ih, Out and the history manager: for A1 the hidden tests
    never ran in the kernel, so even the instructor's copy and the full feedback hold none."""
    lines = _hidden_lines()
    autograded = nbformat.read(graded["root"] / "out" / "autograded" / "hostile" / NOTEBOOK, as_version=4)
    printed = "".join(str(o.get("text", "")) for c in autograded.cells for o in c.get("outputs", []))
    assert "HISTORY-DUMP" in printed and "conv_output_size" in printed   # it ran, and dumped the history
    assert feedback.BEGIN.replace("### ", "") not in printed
    assert not [line for line in lines if line in printed]
    for mode in ("hidden", "full"):  # the dump's own outputs, in either feedback
        dump = _text(graded["pages"][mode]["hostile"]).split("HISTORY-DUMP", 1)[-1]
        assert "def conv_output_size" in dump
        assert not [line for line in lines if line in dump]


# ----------------------------------------------------------------------------- A3 and in-memory notebooks
def _autograded_a3(error_source: str) -> nbformat.NotebookNode:
    """A3's source as nbgrader's feedback step gets it: test_separable_only failed in the
    kernel (an IPython traceback quoting the cell), the other tests passed."""
    nb = copy.deepcopy(_source_nb(A3))
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type != "code":
            continue
        cell.outputs = []
        if meta.get("grade") and not meta.get("solution"):
            meta["score"] = meta["points"]
            cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=f"[{meta['grade_id']}] correct\n")]
        if meta.get("grade_id") == "test_separable_only":
            meta["score"] = 0.0
            cell.outputs = [nbformat.v4.new_output(
                "error", ename="CheckFailed",
                evalue="[build_separable] these layers convolve but are not SeparableConv2D or DepthwiseConv2D: "
                       "conv (Conv2D) on (28, 28, 1).\nHint: use SeparableConv2D.",
                traceback=["---------", f"Cell In[12], line 3\n----> 3 {error_source}", "CheckFailed: ..."])]
    return nb


def test_a3_hidden_tests_are_redacted_from_the_instructors_source():
    hidden_line = "a3.check_separable_only(build_separable, INPUT_SHAPE)"
    nb = feedback.redact_notebook(_autograded_a3(hidden_line), _source_nb(A3))
    cells = {c.metadata.get("nbgrader", {}).get("grade_id"): c for c in nb.cells}
    cell = cells["test_separable_only"]
    assert hidden_line not in cell.source and feedback.BEGIN not in cell.source
    assert cell.source.splitlines()[:2] == ["from course_utils.grading import a3",  # the public part
                                            "a3.check_separable_only(build_separable, (32, 32, 3))"]
    assert "hidden test test_separable_only (4 points)" in cell.source
    (output,) = cell.outputs
    assert output.evalue == "[build_separable] a hidden test failed.\nHint: use SeparableConv2D."
    assert "(28, 28, 1)" not in str(output) and hidden_line not in str(output)
    assert "a3.check_beats_base" not in cells["test_beats_base"].source
    assert cells["test_beats_base"].outputs[0].text == "[test_beats_base] hidden test passed\n"
    public = next(c for c in _source_nb(A3).cells if c.metadata.get("nbgrader", {}).get("grade_id") == "test_params")
    assert cells["test_params"].source == public.source    # a public test: as it is


def test_what_is_hidden_comes_from_the_source_not_the_students_copy():
    """A student who deletes the markers from their copy of a cell changes nothing: the
    instructor's source says which cells are hidden."""
    nb = _autograded_a3("x")
    for cell in nb.cells:
        cell.source = cell.source.replace(feedback.BEGIN, "").replace(feedback.END, "")
    nb = feedback.redact_notebook(nb, _source_nb(A3))
    assert all("check_beats_base" not in c.source for c in nb.cells)


def test_outputs_holding_hidden_code_are_replaced():
    nb = _autograded_a3("x")
    source = [c for c in _source_nb(A3).cells if feedback.BEGIN in c.source]
    dump = repr([c.source for c in source])       # what `print(In)` in the kernel would show of them
    nb.cells.append(nbformat.v4.new_code_cell("print(In)", outputs=[
        nbformat.v4.new_output("stream", name="stdout", text=dump),
        nbformat.v4.new_output("display_data", data={"text/html": html_lib.escape(dump)}),
        nbformat.v4.new_output("stream", name="stdout", text="an honest line\n")]))
    nb = feedback.redact_notebook(nb, _source_nb(A3))
    outputs = nb.cells[-1].outputs
    assert [o.get("text") for o in outputs] == [feedback.REMOVED, feedback.REMOVED, "an honest line\n"]


def test_a_check_failure_is_cut_down_to_its_name_and_hint():
    from course_utils.checks import CheckFailed, NotAttempted

    exc = CheckFailed("conv_output_size", "conv_output_size(n=15, k=3, d=2) returned 13.", "mind the dilation")
    assert feedback.redacted_message(exc) == "[conv_output_size] a hidden test failed.\nHint: mind the dilation"
    assert feedback.redacted_message(CheckFailed("f", "f(1) returned 2, expected 3.")) == "[f] a hidden test failed."
    assert feedback.redacted_message(NotAttempted("f out for x(2, 6)")).startswith("[f] is not answered yet")
    labelled = CheckFailed("conv_forward out for x(2, 6, 9, 3), stride=3", "has shape (2, 3, 3, 5), expected "
                           "(2, 3, 4, 5).", "mind W")
    assert feedback.redacted_message(labelled) == "[conv_forward] a hidden test failed.\nHint: mind W"
    assert feedback.redact_text("CheckFailed", str(labelled)) == feedback.redacted_message(labelled)
    assert feedback.redacted_message(ValueError("f(1)")) is None
    assert feedback.redact_text("CheckFailed", str(exc)) == feedback.redacted_message(exc)
    assert feedback.redact_text("course_utils.checks.core.CheckFailed", str(exc)) == feedback.redacted_message(exc)
    assert "n=15" not in feedback.redact_text("ValueError", "n=15 is odd")
    assert feedback.redact_text("NameError", "name 'f' is not defined") == "NameError: name 'f' is not defined"


# ----------------------------------------------------------------------------- the option
def test_the_feedback_mode_is_part_of_the_fingerprint():
    prints = {mode: grader_fingerprint(A1, Limits(), "bwrap", mode) for mode in feedback.MODES}
    assert len(set(prints.values())) == 3
    assert grader_fingerprint(A1, Limits(), "bwrap", True) == prints["hidden"]
    assert grader_fingerprint(A1, Limits(), "bwrap", False) == prints["none"]
    with pytest.raises(ValueError):
        feedback.feedback_mode("secret")


def test_the_mode_travels_as_plain_data(tmp_path):
    grading = Grading("a1_arithmetic", 24, {}, "bwrap", 60, "full")
    job = Job(assignment="a1_arithmetic", student="ben", course_root=str(tmp_path), runtime_dir=str(tmp_path),
              result_path=str(tmp_path / "r.json"), feedback=grading.feedback)
    job.dump(tmp_path / "job.json")
    assert Job.load(tmp_path / "job.json").feedback == "full"
    assert Job(assignment="a", student="s", course_root="", runtime_dir="", result_path="").feedback == "hidden"


@pytest.mark.parametrize("args, mode", [([], "hidden"), (["--feedback", "full"], "full"),
                                        (["--feedback", "none"], "none"), (["--no-feedback"], "none")])
def test_the_command_line(args, mode):
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command"))
    assert parser.parse_args(["grade", "a1_arithmetic", *args]).feedback == mode
