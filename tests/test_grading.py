"""The `course` commands of issue 7 end to end: release, grade (examples, re-runs, zip),
validate; plus the small pieces they are built from."""

from __future__ import annotations

import contextlib
import csv
import io
import os
import shutil
import zipfile
from dataclasses import asdict

import nbformat
import pytest

from course_utils.cli import main as course
from course_utils.grading import course as course_dir
from course_utils.grading import isolation, samples
from course_utils.grading.batch import grade_batch
from course_utils.grading.course import get_assignment, list_assignments
from course_utils.grading.isolation import Limits, detect_sandbox, kernel_environment
from course_utils.grading.preprocessors import strip_benign_stderr
from course_utils.grading.submissions import collect_students, extract_zip, submissions_root

A1 = get_assignment("a1_arithmetic")
FAST = ["--timeout", "10", "--quiet", "--no-feedback", "--budget", "600"]
#: Tests that are not about the submission budget give one no loaded machine reaches.
SLOW_OK = Limits(cell_timeout=10, budget_seconds=600)


# ----------------------------------------------------------------------------- release
def test_committed_releases_are_what_generation_produces(capsys):
    assert course(["release", "--check"]) == 0, capsys.readouterr().out


def test_release_check_catches_a_hand_edit_and_release_repairs_it(tmp_path, monkeypatch, capsys):
    shutil.copytree(A1.release_dir, tmp_path / A1.name)
    monkeypatch.setattr(course_dir, "RELEASES_DIR", tmp_path)
    path = tmp_path / A1.name / "a1_arithmetic.ipynb"
    path.write_text(path.read_text().replace("Assignment 1", "Assignment One"))
    (tmp_path / A1.name / "notes.txt").write_text("by hand")
    assert course(["release", "--check", A1.name]) == 1
    out = capsys.readouterr()
    assert "differs from what generation produces: a1_arithmetic.ipynb" in out.out
    assert "not generated from solutions/ (remove it): notes.txt" in out.out
    assert course(["release", A1.name]) == 0
    assert course(["release", "--check", A1.name]) == 0
    assert sorted(p.name for p in (tmp_path / A1.name).iterdir()) == ["a1_arithmetic.ipynb"]


def test_sources_are_stored_without_outputs():
    for name in list_assignments():
        for path in get_assignment(name).source_dir.glob("*.ipynb"):
            nb = nbformat.read(path, as_version=4)
            assert all(not c.get("outputs") and c.get("execution_count") is None
                       for c in nb.cells if c.cell_type == "code"), path


def test_shipped_examples_are_what_the_sample_builder_makes():
    for name in samples.SHIPPED:
        assignment = get_assignment(name)
        for student, nb in samples.example_class(assignment).items():
            shipped = assignment.examples_dir / student / f"{assignment.notebooks[0]}.ipynb"
            assert shipped.read_text() == nbformat.writes(nb) + "\n", f"{shipped}: run python -m course_utils.grading.samples"


# ----------------------------------------------------------------------------- grade
@pytest.fixture(scope="module")
def examples(tmp_path_factory):
    """The shipped example class of A1, graded through the command line."""
    root = tmp_path_factory.mktemp("examples")
    shutil.copytree(A1.examples_dir, root / "class")
    out = root / "out"
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        code = course(["grade", A1.name, str(root / "class"), "--jobs", "2", "--out", str(out), "--timeout", "10", "-q"])
    with open(out / "grades.csv", newline="") as handle:
        rows = {r["student_id"]: r for r in csv.DictReader(handle)}
    return code, rows, root, printed.getvalue()


def test_make_grade_flow_prints_a_gradebook(examples):
    code, rows, _, printed = examples
    assert code == 0
    assert "6 submission(s): 5 ok, 1 not_attempted" in printed
    assert printed.splitlines()[0].split() == ["student", "score", "status", "message"]
    assert list(rows) == ["ada", "ben", "chloe", "dev", "eve", "finn"]
    assert list(rows["ada"]) == ["student_id", "score", "max_score", "status", "message"]
    full = rows["ada"]["max_score"]
    assert (rows["ada"]["score"], rows["ada"]["status"]) == (full, "ok")
    assert (rows["dev"]["score"], rows["dev"]["status"]) == ("0", "not_attempted")
    assert float(rows["ben"]["score"]) < float(full) and "failed:" in rows["ben"]["message"]
    assert "was edited (the original is graded)" in rows["eve"]["message"]
    assert "ran out of time and was interrupted" in rows["finn"]["message"]


