"""Sub-commands ``course release``, ``course grade`` and ``course validate``.

Exit codes: 0 when the command did its job (a class with broken submissions
still exits 0: they are rows with status ``error`` in ``grades.csv``), 1 when
``release --check`` finds a stale release or validation finds problems, 2 for
an unusable command line or a broken course.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
from pathlib import Path

from course_utils.config import DATASETS

#: Seconds per cell, the same for ``grade`` and ``validate`` (:class:`isolation.Limits`).
CELL_TIMEOUT = 30


def _say(message: str) -> None:
    print(message, file=sys.stderr)


def _cmd_release(args) -> int:
    from course_utils.grading.course import SetupError, get_assignment, list_assignments, release

    try:
        names = args.assignments or list_assignments()
        assignments = [get_assignment(name) for name in names]
        ok = all([release(a, check=args.check, log=print) for a in assignments])
    except SetupError as exc:
        _say(f"error: {exc}")
        return 2
    if not ok:
        _say("The committed releases differ from solutions/: run `course release` and commit assignments/.")
        return 1
    return 0


def _grader_settings(args) -> None:
    """``--dataset`` and ``--quick`` as the grading settings (:data:`.isolation.PASSED_ENV`): they
    reach the grader's checks, the kernels and the fingerprint of every result."""
    if args.dataset:
        os.environ["COURSE_DATASET"] = args.dataset
    if args.quick is not None:
        os.environ["COURSE_QUICK"] = "1" if args.quick else "0"
    from course_utils import config

    config.dataset()  # an unusable COURSE_DATASET fails here, before anything is graded


def _cmd_grade(args) -> int:
    try:
        _grader_settings(args)
    except ValueError as exc:
        _say(f"error: {exc}")
        return 2
    if not args.cluster:  # the workers' fork server imports nbgrader while this process does
        from course_utils.grading.launch import LAUNCHER
        from course_utils.grading.trusted import PRELOAD

        LAUNCHER.prestart(preload=PRELOAD.get(args.assignment, ()))
    from course_utils.grading import lms
    from course_utils.grading.batch import GradersLost, UsageError, grade_batch
    from course_utils.grading.course import SetupError, get_assignment
    from course_utils.grading.gradebook import format_table
    from course_utils.grading.isolation import Limits, SandboxUnavailable

    # the modules just imported live until the command ends: frozen, no garbage collection walks
    # them again, during the batch or at exit (a fifth of a second of every run)
    gc.freeze()
    try:
        # the roster and the export are checked before anything is graded
        export = lms.Export.from_options(args.export, args.roster, args.columns)
        assignment = get_assignment(args.assignment)
        submissions = Path(args.submissions) if args.submissions else assignment.examples_dir
        out = Path(args.out) if args.out else Path("grades") / assignment.name
        limits = Limits(cell_timeout=args.timeout, memory_bytes=int(args.memory * 1024 ** 3),
                        budget_seconds=args.budget)
        report = grade_batch(assignment, submissions, out, jobs=args.jobs, limits=limits,
                             sandbox=args.sandbox, force=args.force, feedback=args.feedback,
                             progress=not args.quiet, cluster=args.cluster, log=_say)
    except (UsageError, SetupError, SandboxUnavailable, ValueError) as exc:
        _say(f"error: {exc}")
        return 2
    except GradersLost as exc:
        _say(f"error: {exc}")
        return 2
    except KeyboardInterrupt:
        _say("interrupted: the submissions graded so far are in grades.csv and results/; "
             "run the same command again to grade the rest")
        return 130
    for note in report.notes:
        _say(f"note: {note}")
    print(format_table(report.records))
    print(f"gradebook: {report.csv_path}   feedback: {report.csv_path.parent / 'feedback'}")
    if export is not None:
        for path in export.write(out, {assignment.name: report.records}):
            print(f"{export.kind} export: {path}")
        for line in export.unmatched_report():
            _say(f"note: {line}")
    return 0


def _cmd_validate(args) -> int:
    from course_utils.grading.validate import report, validate

    result = validate(Path(args.notebook), timeout=args.timeout)
    print(report(result))
    return 0 if result.ok else 1


