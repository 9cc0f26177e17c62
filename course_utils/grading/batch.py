"""Grade a whole class: ``course grade ASSIGNMENT SUBMISSIONS``.

``SUBMISSIONS`` is a folder with one sub-folder per student (nbgrader's
"submitted" layout for one assignment; ``<student>/<assignment>/`` is accepted
too), or a zip of such a folder. For every student the batch

1. reads the student's regular files (:mod:`.submissions`: never through a link,
   size-capped; odd names escaped, files that would shadow a module the tests
   import left out; a class zip unpacked safely) and copies them into a private
   nbgrader course directory built from a template (source, release and gradebook
   generated once per run from ``solutions/``);
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

import hashlib
import importlib.metadata
import json
import os
import queue
import shutil
import signal
import sys
import tempfile
import threading
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, replace
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
)
from course_utils.grading.parcel import (  # GradersLost, UsageError, _error_record: also the batch's API
    FINGERPRINTED,
    KEPT,
    TRANSIENT,
    Cap,
    GradersLost,
    Grading,
    Parcel,
    UsageError,
    _error_record,
    _Running,
    grade_parcel,
)
from course_utils.grading.launch import LAUNCHER
from course_utils.grading.submissions import Student, discover, pack  # Student: also the batch's API
from course_utils.grading.trusted import PRELOAD


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


class _Reference:
    """The assignment's own solution, graded once per output folder to set the submission
    budget (a multiple of its grading time, :func:`.isolation.budget`; cached in
    ``OUT/reference.json``). On this machine's pool it is graded *beside* the first
    submissions, in a slot of its own (:meth:`LocalPool.start_reference`): they start under
    the ceiling, and the budget comes down to the real one the moment it is known
    (:class:`.parcel.Cap`). On a cluster it is graded first."""

    def __init__(self, assignment: Assignment, work: Path, out: Path, max_score: float, limits: Limits,
                 kind: str, grader: str, n_cells: int, log: Callable[[str], None]) -> None:
        self.assignment, self.work, self.max_score, self.limits = assignment, work, max_score, limits
        self.kind, self.grader, self.n_cells, self.log = kind, grader, n_cells, log
        self.path = out / "reference.json"
        self.future = None
        self.known = False        # seconds (or the fall-back to the ceiling) decided
        self.seconds: float | None = None

    def cached(self) -> bool:
        data, _ = read_regular_file(self.path, 1024 ** 2)
        try:
            cached = json.loads(data) if data else {}
        except ValueError:
            cached = {}
        if isinstance(cached, dict) and cached.get("fingerprint") == self.grader:
            self.known, self.seconds = True, cached.get("seconds")
        return self.known

    def _parcel(self) -> tuple[Student, Parcel, Grading]:
        from course_utils.grading import samples

        folder = self.work / "reference"
        for name in self.assignment.notebooks:
            samples.write(samples.answered(self.assignment, notebook=name), folder, f"{name}.ipynb")
        reference = Student(REFERENCE_ID, folder, files=sorted(p.name for p in folder.iterdir()))
        grading = Grading(self.assignment.name, self.max_score, asdict(self.limits), self.kind,
                          self.limits.submission_timeout(self.n_cells), "none")
        return reference, pack(reference), grading

    def start(self, pool) -> None:
        """Grade the reference: beside the submissions where ``pool`` can, else now."""
        student, parcel, grading = self._parcel()
        self.student = student
        if hasattr(pool, "start_reference"):
            self.future = pool.start_reference(parcel, grading)
        else:
            self._decide(finish(student, _run_one(pool, parcel, grading), None))

    def poll(self) -> bool:
        """True once, when the reference graded beside the submissions has just finished."""
        if self.known or self.future is None or not self.future.done():
            return False
        self._decide(finish(self.student, self.future.result(), None))
        return True

    def _decide(self, record: dict) -> None:
        self.known = True
        ceiling = self.limits.submission_timeout(self.n_cells)
        if record["status"] != "ok" or record["score"] != self.max_score:
            self.log(f"warning: the reference solution scores {record['score']:g} of {self.max_score:g} "
                     f"({record['message']}); the submission budget falls back to {ceiling} s")
            return
        self.seconds = record["seconds"]
        self.path.write_text(json.dumps({"fingerprint": self.grader, "seconds": self.seconds}))


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
    pool = _pool(jobs, cluster, log)  # an unusable cluster address fails here, before OUT is touched
    if not cluster:  # warm while the template is built (`course grade` has started it already)
        LAUNCHER.prestart(preload=PRELOAD.get(assignment.name, ()))
    restore = _stop_on_sigterm()
    work = Path(tempfile.mkdtemp(prefix="course-grade-", dir=work_dir))
    try:
        _make_out(out)
        students, notes = discover(submissions, assignment, work / "unpacked")
        template, max_score = _template(work, assignment, log)
        pool.start(template, work)
        grader = grader_fingerprint(assignment, limits, kind, feedback)
        n_cells = sum(len(json.loads((template / "source" / assignment.name / f"{nb}.ipynb").read_text())["cells"])
                      for nb in assignment.notebooks)
        records, todo, reused = _sort_out(students, out, grader, force, assignment.name, max_score)
        reference = _Reference(assignment, work, out, max_score, limits, kind, grader, n_cells, log)
        if not todo or limits.budget_seconds or assignment.name in NO_REFERENCE_RUN:
            reference.known = True
        elif not reference.cached():
            reference.start(pool)
        deadline = budget(limits, n_cells, reference.seconds)
        said = f"budget: {deadline} s per submission" if reference.known else \
            f"budget: set by the reference solution, graded beside the first submissions (at most {deadline} s)"
        log(f"{assignment.name}: {len(students)} submission(s), {len(todo)} to grade, "
            f"{len(reused)} unchanged since the last run; sandbox: {kind}; {pool.describe()}; {said}")
        grading = Grading(assignment.name, max_score, asdict(limits), kind, deadline, feedback)
        try:
            grading = _grade_all(todo, pool, grading, out, records, progress, reference, n_cells, log)
        except BaseException:
            _write_gradebook(out, [records[s.student_id] for s in students if s.student_id in records])
            raise
        ordered = [records[s.student_id] for s in students]
        csv_path = _write_gradebook(out, ordered)
        return BatchReport(ordered, sorted(s.student_id for s in todo), reused, notes, csv_path,
                           grading.deadline, reference.seconds)
    finally:
        pool.close()
        restore()
        shutil.rmtree(work, ignore_errors=True)


def _pool(jobs: int, cluster: str | None, log: Callable[[str], None]):
    if cluster:
        from course_utils.grading.cluster import ClusterPool

        return ClusterPool(cluster, log=log)
    return LocalPool(jobs)


def _make_out(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for sub in ("results", "feedback", "autograded", "logs"):
        (out / sub).mkdir(exist_ok=True)


def _sort_out(students: list[Student], out: Path, grader: str, force: bool, assignment: str,
              max_score: float) -> tuple[dict[str, dict], list[Student], list[str]]:
    """``(records, todo, reused)``: the error rows of students who cannot be graded and the
    earlier results that still hold (fingerprints completed with ``grader``), the students
    left to grade, and the ids of those whose result was reused."""
    records: dict[str, dict] = {}
    todo: list[Student] = []
    for student in students:
        if student.problem:
            records[student.student_id] = _error_record(student, assignment, max_score, student.problem)
            continue
        student.fingerprint = hashlib.sha256((grader + student.fingerprint).encode()).hexdigest()
        cached = _load_result(out, student)
        if cached is not None and not force:
            records[student.student_id] = cached
        else:
            todo.append(student)
    reused = sorted(set(records) - {s.student_id for s in students if s.problem})
    return records, todo, reused


def _grade_all(todo: list[Student], pool, grading: Grading, out: Path, records: dict[str, dict],
               progress: bool, reference: _Reference | None = None, n_cells: int = 0,
               log: Callable[[str], None] = lambda m: None) -> Grading:
    """Grade ``todo`` on ``pool``, each record into ``records`` as it comes; a submission is
    read when it is sent, and only a few wait at a time. Interrupted, the pool stops.

    While ``reference`` is still being graded beside them, submissions go out under the
    ceiling; once it is known, the budget comes down (``pool.cap``) and a submission that
    went out before is kept only where the real budget could not have changed its result:
    its wall time, times this machine's CPUs (no process of it can have used more CPU time,
    the limit ``RLIMIT_CPU`` also sets), within the budget; otherwise it is graded again.
    Returns the settings of the last submissions (the real budget)."""
    bar = _progress(len(todo), grading.assignment, progress)
    waiting = list(reversed(todo))
    sent: dict = {}
    early: set = set()  # futures sent before the budget was known
    pending: set = set()
    cpus = len(os.sched_getaffinity(0))

    def settle() -> None:
        nonlocal grading
        if reference is None or not reference.poll():
            return
        grading = replace(grading, deadline=budget(Limits(**grading.limits), n_cells, reference.seconds))
        pool.cap.lower(grading.deadline)
        log(f"{grading.assignment}: budget {grading.deadline} s per submission (the reference solution took "
            f"{reference.seconds} s)" if reference.seconds is not None else
            f"{grading.assignment}: budget {grading.deadline} s per submission")
        for student_id, record in list(records.items()):
            if record.pop("_early", False) and not _holds(record, grading.deadline, cpus):
                del records[student_id]
                waiting.append(next(s for s in todo if s.student_id == student_id))
                if bar is not None:
                    bar.update(-1)

    try:
        while waiting or pending:
            settle()
            while waiting and len(pending) < 2 * pool.capacity:
                student = waiting.pop()
                try:
                    parcel = pack(student)
                except Exception as exc:  # a file that fails to read must not stop the batch
                    records[student.student_id] = _could_not_grade(student, grading, exc)
                    continue
                future = pool.submit(parcel, grading)
                sent[future] = student
                pending.add(future)
                if reference is not None and not reference.known:
                    early.add(future)
            done, pending = pool.wait(pending, 0.5)
            for future in done:
                student = sent.pop(future)
                record = _finish_one(student, future, pool, grading, out)
                if pool.stopping:
                    continue
                if future in early:
                    early.discard(future)
                    if not reference.known:
                        record["_early"] = True  # judged by settle() once the budget is known
                    elif not _holds(record, grading.deadline, cpus):
                        waiting.append(student)
                        continue
                records[record["student_id"]] = record
                if bar is not None:
                    where = f" on {record['worker']}" if record.get("worker") else ""
                    bar.set_postfix_str(f"{record['student_id']}: {record['status']}{where}")
                    bar.update()
            if not waiting and not pending and reference is not None and not reference.known:
                reference.future.result()  # the last early records wait for the budget
                settle()
    except BaseException:
        pool.stop(pending)
        raise
    finally:
        if bar is not None:
            bar.close()
    return grading


def _holds(record: dict, deadline: int, cpus: int) -> bool:
    """Whether a result graded under a larger budget is also the result under ``deadline``."""
    return (record.get("seconds") or 0) * cpus <= deadline


def _finish_one(student: Student, future, pool, grading: Grading, out: Path) -> dict:
    try:
        return finish(student, pool.outcome(future), out)
    except GradersLost:
        raise
    except Exception as exc:  # a broken student folder must not stop the batch
        return _could_not_grade(student, grading, exc)


def _could_not_grade(student: Student, grading: Grading, exc: Exception) -> dict:
    return _error_record(student, grading.assignment, grading.max_score,
                         f"could not grade: {type(exc).__name__}: {exc}", transient=True)


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
        self.cap = Cap(2 ** 31)       # lowered once the reference solution has been graded
        self._reference_uid: int | None = None
        self._reference_executor: ThreadPoolExecutor | None = None

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
            return grade_parcel(parcel, grading, self.template, self.work, uid, self.running, self.cap)
        finally:
            self.slots.free.put(uid)

    def start_reference(self, parcel: Parcel, grading: Grading):
        """Grade the reference solution beside the submissions, in a slot (thread and kernel
        uid) of its own, so that the ``jobs`` slots start on the class at once."""
        self._reference_uid = UIDS.take()
        self._reference_executor = ThreadPoolExecutor(max_workers=1)
        return self._reference_executor.submit(grade_parcel, parcel, grading, self.template, self.work,
                                               self._reference_uid, self.running)

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
        if self._reference_executor is not None:
            self._reference_executor.shutdown(wait=True, cancel_futures=True)
            UIDS.release(self._reference_uid)
        self.slots.__exit__()


def _run_one(pool, parcel: Parcel, grading: Grading) -> dict:
    pending = {pool.submit(parcel, grading)}
    while pending:
        done, pending = pool.wait(pending, 0.5)
    return pool.outcome(done.pop())