def test_feedback_is_written_per_student_with_the_hints(examples):
    _, _, root, _ = examples
    html = (root / "out" / "feedback" / "ben" / "a1_arithmetic.html").read_text()
    assert "Hint:" in html
    assert {p.name for p in (root / "out" / "feedback").iterdir()} == {"ada", "ben", "chloe", "dev", "eve", "finn"}


def test_a_rerun_grades_only_new_and_changed_submissions(examples):
    _, rows, root, _ = examples
    shutil.copytree(root / "class" / "ada", root / "class" / "gus")
    nbformat.write(samples.answered(A1), root / "class" / "ben" / "a1_arithmetic.ipynb")
    # the limits of the command line above (`--timeout 10`): a result is reused only under them
    report = grade_batch(A1, root / "class", root / "out", jobs=2, limits=Limits(cell_timeout=10),
                         progress=False, log=lambda m: None)
    assert report.graded == ["ben", "gus"]
    assert report.reused == ["ada", "chloe", "dev", "eve", "finn"]
    by_id = {r["student_id"]: r for r in report.records}
    assert by_id["ben"]["score"] == by_id["ben"]["max_score"] == by_id["gus"]["score"]
    assert by_id["chloe"]["score"] == float(rows["chloe"]["score"])


def test_a_class_zip_is_graded_and_cannot_write_outside(tmp_path):
    archive = tmp_path / "class.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("export/ada/a1_arithmetic/a1_arithmetic.ipynb", nbformat.writes(samples.answered(A1)))
        zf.writestr("export/dev/a1_arithmetic.ipynb", nbformat.writes(samples.release_notebook(A1)))
        zf.writestr("export/__MACOSX/._ada", b"")
        zf.writestr("../escaped.txt", b"outside")
        link = zipfile.ZipInfo("export/dev/link")
        link.external_attr = 0o120777 << 16
        zf.writestr(link, "/etc/passwd")
    report = grade_batch(A1, archive, tmp_path / "out", jobs=2, limits=SLOW_OK, feedback=False,
                         progress=False, log=lambda m: None)
    assert [(r["student_id"], r["status"]) for r in report.records] == [("ada", "ok"), ("dev", "not_attempted")]
    assert report.records[0]["score"] == report.records[0]["max_score"]
    assert not (tmp_path / "escaped.txt").exists()


def test_unusable_command_lines_exit_2(tmp_path, capsys):
    assert course(["grade", "a9_nothing", str(tmp_path)] + FAST) == 2
    assert "no assignment 'a9_nothing'" in capsys.readouterr().err
    assert course(["grade", A1.name, str(tmp_path / "missing")] + FAST) == 2
    (tmp_path / "empty").mkdir()
    assert course(["grade", A1.name, str(tmp_path / "empty"), "--out", str(tmp_path / "out")] + FAST) == 2
    (tmp_path / "bad.zip").write_bytes(b"not a zip")
    assert course(["grade", A1.name, str(tmp_path / "bad.zip"), "--out", str(tmp_path / "out")] + FAST) == 2


# ----------------------------------------------------------------------------- validate
def test_validate_an_honest_notebook(tmp_path, capsys):
    path = samples.write(samples.answered(A1), tmp_path, "a1_arithmetic.ipynb")
    assert course(["validate", str(path), "--timeout", "30"]) == 0
    out = capsys.readouterr().out
    assert "(assignment a1_arithmetic)" in out and "All 8 visible tests pass" in out
    assert "4 hidden test cells (8 pt) run when your work is graded" in out


