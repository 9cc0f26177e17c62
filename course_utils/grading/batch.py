"""Grade a whole class: ``course grade ASSIGNMENT SUBMISSIONS``.

``SUBMISSIONS`` is a folder with one sub-folder per student (nbgrader's
"submitted" layout for one assignment; ``<student>/<assignment>/`` is accepted
too), or a zip of such a folder. For every student the batch

1. reads the student's regular files (``lstat``, never through a link,
   size-capped; odd names escaped, files that would shadow a module the tests
   import left out) and copies them into a private nbgrader course directory
   built from a template (source, release and gradebook generated once per run
   from ``solutions/``);
2. runs :mod:`.worker` in its own process (:func:`.parcel.grade_parcel`, the
   submission's files handed over as bytes; the worker forked from a warm server,
   :mod:`.launch`), ``--jobs`` at a time (or on a Dask cluster's workers,
   :mod:`.cluster`: the same function), under resource limits and a wall-clock
   budget (by default a multiple of the reference solution's own grading time),
   its kernels as a uid of the job's slot when the grader is root
   (:mod:`.isolation`); once the worker is gone, every process of that uid is
   killed;
3. keeps the result in ``OUT/results/<student>.json`` together with a
   fingerprint of everything the score depends on (the student's files, the
   assignment's source, the grading settings and environment, the grader's code
   and library versions), so a re-run grades only new or changed submissions;
   results of a grader crash or a stopped run are never reused;
4. copies the HTML feedback to ``OUT/feedback/<student>/`` and the worker's log
   to ``OUT/logs/<student>.log``, and writes ``OUT/grades.csv``.

A broken submission becomes a row with status ``error``; only a broken
course (or a broken command line) makes the command fail. Ctrl-C and SIGTERM
stop the batch within seconds: running workers and their kernels are killed,
what was graded is kept and the temporary folders are removed.
"""

from __future__ import annotations

import ast
import contextlib
import hashlib
import importlib.metadata
import json
import os
import queue
import re
import shutil
import signal
import sys
import tempfile
import threading
import zipfile
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
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
from course_utils.grading.feedback import DEFAULT as DEFAULT_FEEDBACK
from course_utils.grading.feedback import feedback_mode
from course_utils.grading.isolation import (
    PASSED_ENV,
    Limits,
    UIDS,
    budget,
    detect_sandbox,
    read_regular_file,
    shown_name,
)
from course_utils.grading.parcel import (  # GradersLost, UsageError, _error_record: also the batch's API
    FINGERPRINTED,
    KEPT,
    MAX_FILE_BYTES,
    TRANSIENT,
    GradersLost,
    Grading,
    Parcel,
    UsageError,
    _error_record,
    _Running,
    grade_parcel,
)

STUDENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,99}")
MAX_SUBMISSION_BYTES = 500 * 1024 ** 2  # and so is everything after this much per student
MAX_ZIP_BYTES = 4 * 1024 ** 3           # uncompressed size of a class zip
SKIPPED_FOLDERS = ("__MACOSX",)
#: Modules a submission may never shadow, besides those the assignment's notebooks import.
ALWAYS_IMPORTED = ("course_utils", "nbgrader", "IPython", "ipykernel")


@dataclass
class Student:
    """One student's folder in SUBMISSIONS."""

    student_id: str
    folder: Path
    problem: str | None = None                # why it cannot be graded at all
    fingerprint: str = ""
    files: list[str] = field(default_factory=list)   # relative paths of the regular files taken
    left_out: list[str] = field(default_factory=list)


