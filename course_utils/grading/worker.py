"""Grade ONE submission, in its own process: ``python -m course_utils.grading.worker JOB.json``.

The batch (:mod:`.batch`) prepares a private nbgrader course directory per
student (the assignment's source, a copy of the gradebook, the release and
the student's files under ``submitted/<student>/<assignment>/``), starts this
module with resource limits and a deadline, and reads back ``result.json``.

Steps:

1. look at the files: a missing, renamed or extra notebook, invalid JSON, a
   notebook too large; edited, deleted, duplicated or re-typed nbgrader cells
   (:func:`inspect_submission`);
2. nbgrader ``autograde`` with the course's preprocessors (:mod:`.preprocessors`),
   the kernel sandboxed (:mod:`.isolation`); the graded test cells run here, in
   this trusted process, calling the student's functions in the kernel with plain
   data (:mod:`.trusted`); for A3 the saved runs are first copied from the
   submission into a folder of the grader's, and the base run is evaluated there
   while the kernel runs (:func:`.trusted.prepare`);
3. nbgrader ``generate_feedback`` (HTML), the hidden tests redacted unless the job's
   ``feedback`` is ``full`` (:mod:`.feedback`);
4. read the scores back from the gradebook (:mod:`.gradebook`).

Whatever goes wrong with the submission becomes ``status="error"`` and a
message in the result; the process exits non-zero only when the worker
itself is broken.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import nbformat

import course_utils  # noqa: F401  (quiet TensorFlow defaults for the grader process too)
from course_utils.grading import gradebook
from course_utils.grading.course import SetupError, nbgrader_config, run_converter
from course_utils.grading.feedback import DEFAULT as DEFAULT_FEEDBACK
from course_utils.grading.feedback import feedback_mode
from course_utils.grading.isolation import Limits, shown_name
from course_utils.grading.preprocessors import grader_id
from course_utils.grading.trusted import TRUSTED_TESTS, prepare as prepare_trusted

#: Notebooks larger than this are not parsed (outputs are cleared before grading anyway).
MAX_NOTEBOOK_BYTES = 50 * 1024 ** 2


@dataclass
class Job:
    """What the batch asks the worker to do (written to ``job.json``)."""

    assignment: str
    student: str
    course_root: str
    runtime_dir: str
    result_path: str
    sandbox: str = "none"
    limits: dict = field(default_factory=dict)
    feedback: str = DEFAULT_FEEDBACK  # none | hidden | full (:data:`.feedback.MODES`)
    kernel_uid: int = -1        # the uid the kernels run as (-1: the grader's)

    @classmethod
    def load(cls, path: str | Path) -> "Job":
        return cls(**json.loads(Path(path).read_text()))

    def dump(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(asdict(self), indent=1))


# ----------------------------------------------------------------------------- inspection
@dataclass
class Inspection:
    """What :func:`inspect_submission` found before grading."""

    notes: list[str] = field(default_factory=list)      # told to the instructor, grading goes on
    errors: list[str] = field(default_factory=list)     # a notebook that cannot be graded
    attempted: bool = False                             # some solution cell differs from the release
    gradable: list[str] = field(default_factory=list)   # notebooks handed to nbgrader


def read_notebook(path: Path) -> tuple[nbformat.NotebookNode | None, str | None]:
    """``(notebook, None)``, or ``(None, what is wrong with the file)``."""
    size = path.stat().st_size
    if size > MAX_NOTEBOOK_BYTES:
        return None, f"{path.name} is too large to grade ({size / 1024 ** 2:.0f} MB)"
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        return None, f"{path.name} is not a notebook: not UTF-8 text"
    try:
        json.loads(text)
    except json.JSONDecodeError as exc:
        return None, f"{path.name} is not a valid notebook: invalid JSON at line {exc.lineno}, column {exc.colno}"
    try:
        return nbformat.reads(text, as_version=4), None
    except Exception as exc:  # nbformat's reader raises several kinds
        return None, f"{path.name} is not a valid notebook: {type(exc).__name__}: {exc}"


def _cells_by_id(nb: nbformat.NotebookNode) -> dict[str, list[nbformat.NotebookNode]]:
    found: dict[str, list] = {}
    for cell in nb.cells:
        grade_id = grader_id(cell)
        if grade_id is not None:
            found.setdefault(grade_id, []).append(cell)
    return found


def compare_with_release(nb: nbformat.NotebookNode, release: nbformat.NotebookNode) -> tuple[list[str], bool]:
    """Notes on nbgrader cells the student changed, and whether any answer was given."""
    from nbgrader.utils import compute_checksum, is_locked, is_solution

    notes: list[str] = []
    submitted = _cells_by_id(nb)
    known = _cells_by_id(release)
    for grade_id in sorted(set(submitted) - set(known)):
        notes.append(f"cell {shown_name(grade_id)!r} is not part of the assignment (run as a plain cell, not graded)")
    tagged = sorted({str(tag) for cell in nb.cells if isinstance(cell.get("metadata"), dict)
                     for tag in (cell.metadata.get("tags") or []) if isinstance(cell.metadata.get("tags"), list)})
    if tagged:
        notes.append("cell tags are ignored (every cell runs and is graded as released): "
                     + ", ".join(shown_name(t) for t in tagged))
    attempted = False
    for grade_id, (original,) in known.items():
        copies = submitted.get(grade_id, [])
        if not copies:
            notes.append(f"cell {grade_id!r} was deleted (restored from the assignment)")
            continue
        if len(copies) > 1:
            notes.append(f"cell {grade_id!r} appears {len(copies)} times (the last copy is graded)")
        cell = copies[-1]
        if cell.cell_type != original.cell_type:
            notes.append(f"cell {grade_id!r} was changed from {original.cell_type} to {cell.cell_type} (changed back)")
        flags = ("grade", "solution", "locked", "task", "points")
        if any(cell.metadata.nbgrader.get(f) != original.metadata.nbgrader.get(f) for f in flags):
            notes.append(f"the nbgrader settings of cell {grade_id!r} were changed (restored from the assignment)")
        if is_solution(original):
            if any(c.source != original.source for c in copies):
                attempted = True
        elif is_locked(original):
            probe = nbformat.NotebookNode(copy.deepcopy(dict(cell)))
            probe.cell_type = original.cell_type
            probe.metadata = original.metadata
            if compute_checksum(probe) != original.metadata.nbgrader.get("checksum"):
                notes.append(f"read-only cell {grade_id!r} was edited (the original is graded)")
    return notes, attempted


def inspect_submission(folder: Path, expected: list[str], release_dir: Path) -> Inspection:
    """Check the files of one submission; rename or remove what nbgrader could not handle."""
    found = Inspection()
    present = {p.stem: p for p in folder.glob("*.ipynb") if p.is_file() and not p.is_symlink()}
    strangers = sorted(name for name in present if name not in expected)
    missing = [name for name in expected if name not in present]
    if len(missing) == 1 and len(strangers) == 1:
        stranger = strangers.pop()
        target = folder / f"{missing[0]}.ipynb"
        present[stranger].rename(target)
        found.notes.append(f"notebook '{shown_name(stranger)}.ipynb' graded as '{missing[0]}.ipynb' (renamed?)")
        present[missing.pop()] = target
        del present[stranger]
    for name in missing:
        listing = ", ".join(sorted(shown_name(p.name) for p in folder.iterdir())) or "nothing"
        found.errors.append(f"no notebook '{name}.ipynb' in the submission (found: {listing})")
    if strangers:
        found.notes.append("ignored extra notebook(s): " + ", ".join(f"{shown_name(s)}.ipynb" for s in strangers))
    for name in expected:
        if name not in present:
            continue
        nb, problem = read_notebook(present[name])
        if problem:
            found.errors.append(problem)
            present[name].unlink()  # nbgrader then scores this notebook as missing (zero)
            continue
        release = nbformat.read(release_dir / f"{name}.ipynb", as_version=4)
        notes, attempted = compare_with_release(nb, release)
        found.notes += notes
        found.attempted |= attempted
        found.gradable.append(name)
    return found


# ----------------------------------------------------------------------------- grading
def autograde_config(job: Job):
    """nbgrader configuration of ``autograde``: the course's preprocessors, limits and sandbox."""
    import nbgrader
    from nbconvert.preprocessors import ClearMetadataPreprocessor, CSSHTMLHeaderPreprocessor
    from nbgrader.preprocessors import (
        AssignLatePenalties,
        CheckCellMetadata,
        ClearOutput,
        DeduplicateIds,
        IgnorePattern,
        LimitOutput,
        OverwriteCells,
        OverwriteKernelspec,
        SaveAutoGrades,
    )

    from course_utils.grading.preprocessors import (
        DropBenignStderr,
        ForgetUnknownCells,
        RedactHiddenTests,
        ResilientExecute,
        RestoreGraderCells,
    )
    from nbgrader.preprocessors import GetGrades

    limits = Limits(**job.limits)
    c = nbgrader_config(Path(job.course_root))
    # ForgetUnknownCells runs before DeduplicateIds (which fails on metadata that is not a
    # dict) and after it (which leaves empty metadata that OverwriteCells fails on).
    # RestoreGraderCells then removes every tag and puts the grader's cells back as released.
    c.Autograde.sanitize_preprocessors = [
        ClearOutput, ForgetUnknownCells, RestoreGraderCells, DeduplicateIds, ForgetUnknownCells,
        OverwriteKernelspec, OverwriteCells, CheckCellMetadata,
    ]
    c.RestoreGraderCells.release_dir = str(Path(job.course_root) / "release" / job.assignment)
    c.Autograde.autograde_preprocessors = [
        ResilientExecute, DropBenignStderr, IgnorePattern, ClearMetadataPreprocessor, LimitOutput,
        SaveAutoGrades, AssignLatePenalties, CheckCellMetadata,
    ]
    c.OverwriteCells.add_missing_cells = True
    c.Execute.timeout = limits.cell_timeout
    c.Execute.startup_timeout = 120
    c.Execute.iopub_timeout = 10
    # After the last cell nothing of the kernel's is read any more (the saved runs were
    # copied before it started, the scores are on this side): it is killed, not asked to
    # run its atexit hooks and tear TensorFlow down (a second of CPU for A3, a wait for all).
    c.Execute.shutdown_kernel = "immediate"
    c.ResilientExecute.max_output_chars = limits.max_output_chars
    c.ResilientExecute.trusted_tests = job.assignment in TRUSTED_TESTS
    c.ResilientExecute.trusted_assignment = job.assignment
    c.SandboxedKernelManager.sandbox = job.sandbox
    c.SandboxedKernelManager.runtime_dir = job.runtime_dir
    c.SandboxedKernelManager.assignment = job.assignment
    c.SandboxedKernelManager.kernel_uid = job.kernel_uid
    c.SandboxedKernelManager.memory_bytes = limits.memory_bytes
    # Feedback goes back to students: no script, no event handler, no javascript: link
    # (nbconvert's sanitiser, bleach, on outputs and, through our template, on markdown).
    c.HTMLExporter.sanitize_html = True
    # nbgrader's "feedback" template, rendered through ours (templates/feedback/), which extends it
    c.HTMLExporter.template_file = "course_feedback.html.j2"
    c.HTMLExporter.filters = {"clean_markdown_html": "course_utils.grading.feedback.clean_markdown_html"}
    c.HTMLExporter.extra_template_basedirs = [str(Path(nbgrader.__file__).parent / "server_extensions" / "formgrader"
                                                  / "templates"), str(Path(__file__).parent / "templates")]
    c.LimitOutput.max_lines = 200
    # Feedback shows the hidden tests' code and details only when asked for (--feedback full);
    # what is hidden is read from the instructor's source notebook, not the student's copy.
    c.GenerateFeedback.preprocessors = [GetGrades, CSSHTMLHeaderPreprocessor, RedactHiddenTests]
    c.RedactHiddenTests.mode = "full" if feedback_mode(job.feedback) == "full" else "hidden"
    c.RedactHiddenTests.source_dir = str(Path(job.course_root) / "source" / job.assignment)
    return c