def test_validate_explains_failures_and_warns_about_edited_tests(tmp_path, capsys):
    nb = samples.answered(A1, wrong=["sizes_c"], blank=["rf_step"])
    samples.edit_cell(nb, "test_param_counts_p", lambda src: "pass")
    path = samples.write(nb, tmp_path, "a1_arithmetic.ipynb")
    assert course(["validate", str(path), "--timeout", "30"]) == 1
    out = capsys.readouterr().out
    assert "FAIL  test_sizes_c (2 pt)" in out and "Hint: with stride s" in out
    assert "FAIL  test_rf_step (2 pt)" in out and "is not implemented yet" in out
    assert "'test_param_counts_p' was edited (your change will be thrown away at grading)" in out


def test_validate_reports_a_broken_file(tmp_path, capsys):
    path = tmp_path / "a1_arithmetic.ipynb"
    path.write_text('{"cells": [')
    assert course(["validate", str(path)]) == 1
    assert "ERROR: a1_arithmetic.ipynb is not a valid notebook: invalid JSON" in capsys.readouterr().out


# ----------------------------------------------------------------------------- pieces
TF_LINES = (
    "2026-01-01 10:00:00.123456: I tensorflow/core/util/port.cc:153] oneDNN custom operations are on. "
    "You may see slightly different numerical results due to floating-point round-off errors.\n"
    "W0000 00:00:1700000000.123456    1234 cuda_executor.cc:1228] INTERNAL: CUDA Runtime error\n"
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
    "To enable the following instructions: AVX2 FMA, in other operations, rebuild TensorFlow with the "
    "appropriate compiler flags.\n"
    "/venv/lib/python3.11/site-packages/keras/src/layers/convolutional/base_conv.py:107: UserWarning: Do not "
    "pass an `input_shape`/`input_dim` argument to a layer.\n"
    "  super().__init__(activity_regularizer=activity_regularizer, **kwargs)\n"
)


def test_benign_stderr_is_exactly_tensorflows_own_lines():
    assert strip_benign_stderr(TF_LINES) == ("", 6)
    mine = "my debug line\nTraceback: tensorflow/core is broken\n"
    assert strip_benign_stderr(TF_LINES + mine) == (mine, 6)
    # a warning from the student's own code stays, and so does the line under it
    own = "/home/student/a1/helper.py:3: UserWarning: careful\n  warnings.warn('careful')\n"
    assert strip_benign_stderr(own) == (own, 0)
    assert strip_benign_stderr("F0000 00:00:1700000000.123456 1 x.cc:1] fatal\n")[1] == 0


def test_kernel_environment_is_clean(monkeypatch):
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    env = kernel_environment("/home/student")
    assert not any(k.startswith("NBGRADER") for k in env) and "AWS_SECRET_ACCESS_KEY" not in env
    assert env["HOME"] == "/home/student" and env["TF_CPP_MIN_LOG_LEVEL"] == "3" and env["OMP_NUM_THREADS"] == "1"


def test_the_bubblewrap_kernel_loads_the_graders_mirror_and_sees_nothing_else_there(tmp_path, monkeypatch):
    """COURSE_DATA_MIRROR reaches the kernel, and so do the dataset files of its folder (read-only),
    but not the folder's other files."""
    import subprocess
    import sys

    if detect_sandbox("auto", install=False, log=lambda m: None) != "bwrap":
        pytest.skip("bubblewrap does not work here")
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / "mnist.npz").write_bytes(b"not really mnist")
    (mirror / "secret.txt").write_text("the instructor's")
    monkeypatch.setenv("COURSE_DATA_MIRROR", str(mirror))
    empty = tmp_path / "submission"
    empty.mkdir()
    os.chmod(empty, 0o755)
    probe = ("import os, sys; from course_utils import data; m = os.environ['COURSE_DATA_MIRROR']; "
             "print(data.find_mirror('mnist'), sorted(os.listdir(m)), open(m + '/mnist.npz').read()); "
             "open(m + '/mnist.npz', 'w')")
    with isolation.UIDS.one() as uid:
        cmd = isolation.bwrap_prefix(str(empty), str(empty), "probe", Limits(), uid=uid if os.geteuid() == 0 else None)
        proc = subprocess.run(cmd + [sys.executable, "-c", probe], env=kernel_environment(isolation.SANDBOX_HOME),
                              capture_output=True, text=True, timeout=120, cwd="/")
    assert proc.stdout.splitlines() == [f"{mirror} ['mnist.npz'] not really mnist"], proc.stdout + proc.stderr
    assert "Read-only file system" in proc.stderr or "Permission denied" in proc.stderr, proc.stderr
    assert (mirror / "mnist.npz").read_bytes() == b"not really mnist"


