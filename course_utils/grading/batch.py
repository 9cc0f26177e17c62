"""Grade a whole class: ``course grade ASSIGNMENT SUBMISSIONS``.

``SUBMISSIONS`` is a folder with one sub-folder per student (nbgrader's
"submitted" layout for one assignment; ``<student>/<assignment>/`` is accepted
too), or a zip of such a folder. For every student the batch

1. copies the student's regular files (no links, size-capped) into a private
   nbgrader course directory built from a template (source, release and
   gradebook generated once per run from ``solutions/``);
2. runs :mod:`.worker` in its own process, ``--jobs`` at a time, with
   resource limits and a deadline (:mod:`.isolation`);
3. keeps the result in ``OUT/results/<student>.json`` together with a
   fingerprint of everything the score depends on (the student's files, the
   assignment's source, the grading settings and the grader's own code), so a
   re-run grades only new or changed submissions;
4. copies the HTML feedback to ``OUT/feedback/<student>/`` and the worker's log
   to ``OUT/logs/<student>.log``, and writes ``OUT/grades.csv``.

A broken submission becomes a row with status ``error``; only a broken
course (or a broken command line) makes the command fail.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path

import course_utils
from course_utils.grading import gradebook
from course_utils.grading.course import (
    COURSE_ID,
    Assignment,
    build_course,
    committed_release,
    read_release,
    release_differences,
)
from course_utils.grading.isolation import Limits, detect_sandbox, limit_resources
from course_utils.grading.worker import Job

STUDENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,99}")
MAX_FILE_BYTES = 100 * 1024 ** 2        # a student's file larger than this is left out
MAX_SUBMISSION_BYTES = 500 * 1024 ** 2  # and so is everything after this much per student
MAX_ZIP_BYTES = 4 * 1024 ** 3           # uncompressed size of a class zip
SKIPPED_FOLDERS = ("__MACOSX",)


class UsageError(ValueError):
    """The command line points at something unusable (reported, exit code 2)."""


@dataclass
class Student:
    """One student's folder in SUBMISSIONS."""

    student_id: str
    folder: Path
    problem: str | None = None                # why it cannot be graded at all
    fingerprint: str = ""
    files: list[Path] = field(default_factory=list)
    left_out: list[str] = field(default_factory=list)


# ----------------------------------------------------------------------------- submissions
def extract_zip(archive: Path, dest: Path) -> None:
    """Unpack a class zip safely: no absolute paths, no ``..``, no links, bounded size."""
    try:
        zf = zipfile.ZipFile(archive)
    except zipfile.BadZipFile as exc:
        raise UsageError(f"{archive} is not a valid zip file: {exc}") from None
    total = 0
    with zf:
        for info in zf.infolist():
            name = info.filename.replace("\\", "/")
            parts = [p for p in name.split("/") if p not in ("", ".")]
            is_link = (info.external_attr >> 16) & 0o170000 == 0o120000
            if info.is_dir() or is_link or not parts or ".." in parts or name.startswith("/"):
                continue
            total += info.file_size
            if total > MAX_ZIP_BYTES:
                raise UsageError(f"{archive} unpacks to more than {MAX_ZIP_BYTES // 1024 ** 3} GB")
            target = dest.joinpath(*parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(info) as src, open(target, "wb") as out:
                shutil.copyfileobj(src, out)


def _visible(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if not p.name.startswith(".") and p.name not in SKIPPED_FOLDERS)


def submissions_root(path: Path) -> Path:
    """The folder whose sub-folders are the students (descending through wrapper folders)."""
    while True:
        entries = _visible(path)
        dirs = [p for p in entries if p.is_dir() and not p.is_symlink()]
        if len(entries) == 1 and dirs and not any(dirs[0].glob("*.ipynb")):
            path = dirs[0]
        else:
            return path


def _student_folder(folder: Path, assignment: str) -> Path:
    nested = folder / assignment
    if nested.is_dir() and not any(folder.glob("*.ipynb")):
        return nested
    return folder


def _digest_files(folder: Path, student: Student) -> None:
    digest = hashlib.sha256()
    budget = MAX_SUBMISSION_BYTES
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder).as_posix()
        if any(part.startswith(".") or part == "__pycache__" for part in Path(rel).parts):
            continue
        if path.is_symlink():
            student.left_out.append(f"{rel} (a link)")
            continue
        if not path.is_file():
            continue
        size = path.stat().st_size
        if size > MAX_FILE_BYTES or size > budget:
            student.left_out.append(f"{rel} ({size / 1024 ** 2:.0f} MB)")
            continue
        budget -= size
        student.files.append(path)
        digest.update(rel.encode() + b"\0" + hashlib.sha256(path.read_bytes()).digest())
    student.fingerprint = digest.hexdigest()