def register(subparsers) -> None:
    """Add ``release``, ``grade`` and ``validate`` to the ``course`` command."""
    p = subparsers.add_parser(
        "release", help="generate the student releases in assignments/ from solutions/",
        description="Generate assignments/<name>/ from the nbgrader sources in solutions/<name>/ "
                    "(solutions and hidden tests removed). With --check, change nothing and fail "
                    "when the committed releases differ from what generation produces.")
    p.add_argument("assignments", nargs="*", metavar="ASSIGNMENT", help="default: every assignment")
    p.add_argument("--check", action="store_true", help="only compare; exit 1 when a release is stale")
    p.set_defaults(func=_cmd_release)

    p = subparsers.add_parser(
        "grade", help="autograde a class of submissions with nbgrader",
        description="Autograde every student folder in SUBMISSIONS (or a zip of it) with nbgrader, "
                    "in parallel and isolated; write OUT/grades.csv and per-student HTML feedback. "
                    "Re-running grades only new or changed submissions.")
    p.add_argument("assignment", metavar="ASSIGNMENT", help="e.g. a1_arithmetic")
    p.add_argument("submissions", nargs="?", metavar="SUBMISSIONS",
                   help="folder with one sub-folder per student, or a zip of it "
                        "(default: the example submissions in solutions/examples/ASSIGNMENT)")
    p.add_argument("--jobs", "-j", type=int, default=1, help="submissions graded at once (default 1)")
    p.add_argument("--out", metavar="DIR", help="output folder (default grades/ASSIGNMENT)")
    p.add_argument("--timeout", type=int, default=CELL_TIMEOUT, metavar="S",
                   help=f"seconds per notebook cell (default {CELL_TIMEOUT})")
    p.add_argument("--memory", type=float, default=4.0, metavar="GB",
                   help="address-space limit of each grading process (default 4)")
    p.add_argument("--budget", type=int, default=0, metavar="S",
                   help="seconds a whole submission may take (default: 10 times the reference solution's "
                        "grading time, at least 60 s)")
    p.add_argument("--sandbox", choices=("auto", "bwrap", "unshare", "none"), default=None,
                   help="isolation of student code (default: COURSE_SANDBOX or auto; 'none' only when "
                        "you accept that student code runs unconfined: see docs/grading.md)")
    p.add_argument("--force", action="store_true", help="re-grade every submission, changed or not")
    p.add_argument("--feedback", choices=("none", "hidden", "full"), default="hidden",
                   help="what the students' HTML feedback shows: 'hidden' (default): every test's name, "
                        "points, pass or fail and message, but of the hidden tests only the check's name "
                        "and hint, never their code or expected values; 'full': everything, hidden tests "
                        "included (after the deadline); 'none': no feedback. Changing it re-grades")
    p.add_argument("--no-feedback", action="store_const", const="none", dest="feedback",
                   help="skip the HTML feedback (the same as --feedback none)")
    p.add_argument("--dataset", choices=DATASETS,
                   help="the dataset A3's runs are judged on (default: COURSE_DATASET, else CIFAR-10 where "
                        "it can be had, else Fashion-MNIST); never read from the notebook")
    p.add_argument("--quick", action=argparse.BooleanOptionalAction, default=None,
                   help="grade in quick mode (--quick) or in full mode (--no-quick: A3's accuracy floors "
                        "apply); default: COURSE_QUICK; never read from the notebook")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    p.add_argument("--cluster", metavar="ADDRESS",
                   help="grade on a Dask cluster: its scheduler's address (tcp://HOST:8786), or local:N to "
                        "start N worker processes here (see docs/grading-cluster.md); --jobs is then ignored")
    p.add_argument("--export", choices=("canvas", "moodle", "csv"),
                   help="also write the gradebook for an LMS import (OUT/canvas.csv, OUT/moodle.csv or "
                        "OUT/export.csv) and a per-test CSV (OUT/tests.csv); needs --roster")
    p.add_argument("--roster", metavar="CSV",
                   help="the class list: a column 'folder' (the submission folder name) and the LMS's ids "
                        "(see docs/grading.md); students missing on either side are reported")
    p.add_argument("--columns", metavar="MAP",
                   help="with --export csv: the columns to write, HEADER=FIELD,... (FIELD: a roster column, "
                        "or score, max_score, status, message); default: the roster's columns and score")
    p.set_defaults(func=_cmd_grade)

    p = subparsers.add_parser(
        "validate", help="check an assignment notebook before submitting it",
        description="Run the notebook like the autograder does and list the visible tests that pass "
                    "and fail, with hints.")
    p.add_argument("notebook", metavar="NOTEBOOK")
    p.add_argument("--timeout", type=int, default=CELL_TIMEOUT, metavar="S",
                   help=f"seconds per cell (default {CELL_TIMEOUT}, as when grading)")
    p.set_defaults(func=_cmd_validate)


def main(argv: list[str] | None = None) -> int:  # for `python -m course_utils.grading.cli`
    parser = argparse.ArgumentParser(prog="course")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