def test_auto_prefers_bubblewrap_and_installs_it_when_missing(monkeypatch):
    """The choice itself, with the probes replaced: bubblewrap first (silently), installed by
    ``auto`` when missing and only then; an unknown kind names the choices."""
    installs, said = [], []
    monkeypatch.setattr(isolation, "_unshare_works", lambda: True)
    monkeypatch.setattr(isolation, "_bwrap_works", lambda: bool(installs))
    monkeypatch.setattr(isolation.shutil, "which", lambda name: None)
    monkeypatch.setattr(isolation, "_install_bubblewrap", lambda log: installs.append(1) or True)
    assert detect_sandbox("auto", install=False, log=said.append) == "unshare" and not installs
    assert detect_sandbox("auto", install=True, log=said.append) == "bwrap" and installs == [1]
    assert len(said) == 1  # the unshare warning only, nothing said for bubblewrap
    assert detect_sandbox("unshare", install=True, log=said.append) == "unshare" and installs == [1]
    with pytest.raises(ValueError, match="sandbox 'docker' is not one of auto, bwrap, unshare, none"):
        detect_sandbox("docker")


def test_student_folders_are_found_through_wrappers_and_checked(tmp_path):
    root = tmp_path / "download" / "submitted"
    (root / "ada" / "a1_arithmetic").mkdir(parents=True)
    (root / "ada" / "a1_arithmetic" / "a1_arithmetic.ipynb").write_text("{}")
    (root / "bad name!").mkdir()
    (root / "notes.txt").write_text("")
    (root / "ada" / "a1_arithmetic" / "link.ipynb").symlink_to("/etc/passwd")
    assert submissions_root(tmp_path, "a1_arithmetic") == root
    students, notes = collect_students(root, "a1_arithmetic")
    assert [s.student_id for s in students] == ["ada", "bad name!"]
    assert students[0].folder.name == "a1_arithmetic" and students[0].files == ["a1_arithmetic.ipynb"]
    assert students[0].left_out == ["link.ipynb (a link)"]
    assert "not a usable student id" in students[1].problem
    assert notes == ["ignored notes.txt: not a student folder"]


def test_a_single_student_in_nbgraders_layout_keeps_their_id(tmp_path):
    """Re-grading one late submission: ``late/ada/a1_arithmetic/a1_arithmetic.ipynb``."""
    samples.write(samples.answered(A1), tmp_path / "late" / "ada" / "a1_arithmetic", "a1_arithmetic.ipynb")
    wrapped = tmp_path / "export"
    samples.write(samples.answered(A1), wrapped / "course" / "ada", "a1_arithmetic.ipynb")
    assert submissions_root(tmp_path / "late", "a1_arithmetic") == tmp_path / "late"
    assert submissions_root(wrapped, "a1_arithmetic") == wrapped / "course"
    students, _ = collect_students(tmp_path / "late", "a1_arithmetic")
    assert [(s.student_id, s.folder.name) for s in students] == [("ada", "a1_arithmetic")]


def test_zip_extraction_skips_escapes(tmp_path):
    archive = tmp_path / "a.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("/abs.txt", b"x")
        zf.writestr("ok/../../up.txt", b"x")
        zf.writestr("ok/file.txt", b"x")
    extract_zip(archive, tmp_path / "x")
    assert sorted(str(p.relative_to(tmp_path / "x")) for p in (tmp_path / "x").rglob("*")) == ["ok", os.path.join("ok", "file.txt")]


def test_submission_deadline_grows_with_the_notebook():
    assert Limits(cell_timeout=10).submission_timeout(40) == 520
    assert Limits().submission_timeout(0) == Limits().submission_timeout(1)