def grade(job: Job) -> dict:
    """Grade the submission of ``job``; returns the result record (see :mod:`.gradebook`)."""
    from nbgrader.converters import Autograde, GenerateFeedback

    root = Path(job.course_root)
    started = time.monotonic()
    release_dir = root / "release" / job.assignment
    expected = sorted(p.stem for p in (root / "source" / job.assignment).glob("*.ipynb"))
    submitted = root / "submitted" / job.student / job.assignment
    found = inspect_submission(submitted, expected, release_dir)
    notes, errors = list(found.notes), list(found.errors)

    config = autograde_config(job)
    if found.gradable:  # the trusted side's copy of the submitted files, read while the kernel runs
        folder, left_out = prepare_trusted(job.assignment, submitted, root / "trusted" / job.assignment)
        config.ResilientExecute.trusted_folder = folder
        config.ResilientExecute.trusted_left_out = left_out
    timings = {"inspect": time.monotonic() - started}

    graded = False
    if found.gradable:
        try:
            run_converter(Autograde, config, job.assignment, job.student, force=True, create_student=True)
            graded = True
        except SetupError as exc:
            logging.error("%s", exc)
            errors.append("nbgrader could not grade the submission: " + _last_line(str(exc)))
    timings["autograde"] = time.monotonic() - started - sum(timings.values())
    autograded = root / "autograded" / job.student / job.assignment
    if graded:
        notes += execution_notes(autograded, found.gradable)
    feedback: list[str] = []
    if graded and feedback_mode(job.feedback) != "none":
        try:
            run_converter(GenerateFeedback, config, job.assignment, job.student, force=True)
            folder = root / "feedback" / job.student / job.assignment
            feedback = sorted(str(p.relative_to(root)) for p in folder.glob("*.html"))
        except SetupError as exc:
            logging.error("%s", exc)
            notes.append("no feedback: " + _last_line(str(exc)))
    timings["feedback"] = time.monotonic() - started - sum(timings.values())

    record = gradebook.read_submission(root, job.assignment, job.student, graded)
    if errors:
        status, message = "error", errors + notes + [gradebook.summary(record)]
    elif not found.attempted:
        status, message = "not_attempted", ["not attempted: no answer cell was changed"] + notes
    else:
        status, message = "ok", notes + [gradebook.summary(record)]
    timings["total"] = time.monotonic() - started
    record.update(
        status=status,
        message="; ".join(message),
        notes=notes,
        errors=errors,
        feedback=feedback,
        autograded=sorted(str(p.relative_to(root)) for p in autograded.glob("*.ipynb")) if graded else [],
        sandbox=job.sandbox,
        timings={k: round(v, 2) for k, v in timings.items()},
    )
    return record