def collect_students(root: Path, assignment: str) -> tuple[list[Student], list[str]]:
    """The students under ``root`` and notes on anything ignored there."""
    students, notes = [], []
    for entry in _visible(root):
        if entry.is_symlink() or not entry.is_dir():
            notes.append(f"ignored {entry.name}: not a student folder")
            continue
        student = Student(entry.name, _student_folder(entry, assignment))
        if not STUDENT_ID.fullmatch(entry.name):
            student.problem = (f"folder name {entry.name!r} is not a usable student id "
                               "(letters, digits, and _ . @ - only)")
        else:
            _digest_files(student.folder, student)
        students.append(student)
    return students, notes


# ----------------------------------------------------------------------------- fingerprints
def grader_fingerprint(assignment: Assignment, limits: Limits, sandbox: str, feedback: bool) -> str:
    """Hash of everything besides the student's files that a result depends on."""
    digest = hashlib.sha256()
    digest.update(assignment.fingerprint().encode())
    digest.update(json.dumps(asdict(limits), sort_keys=True).encode())
    digest.update(f"{sandbox} feedback={feedback}".encode())
    package = Path(course_utils.__file__).parent
    for path in sorted(package.rglob("*.py")):  # the checks, the ops and the grader itself
        digest.update(path.relative_to(package).as_posix().encode() + path.read_bytes())
    return digest.hexdigest()


# ----------------------------------------------------------------------------- one student
def _copy_submission(student: Student, dest: Path) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    for path in student.files:
        target = dest / path.relative_to(student.folder)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)


def _prepare_course(template: Path, root: Path, assignment: str, student: Student) -> None:
    for part in ("source", "release"):
        shutil.copytree(template / part, root / part)
    shutil.copyfile(template / "gradebook.db", root / "gradebook.db")
    _copy_submission(student, root / "submitted" / student.student_id / assignment)


def _error_record(student: Student, assignment: str, max_score: float, message: str) -> dict:
    return {"student_id": student.student_id, "assignment": assignment, "status": "error",
            "score": 0.0, "max_score": max_score, "message": message, "tests": [], "errors": [message]}


def _tail(path: Path, lines: int = 3) -> str:
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return " | ".join(line.strip() for line in text[-lines:])


def run_worker(job: Job, log_path: Path, limits: Limits, deadline: int) -> tuple[dict | None, str]:
    """Run the worker process of one job; (its record, or None and why not)."""
    Path(job.course_root).mkdir(parents=True, exist_ok=True)
    job_path = Path(job.course_root) / "job.json"
    job.dump(job_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith("NBGRADER")}
    env["JUPYTER_RUNTIME_DIR"] = job.runtime_dir
    env.setdefault("PYTHONDONTWRITEBYTECODE", "1")
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "course_utils.grading.worker", str(job_path)],
            cwd=job.course_root, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True, preexec_fn=limit_resources(limits, cpu_seconds=deadline),
        )
        try:
            code = proc.wait(timeout=deadline)
            why = f"the grader crashed (exit code {code})"
        except subprocess.TimeoutExpired:
            code, why = None, f"grading took longer than {deadline} s and was stopped"
        finally:
            try:
                os.killpg(proc.pid, signal.SIGKILL)  # whatever is left of the worker's group
            except ProcessLookupError:
                pass
            proc.wait()
    result = Path(job.result_path)
    if code == 0 and result.exists():
        return json.loads(result.read_text()), ""
    tail = _tail(log_path)
    return None, why + (f": {tail}" if tail and code is not None else "")


# ----------------------------------------------------------------------------- the batch
@dataclass
class BatchReport:
    records: list[dict]
    graded: list[str]       # students graded in this run
    reused: list[str]       # students whose earlier result still held
    notes: list[str]
    csv_path: Path


def _template(work: Path, assignment: Assignment, log: Callable[[str], None]) -> tuple[Path, float]:
    """Build the template course; warn when the committed release is stale."""
    from nbgrader.api import Gradebook

    template = work / "template"
    release = build_course(template, assignment)
    if release_differences(read_release(release), committed_release(assignment)):
        log(f"warning: assignments/{assignment.name} is not what `course release` generates from "
            f"solutions/{assignment.name}: grading uses solutions/ (run `course release`)")
    with Gradebook(f"sqlite:///{template / 'gradebook.db'}", COURSE_ID) as gb:
        max_score = float(gb.find_assignment(assignment.name).max_score)
    return template, max_score