def test_a2_is_graded_against_the_reference_layers(tmp_path):
    a2 = get_assignment("a2_numpy_layers")
    samples.write_class(a2, tmp_path / "class", {
        "right": samples.answered(a2),
        "mistakes": samples.answered(a2, wrong=["conv_backward", "batchnorm"]),
        "cheater": samples.edit_cell(samples.answered(a2), "conv_forward", lambda src: (
            "from course_utils.ops import conv2d_forward\n\n"
            "def conv_forward(x, w, b, stride=1, pad=0):\n"
            "    return conv2d_forward(x, w, b, stride=stride, padding=pad)")),
    })
    report = grade_batch(a2, tmp_path / "class", tmp_path / "out", jobs=2, limits=Limits(cell_timeout=60, budget_seconds=900),
                         feedback=False, progress=False, log=lambda m: None)
    by_id = {r["student_id"]: r for r in report.records}
    assert by_id["right"]["score"] == by_id["right"]["max_score"] == 21
    failed = {t["grade_id"]: t["failure"] for t in by_id["mistakes"]["tests"] if t["score"] < t["points"]}
    assert set(failed) == {"test_conv_backward", "test_conv_backward_hidden", "test_batchnorm", "test_batchnorm_hidden"}
    assert "[conv_backward dx for x(2, 5, 5, 3)" in failed["test_conv_backward"]
    cheat = {t["grade_id"]: t.get("failure", "") for t in by_id["cheater"]["tests"] if t["score"] < t["points"]}
    # the reference layers are absent from the sandbox: the answer cell's import fails, and the test says why
    assert "A2 asks you to write conv_forward" in cheat["test_conv_forward"]
    assert "course_utils.ops is not available" in cheat["test_conv_forward"]


def _zip_with(tmp_path, members: dict[str, bytes]) -> "Path":
    archive = tmp_path / "class.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_STORED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return archive


def test_a_damaged_zip_member_is_skipped_with_a_note_and_the_rest_unpacked(tmp_path):
    archive = _zip_with(tmp_path, {"ada/a.txt": b"PAYLOAD-ADA", "ben/b.txt": b"PAYLOAD-BEN"})
    raw = archive.read_bytes()
    archive.write_bytes(raw.replace(b"PAYLOAD-ADA", b"PAYLOAD-XXX", 1))  # the data no longer fits its CRC
    notes = extract_zip(archive, tmp_path / "x")
    assert (tmp_path / "x" / "ben" / "b.txt").read_bytes() == b"PAYLOAD-BEN"
    assert not (tmp_path / "x" / "ada" / "a.txt").exists(), "a damaged member left half unpacked"
    assert list(notes) == ["ada"] and "CRC" in notes["ada"][0] and "a.txt" in notes["ada"][0]


def test_a_zip_member_with_an_unknown_compression_is_skipped_with_a_note(tmp_path):
    archive = _zip_with(tmp_path, {"ada/a.txt": b"x" * 10, "ben/b.txt": b"y" * 10})
    raw = bytearray(archive.read_bytes())
    for signature, offset in ((b"PK\x03\x04", 8), (b"PK\x01\x02", 10)):  # local and central headers
        at = raw.index(signature)
        raw[at + offset:at + offset + 2] = (99).to_bytes(2, "little")
    archive.write_bytes(bytes(raw))
    notes = extract_zip(archive, tmp_path / "x")
    assert list(notes) == ["ada"] and "not unpacked" in notes["ada"][0] and "compression" in notes["ada"][0]
    assert (tmp_path / "x" / "ben" / "b.txt").read_bytes() == b"y" * 10


def test_a_zip_past_the_size_cap_unpacks_only_what_fits(tmp_path, monkeypatch):
    from course_utils.grading import submissions

    monkeypatch.setattr(submissions, "MAX_ZIP_BYTES", 25)
    archive = _zip_with(tmp_path, {"ada/a.txt": b"a" * 20, "ben/b.txt": b"b" * 20, "cy/c.txt": b"c"})
    notes = extract_zip(archive, tmp_path / "x")
    assert (tmp_path / "x" / "ada" / "a.txt").read_bytes() == b"a" * 20
    assert not (tmp_path / "x" / "ben").exists()
    assert list(notes) == ["ben", "cy"] and all("unpacks to more than" in n[0] for n in notes.values())


