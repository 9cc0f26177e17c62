"""The bad submissions of issue 7, graded in one batch: none crashes it, none scores
more than the honest answers it carries.

Every case is built by tests/fixtures/bad_submissions.py from A1's source and graded
with two jobs and a 10-second cell timeout. ``honest`` and ``honest_wrong`` are the
references: full marks, and full marks minus the 2 points that the mistake most cases
carry costs (see ``WRONG`` there).
"""

from __future__ import annotations

import glob
from pathlib import Path

import nbformat
import pytest

from course_utils.grading.batch import grade_batch
from course_utils.grading.isolation import Limits, detect_sandbox
from tests.fixtures import bad_submissions as bad

CASES = {
    "honest": lambda: bad.honest(),
    "honest_wrong": lambda: bad.honest(wrong=bad.WRONG),
    "unmodified": bad.unmodified,
    "invalid_json": bad.invalid_json,
    "missing_notebook": bad.missing_notebook,
    "renamed_notebook": bad.renamed_notebook,
    "extra_notebook": bad.extra_notebook,
    "deleted_test_cell": bad.deleted_test_cell,
    "edited_test_cell": bad.edited_test_cell,
    "cell_type_changed": bad.cell_type_changed,
    "duplicated_cells": bad.duplicated_cells,
    "foreign_cells": bad.foreign_cells,
    "infinite_loop": bad.infinite_loop,
    "stubborn_loop": bad.stubborn_loop,
    "kernel_suicide": bad.kernel_suicide,
    "memory_hog": bad.memory_hog,
    "huge_output": bad.huge_output,
    "stderr_on_purpose": bad.stderr_on_purpose,
    "traceback_suppression": bad.traceback_suppression,
    "grading_detector": bad.grading_detector,
    "snooper": bad.snooper,
}


def write_class(folder: Path, cases: dict) -> None:
    for student, build in cases.items():
        target = folder / student
        target.mkdir(parents=True)
        for name, content in build().items():
            if isinstance(content, bytes):
                (target / name).write_bytes(content)
            else:
                nbformat.write(content, target / name)


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = tmp_path_factory.mktemp("bad")
    write_class(root / "class", CASES)
    out = root / "out"
    report = grade_batch(bad.A1, root / "class", out, jobs=2, limits=Limits(cell_timeout=10, budget_seconds=600),
                         feedback=False, progress=False, log=lambda m: None)
    return {r["student_id"]: r for r in report.records}, out


@pytest.fixture(scope="module")
def results(graded):
    return graded[0]


@pytest.fixture(scope="module")
def full(results):
    return results["honest"]["max_score"]


def score(results, student):
    return results[student]["score"]


def test_references(results, full):
    assert results["honest"]["status"] == "ok" and score(results, "honest") == full
    assert score(results, "honest_wrong") == full - 2


def test_the_batch_grades_everyone_and_no_bad_submission_beats_an_honest_one(results, full):
    assert set(results) == set(CASES)
    for student, record in results.items():
        assert record["status"] in ("ok", "not_attempted", "error"), student
        assert record["score"] <= full, student


def test_unmodified_release_scores_zero_not_attempted(results):
    r = results["unmodified"]
    assert (r["score"], r["status"]) == (0, "not_attempted")
    assert "not attempted" in r["message"]


def test_invalid_json_is_an_error_with_the_reason(results):
    r = results["invalid_json"]
    assert (r["score"], r["status"]) == (0, "error")
    assert "invalid JSON" in r["message"] and "line" in r["message"]


def test_missing_notebook_is_an_error_listing_what_was_found(results):
    r = results["missing_notebook"]
    assert (r["score"], r["status"]) == (0, "error")
    assert "a1_arithmetic.ipynb" in r["message"] and "answers.txt" in r["message"]


def test_renamed_notebook_is_graded_under_its_name(results, full):
    r = results["renamed_notebook"]
    assert (r["score"], r["status"]) == (full, "ok")
    assert "graded as 'a1_arithmetic.ipynb'" in r["message"]


def test_extra_notebook_is_ignored_and_never_run(results, full):
    r = results["extra_notebook"]
    assert (r["score"], r["status"]) == (full, "ok")
    assert "ignored extra notebook(s): scratch.ipynb" in r["message"]


def test_deleted_test_cell_is_restored(results):
    r = results["deleted_test_cell"]
    assert r["score"] == score(results, "honest_wrong")
    assert "'test_conv_output_size_hidden' was deleted" in r["message"]


def test_edited_test_cell_is_restored_and_scored_honestly(results):
    r = results["edited_test_cell"]
    assert r["score"] == score(results, "honest_wrong")
    assert "'test_conv_output_size_hidden' was edited" in r["message"]


def test_changed_cell_types_are_changed_back(results):
    r = results["cell_type_changed"]
    assert r["score"] == score(results, "honest_wrong")
    assert "changed from code to markdown" in r["message"] and "changed from code to raw" in r["message"]


def test_duplicated_cells_grade_the_original_test(results):
    r = results["duplicated_cells"]
    assert r["score"] == score(results, "honest_wrong")
    assert "appears 2 times" in r["message"]