def execution_notes(folder: Path, notebooks: list[str]) -> list[str]:
    """Cells that ran out of time or killed their kernel, from the autograded notebooks."""
    from course_utils.grading.preprocessors import KERNEL_DIED, KERNEL_STUCK

    notes = []
    for name in notebooks:
        path = folder / f"{name}.ipynb"
        if not path.exists():
            continue
        for index, cell in enumerate(nbformat.read(path, as_version=4).cells):
            enames = {o.get("ename") for o in cell.get("outputs", []) if o.get("output_type") == "error"}
            label = cell.metadata.get("nbgrader", {}).get("grade_id") or f"#{index + 1}"
            if KERNEL_DIED in enames:
                notes.append(f"cell {label} killed the kernel (the rest ran in a fresh one)")
            elif KERNEL_STUCK in enames:
                notes.append(f"cell {label} ran out of time and ignored the interrupt (the rest ran in a fresh kernel)")
            elif "CellTimeoutError" in enames:
                notes.append(f"cell {label} ran out of time and was interrupted")
    return notes


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else "unknown error"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m course_utils.grading.worker JOB.json", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="[%(levelname)s] %(name)s: %(message)s")
    job = Job.load(args[0])
    record = grade(job)
    tmp = Path(job.result_path + ".tmp")
    tmp.write_text(json.dumps(record, indent=1))
    tmp.replace(job.result_path)
    return 0


if __name__ == "__main__":
    # As a fork of the server (launch.py), the worker ends with os._exit; so does a new
    # interpreter, once its result is written: A3's evaluation thread (a3.prefetch_base) may
    # still be inside TensorFlow when a check failed before it needed its value.
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