def test_an_unreadable_file_is_left_out_with_a_note_and_the_rest_taken(tmp_path, monkeypatch):
    from course_utils.grading import submissions

    folder = tmp_path / "class" / "ada"
    folder.mkdir(parents=True)
    (folder / "a1_arithmetic.ipynb").write_text("{}")
    (folder / "notes.txt").write_text("mine")
    real = submissions.read_regular_file
    monkeypatch.setattr(submissions, "read_regular_file", lambda path, cap: (
        (b"", "could not be read: Permission denied") if str(path).endswith("notes.txt") else real(path, cap)))
    (student,), _ = collect_students(tmp_path / "class", A1.name)
    assert student.problem is None and student.files == ["a1_arithmetic.ipynb"]
    assert student.left_out == ["notes.txt (could not be read: Permission denied)"]


def test_a_corrupt_deflated_zip_member_is_skipped_with_a_note_and_the_rest_unpacked(tmp_path):
    """A broken deflate stream raises zlib.error, which is no OSError or BadZipFile."""
    archive = tmp_path / "class.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("ada/a.txt", b"hello world " * 200)
        zf.writestr("ben/b.txt", b"PAYLOAD-BEN")
    raw = bytearray(archive.read_bytes())
    at = raw.index(b"PK\x03\x04")  # ada's local header; its data follows the name and extra field
    start = at + 30 + int.from_bytes(raw[at + 26:at + 28], "little") + int.from_bytes(raw[at + 28:at + 30], "little")
    raw[start:start + 8] = b"\xff" * 8
    archive.write_bytes(bytes(raw))
    notes = extract_zip(archive, tmp_path / "x")
    assert (tmp_path / "x" / "ben" / "b.txt").read_bytes() == b"PAYLOAD-BEN"
    assert not (tmp_path / "x" / "ada" / "a.txt").exists()
    assert list(notes) == ["ada"] and "not unpacked: error: Error -3" in notes["ada"][0], notes


def test_a_student_folder_that_fails_to_read_is_that_students_problem_only(tmp_path, monkeypatch):
    from course_utils.grading import submissions

    for student in ("ada", "ben", "cy"):
        (tmp_path / "class" / student).mkdir(parents=True)
        (tmp_path / "class" / student / "a1_arithmetic.ipynb").write_text("{}")
    real = submissions._student_folder

    def failing(folder, assignment):
        if folder.name == "ben":
            raise PermissionError(13, "Permission denied")
        if folder.name == "cy":
            raise UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte")
        return real(folder, assignment)

    monkeypatch.setattr(submissions, "_student_folder", failing)
    students, notes = collect_students(tmp_path / "class", A1.name)
    assert [(s.student_id, s.problem) for s in students] == [
        ("ada", None),
        ("ben", "could not read the submission: Permission denied"),
        ("cy", "could not read the submission: UnicodeDecodeError: 'utf-8' codec can't decode byte 0xff "
               "in position 0: invalid start byte")]
    assert students[0].files == ["a1_arithmetic.ipynb"] and notes == []


def test_a_read_error_half_way_is_a_problem_not_an_exception():
    # /proc/self/mem opens as a regular file and fails with EIO when read at offset 0
    assert isolation.read_regular_file("/proc/self/mem", 100) == (b"", "unreadable: Input/output error")