# ----------------------------------------------------------------------------- submissions
def extract_zip(archive: Path, dest: Path) -> dict[str, list[str]]:
    """Unpack a class zip safely: no absolute paths, no ``..``, no links, bounded size.

    A member that cannot be unpacked (a damaged or encrypted entry, a name too long for
    the file system, a file where a folder is) is skipped; returns, per top-level
    folder, notes on what was skipped.
    """
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as exc:
        raise UsageError(f"{archive} is not a valid zip file: {exc}") from None
    skipped: dict[str, list[str]] = {}
    total = 0
    with zf:
        for info in zf.infolist():
            name = info.filename.replace("\\", "/")
            parts = [p for p in name.split("/") if p not in ("", ".")]
            is_link = (info.external_attr >> 16) & 0o170000 == 0o120000
            if info.is_dir() or is_link or not parts or ".." in parts or name.startswith("/"):
                continue
            owner = parts[0]
            total += info.file_size
            if total > MAX_ZIP_BYTES:
                skipped.setdefault(owner, []).append(f"{shown_name(name)} (the zip unpacks to more than "
                                                     f"{MAX_ZIP_BYTES // 1024 ** 3} GB)")
                continue
            target = dest.joinpath(*parts)
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(info) as src, open(target, "xb") as out:
                    shutil.copyfileobj(src, out)
            except (OSError, zipfile.BadZipFile, NotImplementedError, RuntimeError, ValueError) as exc:
                if not isinstance(exc, FileExistsError):  # on a clash, the member unpacked first stays
                    with contextlib.suppress(OSError):
                        target.unlink()  # never half a file: a damaged member fails at its end
                why = exc.strerror if isinstance(exc, OSError) and exc.strerror else f"{type(exc).__name__}: {exc}"
                skipped.setdefault(owner, []).append(f"{shown_name(name)} (not unpacked: {why})")
    return skipped


def _visible(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if not p.name.startswith(".") and p.name not in SKIPPED_FOLDERS)


def _is_dir(path: Path) -> bool:
    return path.is_dir() and not path.is_symlink()


def submissions_root(path: Path, assignment: str) -> Path:
    """The folder whose sub-folders are the students (descending through wrapper folders,
    but not into a lone student's folder in nbgrader's ``<student>/<assignment>/`` layout)."""
    while True:
        entries = _visible(path)
        if len(entries) != 1 or not _is_dir(entries[0]):
            return path
        only = entries[0]
        if any(only.glob("*.ipynb")) or _is_dir(only / assignment):
            return path
        path = only


def _student_folder(folder: Path, assignment: str) -> Path:
    nested = folder / assignment
    if _is_dir(nested) and not any(folder.glob("*.ipynb")):
        return nested
    return folder


def imported_modules(notebooks: list[Path]) -> set[str]:
    """Top-level names a submission's files must not take: the modules the code cells of
    ``notebooks`` import, and every module of the standard library and of the installed
    packages (which those import in turn)."""
    import nbformat

    names = set(ALWAYS_IMPORTED) | set(sys.stdlib_module_names) | set(importlib.metadata.packages_distributions())
    for path in notebooks:
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.cell_type != "code":
                continue
            source = "\n".join(line for line in cell.source.splitlines() if not line.lstrip().startswith(("%", "!")))
            try:
                tree = ast.parse(source)
            except SyntaxError:
                continue
            for node in ast.walk(tree):
                if isinstance(node, ast.Import):
                    names.update(alias.name.split(".")[0] for alias in node.names)
                elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                    names.add(node.module.split(".")[0])
    return names


def _digest_files(student: Student, modules: set[str]) -> None:
    """Take the student's regular files (never through a link) and hash them."""
    digest = hashlib.sha256()
    budget_left = MAX_SUBMISSION_BYTES
    shadowing: set[str] = set()
    for folder, dirs, files in os.walk(student.folder, followlinks=False):
        rel_dir = os.path.relpath(folder, student.folder)
        dirs.sort()
        for name in list(dirs):
            rel = os.path.normpath(os.path.join(rel_dir, name))
            hidden = name.startswith(".") or name == "__pycache__"
            if hidden or os.path.islink(os.path.join(folder, name)):
                dirs.remove(name)
                if not hidden:
                    student.left_out.append(f"{shown_name(rel)} (a link)")
            elif rel_dir == "." and name in modules:
                dirs.remove(name)
                shadowing.add(name)
        for name in sorted(files):
            rel = os.path.normpath(os.path.join(rel_dir, name))
            if name.startswith(".") or name.endswith((".pyc", ".pyo")):
                continue
            if rel_dir == "." and name.endswith(".py") and name[:-3] in modules:
                shadowing.add(name)
                continue
            data, problem = read_regular_file(os.path.join(folder, name), min(MAX_FILE_BYTES, budget_left))
            if problem:
                student.left_out.append(f"{shown_name(rel)} ({problem})")
                continue
            budget_left -= len(data)
            student.files.append(rel)
            digest.update(os.fsencode(rel) + b"\0" + hashlib.sha256(data).digest())
    if shadowing:
        student.left_out.append(", ".join(sorted(shown_name(n) for n in shadowing))
                                + " (named like a module the tests import: the installed one is used)")
    student.fingerprint = digest.hexdigest()