def grade_batch(assignment: Assignment, submissions: Path, out: Path, *, jobs: int = 1,
                limits: Limits = Limits(), sandbox: str | None = None, force: bool = False,
                feedback: bool = True, progress: bool = True, work_dir: Path | None = None,
                log: Callable[[str], None] = lambda m: print(m, file=sys.stderr)) -> BatchReport:
    """Grade every student in ``submissions`` into ``out`` (see the module docstring)."""
    if not submissions.exists():
        raise UsageError(f"{submissions} does not exist")
    kind = detect_sandbox(sandbox, log=log)
    out.mkdir(parents=True, exist_ok=True)
    for sub in ("results", "feedback", "autograded", "logs"):
        (out / sub).mkdir(exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="course-grade-", dir=work_dir))
    try:
        if submissions.is_file():
            unpacked = work / "unpacked"
            extract_zip(submissions, unpacked)
            submissions = unpacked
        root = submissions_root(submissions)
        students, notes = collect_students(root, assignment.name)
        if not students:
            raise UsageError(f"no student folders in {submissions}")
        template, max_score = _template(work, assignment, log)
        grader = grader_fingerprint(assignment, limits, kind, feedback)
        n_cells = sum(len(json.loads((template / "source" / assignment.name / f"{nb}.ipynb").read_text())["cells"])
                      for nb in assignment.notebooks)
        deadline = limits.submission_timeout(n_cells)

        records: dict[str, dict] = {}
        todo: list[Student] = []
        for student in students:
            if student.problem:
                records[student.student_id] = _error_record(student, assignment.name, max_score, student.problem)
                continue
            student.fingerprint = hashlib.sha256((grader + student.fingerprint).encode()).hexdigest()
            cached = _load_result(out, student)
            if cached is not None and not force:
                records[student.student_id] = cached
            else:
                todo.append(student)
        reused = sorted(set(records) - {s.student_id for s in students if s.problem})
        log(f"{assignment.name}: {len(students)} submission(s), {len(todo)} to grade, "
            f"{len(reused)} unchanged since the last run; sandbox: {kind}; jobs: {jobs}")

        def one(student: Student) -> dict:
            try:
                return _grade_one(student, assignment, template, work, out, max_score, limits, kind,
                                  deadline, feedback)
            except Exception as exc:  # a broken student folder must not stop the batch
                return _error_record(student, assignment.name, max_score,
                                     f"could not grade: {type(exc).__name__}: {exc}")

        bar = _progress(len(todo), assignment.name, progress)
        with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            futures = {pool.submit(one, s): s for s in todo}
            for future in as_completed(futures):
                record = future.result()
                records[record["student_id"]] = record
                if bar is not None:
                    bar.set_postfix_str(f"{record['student_id']}: {record['status']}")
                    bar.update()
        if bar is not None:
            bar.close()

        ordered = [records[s.student_id] for s in students]
        csv_path = out / "grades.csv"
        gradebook.write_csv(ordered, csv_path)
        (out / "gradebook.json").write_text(json.dumps(ordered, indent=1))
        return BatchReport(ordered, sorted(s.student_id for s in todo), reused, notes, csv_path)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _progress(total: int, name: str, enabled: bool):
    if not enabled or total == 0:
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc=f"grading {name}", unit="submission", file=sys.stderr, dynamic_ncols=True)


def _load_result(out: Path, student: Student) -> dict | None:
    path = out / "results" / f"{student.student_id}.json"
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if record.get("fingerprint") != student.fingerprint:
        return None
    if any(not (out / rel).exists() for rel in record.get("feedback", []) + record.get("autograded", [])):
        return None
    return record


def _keep(root: Path, files: list[str], out: Path, kind: str, student: str) -> list[str]:
    """Copy a worker's files (feedback, autograded notebooks) to ``OUT/<kind>/<student>/``."""
    target = out / kind / student
    shutil.rmtree(target, ignore_errors=True)
    kept = []
    for rel in files:
        target.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(root / rel, target / Path(rel).name)
        kept.append((target / Path(rel).name).relative_to(out).as_posix())
    return kept


def _grade_one(student: Student, assignment: Assignment, template: Path, work: Path, out: Path,
               max_score: float, limits: Limits, sandbox: str, deadline: int, feedback: bool) -> dict:
    started = time.monotonic()
    root = work / "students" / student.student_id
    runtime = tempfile.mkdtemp(prefix="cgk")  # short: Unix socket paths are limited to ~100 bytes
    try:
        _prepare_course(template, root, assignment.name, student)
        job = Job(assignment=assignment.name, student=student.student_id, course_root=str(root),
                  runtime_dir=runtime, result_path=str(root / "result.json"), sandbox=sandbox,
                  limits=asdict(limits), feedback=feedback)
        record, why = run_worker(job, out / "logs" / f"{student.student_id}.log", limits, deadline)
        if record is None:
            record = _error_record(student, assignment.name, max_score, why)
        if student.left_out:
            note = "left out: " + ", ".join(student.left_out)
            record["message"] = f"{note}; {record['message']}" if record.get("message") else note
        for kind in ("feedback", "autograded"):
            record[kind] = _keep(root, record.get(kind, []), out, kind, student.student_id)
        record["fingerprint"] = student.fingerprint
        record["seconds"] = round(time.monotonic() - started, 2)
        (out / "results" / f"{student.student_id}.json").write_text(json.dumps(record, indent=1))
        return record
    finally:
        shutil.rmtree(runtime, ignore_errors=True)
        shutil.rmtree(root, ignore_errors=True)