def test_a_submission_that_fails_to_be_packed_is_an_error_row_and_the_others_are_graded(tmp_path, monkeypatch):
    """The batch's sending loop, with a pool that grades at once: one student's files failing
    to be read when sent (pack) makes that student's row an error, and the batch goes on."""
    from concurrent.futures import Future

    from course_utils.grading import batch
    from course_utils.grading.parcel import TRANSIENT, Grading

    class GradesAtOnce:
        capacity, stopping = 1, False

        def submit(self, parcel, grading):
            future = Future()
            future.set_result({"record": {"student_id": parcel.student_id, "status": "ok", "score": 1.0,
                                          "max_score": 1.0, "message": "", "tests": []}})
            return future

        def wait(self, pending, timeout):
            return set(pending), set()

        def outcome(self, future):
            return future.result()

        def stop(self, pending):
            raise AssertionError("nothing interrupted the batch")

    real = batch.pack
    monkeypatch.setattr(batch, "pack", lambda student: (_ for _ in ()).throw(OSError(5, "Input/output error"))
                        if student.student_id == "ben" else real(student))
    students = [batch.Student(name, tmp_path / name) for name in ("ada", "ben", "cy")]
    for student in students:
        student.folder.mkdir()
    out = tmp_path / "out"
    batch._make_out(out)
    records: dict = {}
    grading = Grading(A1.name, 1.0, {}, "none", 60, "none")
    batch._grade_all(students, GradesAtOnce(), grading, out, records, progress=False)
    assert {s: (r["status"], r["score"]) for s, r in records.items()} == {
        "ada": ("ok", 1.0), "ben": ("error", 0.0), "cy": ("ok", 1.0)}
    assert records["ben"]["message"] == "could not grade: OSError: [Errno 5] Input/output error"
    assert records["ben"][TRANSIENT] and not (out / "results" / "ben.json").exists()  # graded again next time


def test_submissions_graded_beside_the_reference_keep_only_results_the_real_budget_gives(tmp_path):
    """The batch's sending loop while the reference solution is graded beside the class: the
    first submissions go out under the ceiling; once the reference is back (6 s: a budget of
    max(60, 10 * 6 + 1) = 61 s), later ones go out under 61 s, the pool's cap comes down to it,
    a result that took 1 s is kept and one that took 70 s (past 61 s: the real budget would
    have stopped it) is graded again under the real budget."""
    from concurrent.futures import Future

    from course_utils.grading import batch
    from course_utils.grading.parcel import Cap, Grading

    reference_done: Future = Future()
    took = {"ada": [1.0], "ben": [70.0, 2.0], "cy": [3.0]}

    class ReferenceBeside:
        capacity, stopping = 1, False

        def __init__(self):
            self.cap, self.sent = Cap(10 ** 6), []

        def submit(self, parcel, grading):
            self.sent.append((parcel.student_id, grading.deadline))
            future = Future()
            future.set_result({"record": {"student_id": parcel.student_id, "status": "ok", "score": 1.0,
                                          "max_score": 1.0, "message": "", "tests": [],
                                          "seconds": took[parcel.student_id].pop(0)}})
            return future

        def wait(self, pending, timeout):
            if not reference_done.done():  # the reference comes back with the first two submissions
                reference_done.set_result({"record": {"student_id": batch.REFERENCE_ID, "status": "ok",
                                                      "score": 1.0, "max_score": 1.0, "message": "",
                                                      "tests": [], "seconds": 6.0}})
            return set(pending), set()

        def outcome(self, future):
            return future.result()

        def stop(self, pending):
            raise AssertionError("nothing interrupted the batch")

    students = [batch.Student(name, tmp_path / name) for name in ("ada", "ben", "cy")]
    for student in students:
        student.folder.mkdir()
    out = tmp_path / "out"
    batch._make_out(out)
    limits = Limits(cell_timeout=10)
    ceiling = limits.submission_timeout(5)
    reference = batch._Reference(A1, tmp_path, out, 1.0, limits, "none", "grader", 5, log=lambda m: None)
    reference.student, reference.future = batch.Student(batch.REFERENCE_ID, tmp_path), reference_done
    pool, records = ReferenceBeside(), {}
    grading = batch._grade_all(students, pool, Grading(A1.name, 1.0, asdict(limits), "none", ceiling, "none"),
                               out, records, False, reference, 5)
    assert grading.deadline == pool.cap.seconds == 61 == isolation.budget(limits, 5, 6.0)
    assert sorted(pool.sent) == [("ada", ceiling), ("ben", 61), ("ben", ceiling), ("cy", 61)]
    assert {s: r["seconds"] for s, r in records.items()} == {"ada": 1.0, "ben": 2.0, "cy": 3.0}
    assert not any("_early" in r for r in records.values())
    assert reference.seconds == 6.0 and (out / "reference.json").exists()