def collect_students(root: Path, assignment: str, modules: set[str] = frozenset(ALWAYS_IMPORTED),
                     zip_notes: dict[str, list[str]] | None = None) -> tuple[list[Student], list[str]]:
    """The students under ``root`` and notes on anything ignored there. A folder that
    cannot be read becomes a student with a ``problem``, never an exception."""
    students, notes = [], []
    taken: set[str] = set()
    for entry in _visible(root):
        name = shown_name(entry.name)
        while name in taken:  # two odd names that escape alike still get a row each
            name += "_"
        taken.add(name)
        if entry.is_symlink() or not entry.is_dir():
            notes.append(f"ignored {name}: not a student folder")
            continue
        if not STUDENT_ID.fullmatch(entry.name):
            student = Student(name, entry)
            student.problem = (f"folder name {name!r} is not a usable student id "
                               "(letters, digits, and _ . @ - only): rename the folder and grade again")
            students.append(student)
            continue
        student = Student(entry.name, _student_folder(entry, assignment))
        student.left_out += (zip_notes or {}).get(entry.name, [])
        try:
            _digest_files(student, set(modules))
        except OSError as exc:
            student.problem = f"could not read the submission: {exc.strerror or exc}"
        students.append(student)
    return students, notes


# ----------------------------------------------------------------------------- fingerprints
def _versions() -> str:
    found = []
    for name in FINGERPRINTED:
        try:
            found.append(f"{name}={importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            pass
    return " ".join(found) + f" python={sys.version.split()[0]}"


def grader_fingerprint(assignment: Assignment, limits: Limits, sandbox: str, feedback: str | bool) -> str:
    """Hash of everything besides the student's files that a result depends on: the source,
    the limits and sandbox, the feedback mode (:func:`.feedback.feedback_mode`), the settings
    that reach the kernel (quick mode, dataset, offline),
    the grader's code and the versions of the libraries that run it."""
    digest = hashlib.sha256()
    digest.update(assignment.fingerprint().encode())
    digest.update(json.dumps(asdict(limits), sort_keys=True).encode())
    digest.update(f"{sandbox} feedback={feedback_mode(feedback)}".encode())
    digest.update(json.dumps({k: os.environ.get(k) for k in PASSED_ENV}, sort_keys=True).encode())
    digest.update(_versions().encode())
    package = Path(course_utils.__file__).parent
    for path in sorted(package.rglob("*.py")):  # the checks, the ops and the grader itself
        digest.update(path.relative_to(package).as_posix().encode() + path.read_bytes())
    return digest.hexdigest()


# ----------------------------------------------------------------------------- one student
def pack(student: Student) -> Parcel:
    """The student's regular files as bytes (read without following links)."""
    parcel = Parcel(student.student_id)
    for rel in student.files:
        data, problem = read_regular_file(student.folder / rel, MAX_FILE_BYTES)
        if problem:  # changed since it was looked at
            student.left_out.append(f"{shown_name(rel)} ({problem})")
            continue
        parcel.files[rel] = data
    return parcel


# ----------------------------------------------------------------------------- the batch
@dataclass
class BatchReport:
    records: list[dict]
    graded: list[str]       # students graded in this run
    reused: list[str]       # students whose earlier result still held
    notes: list[str]
    csv_path: Path
    budget: int = 0         # seconds a submission could take
    reference_seconds: float | None = None


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


class _Slots:
    """One kernel uid per job slot, held for the whole batch (see :class:`isolation.KernelUids`):
    the processes of a slot's uid belong to the submission it is grading, and to nobody else."""

    def __init__(self, jobs: int) -> None:
        self.free: queue.Queue[int | None] = queue.Queue()
        self.uids = [UIDS.take() for _ in range(jobs)]
        for uid in self.uids:
            self.free.put(uid)

    def __enter__(self) -> "_Slots":
        return self

    def __exit__(self, *exc) -> None:
        for uid in self.uids:
            UIDS.release(uid)


REFERENCE_ID = "reference-solution"
#: Assignments whose solution cannot be graded without files only a student's own run makes
#: (A3's saved weights): their budget is the ceiling of :meth:`Limits.submission_timeout`.
NO_REFERENCE_RUN = ("a3_depthwise",)


def _reference_seconds(assignment: Assignment, work: Path, out: Path, max_score: float, limits: Limits,
                       kind: str, grader: str, n_cells: int, pool, log: Callable[[str], None]) -> float | None:
    """Seconds the assignment's own solution takes to grade (cached in ``OUT/reference.json``);
    the default budget of every submission is a multiple of it."""
    from course_utils.grading import samples

    if assignment.name in NO_REFERENCE_RUN:
        return None
    path = out / "reference.json"
    data, _ = read_regular_file(path, 1024 ** 2)
    try:
        cached = json.loads(data) if data else {}
    except ValueError:
        cached = {}
    if isinstance(cached, dict) and cached.get("fingerprint") == grader:
        return cached.get("seconds")
    folder = work / "reference"
    for name in assignment.notebooks:
        samples.write(samples.answered(assignment, notebook=name), folder, f"{name}.ipynb")
    reference = Student(REFERENCE_ID, folder, files=sorted(p.name for p in folder.iterdir()))
    grading = Grading(assignment.name, max_score, asdict(limits), kind, limits.submission_timeout(n_cells), "none")
    record = finish(reference, _run_one(pool, pack(reference), grading), None)
    if record["status"] != "ok" or record["score"] != max_score:
        log(f"warning: the reference solution scores {record['score']:g} of {max_score:g} "
            f"({record['message']}); the submission budget falls back to {limits.submission_timeout(n_cells)} s")
        return None
    seconds = record["seconds"]
    path.write_text(json.dumps({"fingerprint": grader, "seconds": seconds}))
    return seconds


def grade_batch(assignment: Assignment, submissions: Path, out: Path, *, jobs: int = 1,
                limits: Limits = Limits(), sandbox: str | None = None, force: bool = False,
                feedback: str | bool = DEFAULT_FEEDBACK, progress: bool = True, work_dir: Path | None = None,
                cluster: str | None = None,
                log: Callable[[str], None] = lambda m: print(m, file=sys.stderr)) -> BatchReport:
    """Grade every student in ``submissions`` into ``out`` (see the module docstring); with
    ``cluster`` (an address, or ``local:N``) on a Dask cluster (:mod:`.cluster`). ``feedback``:
    ``none``, ``hidden`` or ``full`` (:mod:`.feedback`; ``True`` is ``hidden``, ``False`` ``none``)."""
    feedback = feedback_mode(feedback)
    if not submissions.exists():
        raise UsageError(f"{submissions} does not exist")
    kind = detect_sandbox(sandbox, log=log)
    if cluster:
        from course_utils.grading.cluster import ClusterPool

        pool = ClusterPool(cluster, log=log)  # an unusable address fails here, before OUT is touched
    else:
        pool = LocalPool(jobs)
    stack = contextlib.ExitStack()
    stack.callback(pool.close)
    restore = _stop_on_sigterm()
    work = Path(tempfile.mkdtemp(prefix="course-grade-", dir=work_dir))
    try:
        out.mkdir(parents=True, exist_ok=True)
        for sub in ("results", "feedback", "autograded", "logs"):
            (out / sub).mkdir(exist_ok=True)
        zip_notes: dict[str, list[str]] = {}
        if submissions.is_file():
            unpacked = work / "unpacked"
            zip_notes = extract_zip(submissions, unpacked)
            submissions = unpacked
        root = submissions_root(submissions, assignment.name)
        template, max_score = _template(work, assignment, log)
        pool.start(template, work)
        source_notebooks = [template / "source" / assignment.name / f"{nb}.ipynb" for nb in assignment.notebooks]
        students, notes = collect_students(root, assignment.name, imported_modules(source_notebooks), zip_notes)
        if not students:
            raise UsageError(f"no student folders in {submissions}")
        grader = grader_fingerprint(assignment, limits, kind, feedback)
        n_cells = sum(len(json.loads(p.read_text())["cells"]) for p in source_notebooks)

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
        reference = None
        if todo and not limits.budget_seconds:
            reference = _reference_seconds(assignment, work, out, max_score, limits, kind, grader, n_cells,
                                           pool, log)
        deadline = budget(limits, n_cells, reference)
        log(f"{assignment.name}: {len(students)} submission(s), {len(todo)} to grade, "
            f"{len(reused)} unchanged since the last run; sandbox: {kind}; {pool.describe()}; "
            f"budget: {deadline} s per submission")
        grading = Grading(assignment.name, max_score, asdict(limits), kind, deadline, feedback)

        def one(student: Student, future) -> dict:
            try:
                return finish(student, pool.outcome(future), out)
            except GradersLost:
                raise
            except Exception as exc:  # a broken student folder must not stop the batch
                return _error_record(student, assignment.name, max_score,
                                     f"could not grade: {type(exc).__name__}: {exc}", transient=True)

        bar = _progress(len(todo), assignment.name, progress)
        waiting = list(reversed(todo))
        sent: dict = {}
        pending: set = set()
        try:
            while waiting or pending:
                # a submission is read when it is sent, and only a few wait at a time
                while waiting and len(pending) < 2 * pool.capacity:
                    student = waiting.pop()
                    future = pool.submit(pack(student), grading)
                    sent[future] = student
                    pending.add(future)
                done, pending = pool.wait(pending, 0.5)
                for future in done:
                    record = one(sent.pop(future), future)
                    if pool.stopping:
                        continue
                    records[record["student_id"]] = record
                    if bar is not None:
                        where = f" on {record['worker']}" if record.get("worker") else ""
                        bar.set_postfix_str(f"{record['student_id']}: {record['status']}{where}")
                        bar.update()
        except BaseException:
            pool.stop(pending)
            _write_gradebook(out, [records[s.student_id] for s in students if s.student_id in records])
            raise
        finally:
            if bar is not None:
                bar.close()

        ordered = [records[s.student_id] for s in students]
        csv_path = _write_gradebook(out, ordered)
        return BatchReport(ordered, sorted(s.student_id for s in todo), reused, notes, csv_path,
                           deadline, reference)
    finally:
        stack.close()
        restore()
        shutil.rmtree(work, ignore_errors=True)


def _write_gradebook(out: Path, records: list[dict]) -> Path:
    csv_path = out / "grades.csv"
    gradebook.write_csv(records, csv_path)
    (out / "gradebook.json").write_text(json.dumps(records, indent=1))
    return csv_path


class Interrupted(KeyboardInterrupt):
    """SIGTERM or SIGINT: stop the batch."""


def _stop_on_sigterm() -> Callable[[], None]:
    """Turn SIGTERM and SIGINT into :class:`Interrupted` in the main thread (SIGINT too: a
    batch started by a program that ignores it must still stop on Ctrl-C); returns the undo."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def handler(signum, frame):
        raise Interrupted(f"signal {signum}")

    previous = {signum: signal.signal(signum, handler) for signum in (signal.SIGTERM, signal.SIGINT)}
    return lambda: [signal.signal(signum, old) for signum, old in previous.items()]


def _progress(total: int, name: str, enabled: bool):
    if not enabled or total == 0:
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc=f"grading {name}", unit="submission", file=sys.stderr, dynamic_ncols=True)


def _load_result(out: Path, student: Student) -> dict | None:
    data, _ = read_regular_file(out / "results" / f"{student.student_id}.json", 64 * 1024 ** 2)
    try:
        record = json.loads(data) if data else None
    except ValueError:
        return None
    if not isinstance(record, dict) or record.get("fingerprint") != student.fingerprint or record.get(TRANSIENT):
        return None
    if any(not (out / rel).is_file() for rel in record.get("feedback", []) + record.get("autograded", [])):
        return None
    return record


def _keep(out: Path, kind: str, student: str, files: dict[str, bytes]) -> list[str]:
    """Write a worker's files (feedback, autograded notebooks) to ``OUT/<kind>/<student>/``."""
    target = out / kind / student
    shutil.rmtree(target, ignore_errors=True)
    kept = []
    for name, data in sorted(files.items()):
        name = Path(name).name
        if name in ("", ".", ".."):
            continue
        target.mkdir(parents=True, exist_ok=True)
        (target / name).write_bytes(data)
        kept.append((target / name).relative_to(out).as_posix())
    return kept


def finish(student: Student, outcome: dict, out: Path | None) -> dict:
    """The record of a graded submission, on the batch's machine; it alone writes ``OUT``:
    the feedback, the autograded notebooks, the log and the cached result (nothing when
    ``out`` is None: the reference run)."""
    record = outcome["record"]
    if student.left_out:
        note = "left out: " + ", ".join(student.left_out)
        record["message"] = f"{note}; {record['message']}" if record.get("message") else note
    record["fingerprint"] = student.fingerprint
    if outcome.get("worker"):
        record["worker"] = outcome["worker"]  # the cluster worker that graded it
    if out is not None:
        for kind in KEPT:
            record[kind] = _keep(out, kind, student.student_id, outcome.get("files", {}).get(kind, {}))
        (out / "logs" / f"{student.student_id}.log").write_bytes(outcome.get("log") or b"")
        (out / "results" / f"{student.student_id}.json").write_text(json.dumps(record, indent=1))
    return record


class LocalPool:
    """``--jobs N``: N threads on this machine, each submission in its own worker process
    and kernel uid (see :func:`grade_parcel`). :mod:`.cluster` has the same interface."""

    def __init__(self, jobs: int) -> None:
        self.jobs = max(1, jobs)
        self.running = _Running()
        self.slots = _Slots(self.jobs)
        self.executor = ThreadPoolExecutor(max_workers=self.jobs)
        self.template: Path | None = None
        self.work: Path | None = None

    def describe(self) -> str:
        return f"jobs: {self.jobs}"

    @property
    def capacity(self) -> int:
        """Submissions graded at once."""
        return self.jobs

    def start(self, template: Path, work: Path) -> None:
        self.template, self.work = template, work

    def submit(self, parcel: Parcel, grading: Grading):
        return self.executor.submit(self._one, parcel, grading)

    def _one(self, parcel: Parcel, grading: Grading) -> dict:
        uid = self.slots.free.get()
        try:
            return grade_parcel(parcel, grading, self.template, self.work, uid, self.running)
        finally:
            self.slots.free.put(uid)

    def wait(self, pending: set, timeout: float) -> tuple[set, set]:
        done, pending = wait(pending, timeout=timeout, return_when=FIRST_COMPLETED)
        return done, pending

    def outcome(self, future) -> dict:
        return future.result()

    @property
    def stopping(self) -> bool:
        return self.running.stopping.is_set()

    def stop(self, pending: set) -> None:
        """Interrupted: kill what is running, drop what is queued."""
        self.running.kill_all()
        self.executor.shutdown(wait=True, cancel_futures=True)

    def close(self) -> None:
        self.executor.shutdown(wait=True, cancel_futures=True)
        self.slots.__exit__()


def _run_one(pool, parcel: Parcel, grading: Grading) -> dict:
    pending = {pool.submit(parcel, grading)}
    while pending:
        done, pending = pool.wait(pending, 0.5)
    return pool.outcome(done.pop())