def test_foreign_test_cells_earn_nothing(results, full):
    r = results["foreign_cells"]
    assert (r["score"], r["max_score"]) == (score(results, "honest_wrong"), full)
    assert "'bonus_points' is not part of the assignment" in r["message"]


@pytest.mark.parametrize("student", ["infinite_loop", "stubborn_loop", "kernel_suicide", "memory_hog"])
def test_a_runaway_cell_costs_its_own_points_only(results, full, student):
    r = results[student]
    assert r["status"] == "ok"
    assert r["score"] == full - 2, r["message"]
    failed = [t["grade_id"] for t in r["tests"] if t["score"] < t["points"]]
    assert failed == ["test_sizes_c"]


def test_timeouts_and_dead_kernels_are_reported(results):
    assert "sizes_c ran out of time and was interrupted" in results["infinite_loop"]["message"]
    assert "sizes_c ran out of time and ignored the interrupt" in results["stubborn_loop"]["message"]
    assert "sizes_c killed the kernel" in results["kernel_suicide"]["message"]


def autograded(graded, student: str) -> nbformat.NotebookNode:
    return nbformat.read(graded[1] / "autograded" / student / bad.NOTEBOOK, as_version=4)


def test_megabytes_of_output_are_truncated(results, graded, full):
    r = results["huge_output"]
    assert (r["score"], r["status"]) == (full, "ok")
    assert (graded[1] / "autograded" / "huge_output" / bad.NOTEBOOK).stat().st_size < 300_000
    answer = next(c for c in autograded(graded, "huge_output").cells
                  if c.metadata.get("nbgrader", {}).get("grade_id") == bad.ANSWER)
    assert {o.name for o in answer.outputs} == {"stdout", "stderr"}
    assert all("truncated by the grader" in o.text for o in answer.outputs)


def test_a_students_own_stderr_still_fails_the_test(results, full):
    r = results["stderr_on_purpose"]
    failed = {t["grade_id"]: t for t in r["tests"] if t["score"] < t["points"]}
    assert set(failed) == {"test_transposed_output_size", "test_transposed_output_size_hidden"}
    assert failed["test_transposed_output_size"]["failure"].startswith("wrote to stderr: debug: computing")


def test_traceback_suppression_does_not_hide_failures(results):
    r = results["traceback_suppression"]
    assert r["score"] == score(results, "honest_wrong")
    failed = {t["grade_id"]: t["failure"] for t in r["tests"] if t["score"] < t["points"]}
    honest = {t["grade_id"] for t in results["honest_wrong"]["tests"] if t["score"] < t["points"]}
    assert set(failed) == honest != set()
    assert all(failed.values()), "a failed test without the reason it failed"


def test_code_looking_for_nbgrader_execution_sees_nothing(results):
    assert results["grading_detector"]["score"] == score(results, "honest_wrong")


def test_submissions_cannot_see_other_files_or_the_network(graded, full):
    """What the snooper looks for exists outside the sandbox (the positive control); inside
    bubblewrap it finds none of it and no network."""
    outside = [path for pattern in bad.SNOOP_PATTERNS for path in glob.glob(pattern, recursive=True)]
    assert any(path.endswith("a1_arithmetic.ipynb") for path in outside), outside
    if graded[0]["snooper"]["sandbox"] != "bwrap":
        pytest.skip("this machine graded without bubblewrap: no file-system isolation to check")
    assert graded[0]["snooper"]["score"] == full
    printed = "".join(o.get("text", "") for c in autograded(graded, "snooper").cells for o in c.get("outputs", []))
    assert "SNOOP 0 files; no network" in printed


def test_tensorflow_warnings_in_a_correct_answer_get_full_marks(tmp_path):
    """Keras warns on stderr inside the tested function; nbgrader alone would give zero.
    Own batch: importing TensorFlow takes longer than the main batch's cell timeout."""
    write_class(tmp_path / "class", {"tf_student": bad.tensorflow_noise})
    report = grade_batch(bad.A1, tmp_path / "class", tmp_path / "out", jobs=1, limits=Limits(cell_timeout=180, budget_seconds=900),
                         feedback=False, progress=False, log=lambda m: None)
    (record,) = report.records
    assert (record["score"], record["status"]) == (record["max_score"], "ok"), record["message"]
    log = (tmp_path / "out" / "logs" / "tf_student.log").read_text()
    assert "benign stderr line(s)" in log


@pytest.mark.parametrize("sandbox", ["unshare", "none"])
def test_weaker_sandboxes_grade_the_same(tmp_path, sandbox):
    """What a machine without bubblewrap gets: the same scores, the same recovery."""
    if sandbox == "unshare" and detect_sandbox("unshare", install=False, log=lambda m: None) != "unshare":
        pytest.skip("unshare --net is not allowed here")
    write_class(tmp_path / "class", {"honest": CASES["honest"], "kernel_suicide": bad.kernel_suicide})
    report = grade_batch(bad.A1, tmp_path / "class", tmp_path / "out", jobs=2, limits=Limits(cell_timeout=30, budget_seconds=600),
                         sandbox=sandbox, feedback=False, progress=False, log=lambda m: None)
    scores = {r["student_id"]: (r["score"], r["sandbox"]) for r in report.records}
    full = report.records[0]["max_score"]
    assert scores == {"honest": (full, sandbox), "kernel_suicide": (full - 2, sandbox)}
