"""``course validate NOTEBOOK``: what a student runs before submitting.

It runs the notebook from top to bottom as the autograder will (same
execution, same clean kernel environment, same per-cell time limit; for A1
and A2 the test cells run outside the kernel, calling the student's functions
with plain data, and the reference code is refused on import), then
says, test by test, what passes and what fails with the check's hint, and
warns about anything the autograder will undo (edited read-only cells,
deleted, duplicated or re-typed cells). Hidden tests are not in the student's
copy: passing here is necessary, not sufficient.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from course_utils.grading.course import RELEASES_DIR, list_assignments
from course_utils.grading.gradebook import failure_line


@dataclass
class Validation:
    notebook: str
    assignment: str | None
    passed: list[tuple[str, float]] = field(default_factory=list)
    failed: list[tuple[str, float, str]] = field(default_factory=list)
    hidden: list[tuple[str, float]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and not self.failed and not self.notes


def _find_release(path: Path) -> tuple[str | None, Path | None]:
    for name in list_assignments():
        candidate = RELEASES_DIR / name / path.name
        if candidate.exists():
            return name, candidate
    return None, None


def _full_failure(cell) -> str:
    """The whole message of a failed check (its hint), else the first line of the error."""
    for output in cell.get("outputs", []):
        if output.output_type == "error" and output.ename in ("CheckFailed", "NotAttempted", "AssertionError"):
            return f"{output.ename}: {output.evalue}".strip()
        if output.output_type == "error" and output.ename == "NameError":
            return (f"NameError: {output.evalue}\n(write that answer in the cell above this test, "
                    "then run both cells)")
    return failure_line(cell)


def _first_line(text: str) -> str:
    return (text.strip().splitlines() or ["unknown error"])[0]


def _only_comments(source: str) -> bool:
    return all(not line.strip() or line.lstrip().startswith("#") for line in source.splitlines())


def validate(path: Path, timeout: int | None = None) -> Validation:
    """Execute ``path`` like the autograder and collect per-test results
    (``timeout``: seconds per cell, by default the grader's)."""
    from nbgrader import utils
    from nbgrader.preprocessors import CheckCellMetadata, ClearOutput
    from traitlets.config import Config

    from course_utils.grading.isolation import Limits
    from course_utils.grading.preprocessors import (DropBenignStderr, ResilientExecute, forget_unknown_metadata,
                                                    grader_id, restore_grader_cells)
    from course_utils.grading.trusted import TRUSTED_TESTS
    from course_utils.grading.worker import compare_with_release, read_notebook

    timeout = timeout or Limits().cell_timeout

    result = Validation(notebook=str(path), assignment=None)
    if not path.exists():
        result.error = f"{path} does not exist"
        return result
    nb, problem = read_notebook(path)
    if problem:
        result.error = problem + " (open it in Jupyter and save it again, or re-download the assignment)"
        return result
    result.assignment, release_path = _find_release(path)
    if release_path is not None:
        release = nbformat.read(release_path, as_version=4)
        notes, _ = compare_with_release(nb, release)
        result.notes = [n.replace("restored from the assignment", "it will be restored at grading")
                        .replace("the original is graded", "your change will be thrown away at grading")
                        for n in notes]
        nb = restore_grader_cells(nb, release)  # run what the grader will run
        known = {grader_id(cell) for cell in release.cells} - {None}
        for cell in nb.cells:  # a garbled copy the restore left behind is a student cell to the grader too
            forget_unknown_metadata(cell, known)
    try:
        CheckCellMetadata().preprocess(nb, {})
    except Exception as exc:  # nbgrader's ValidationError and friends: report, do not crash
        result.notes.append(f"nbgrader metadata problem: {_first_line(str(exc))} (re-download the "
                            "assignment and copy your answers into it)")
        if release_path is None:
            result.error = "the notebook's nbgrader cells are broken and no release was found to repair them"
            return result
    c = Config()
    c.Execute.timeout = timeout
    c.Execute.iopub_timeout = 10
    resources = {"metadata": {"path": str(path.parent.resolve())}}
    with tempfile.TemporaryDirectory(prefix="cgk") as runtime:
        c.SandboxedKernelManager.runtime_dir = runtime
        c.SandboxedKernelManager.copy_folder = False  # the student's own machine and folder
        if result.assignment in TRUSTED_TESTS:  # the public tests run where the grader runs them
            c.ResilientExecute.trusted_tests = True
            c.ResilientExecute.trusted_assignment = result.assignment
            c.SandboxedKernelManager.assignment = result.assignment
        for preprocessor in (ClearOutput, ResilientExecute, DropBenignStderr):
            nb, resources = preprocessor(config=c).preprocess(nb, resources)
    for cell in nb.cells:
        if utils.is_grade(cell) and cell.cell_type == "code":
            grade_id = cell.metadata.nbgrader["grade_id"]
            score, points = utils.determine_grade(cell)
            if _only_comments(cell.source):  # its tests are hidden in this copy
                result.hidden.append((grade_id, points))
            elif score == points:
                result.passed.append((grade_id, points))
            else:
                result.failed.append((grade_id, points, _full_failure(cell)))
    return result


def report(result: Validation) -> str:
    """The text ``course validate`` prints."""
    lines = [f"Validating {result.notebook}"
             + (f" (assignment {result.assignment})" if result.assignment else "")]
    if result.error:
        return "\n".join(lines + [f"ERROR: {result.error}"])
    for grade_id, points in result.passed:
        lines.append(f"  PASS  {grade_id} ({points:g} pt)")
    for grade_id, points, why in result.failed:
        lines.append(f"  FAIL  {grade_id} ({points:g} pt)")
        lines += [f"        {line}" for line in why.splitlines()]
    for note in result.notes:
        lines.append(f"  NOTE  {note}")
    total = len(result.passed) + len(result.failed)
    if total == 0:
        lines.append("No tests found: is this an assignment notebook?")
    elif result.ok:
        lines.append(f"All {total} visible tests pass.")
    else:
        lines.append(f"{len(result.passed)} of {total} visible tests pass: fix what is listed above before submitting.")
    if result.hidden:
        points = sum(p for _, p in result.hidden)
        lines.append(f"{len(result.hidden)} hidden test cells ({points:g} pt) run when your work is graded.")
    return "\n".join(lines)
