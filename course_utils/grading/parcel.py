"""Grade ONE submission on the machine this runs on: the batch's, or a cluster worker's.

:func:`grade_parcel` takes a :class:`Parcel` (the student's files as bytes) and the
batch's :class:`Grading` settings, builds a private nbgrader course folder from the
template, runs :mod:`.worker` in its own process (:mod:`.launch`) under the
submission's limits and deadline, its kernel as a uid of its own, and returns the
outcome as plain data. Local grading (:mod:`.batch`, ``--jobs``) and a Dask worker
(:mod:`.cluster`) call the same function; only the instructor's machine writes the
gradebook.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from course_utils.grading.isolation import PASSED_ENV, Limits, kill_user, read_regular_file
from course_utils.grading.launch import LAUNCHER, Worker, worker_rlimits
from course_utils.grading.trusted import PRELOAD
from course_utils.grading.worker import Job

#: Libraries whose versions are part of the grader's fingerprint.
FINGERPRINTED = ("nbgrader", "nbclient", "nbconvert", "ipykernel", "jupyter_client", "numpy", "keras",
                 "tensorflow", "tensorflow-cpu", "scipy")

#: Record key of a failure that says nothing about the submission (a crash, a stopped run).
TRANSIENT = "transient"


class UsageError(ValueError):
    """The command line points at something unusable (reported, exit code 2)."""


class Cap:
    """A submission budget that may still come down while submissions run: the batch grades
    its first submissions under the ceiling while the reference solution is graded beside
    them, then lowers the cap to the real budget (:func:`.isolation.budget`). A running
    submission past the new cap, counted from its own start, is stopped as if that had been
    its budget from the start."""

    def __init__(self, seconds: int) -> None:
        self._seconds = seconds
        self._lock = threading.Lock()

    @property
    def seconds(self) -> int:
        with self._lock:
            return self._seconds

    def lower(self, seconds: int) -> None:
        with self._lock:
            self._seconds = min(self._seconds, seconds)


@dataclass
class Parcel:
    """One submission as it travels to whatever grades it (a thread here, a cluster worker):
    the student's id and files as bytes, read on this machine."""

    student_id: str
    files: dict[str, bytes] = field(default_factory=dict)


@dataclass
class Grading:
    """How every submission of a batch is graded, wherever it runs."""

    assignment: str
    max_score: float
    limits: dict
    sandbox: str
    deadline: int
    #: what the HTML feedback shows: none | hidden | full (:data:`.feedback.MODES`)
    feedback: str
    #: the settings that reach the kernel (:data:`PASSED_ENV`), as this machine has them
    environ: dict = field(default_factory=lambda: {k: os.environ.get(k) for k in PASSED_ENV})



def _prepare_course(template: Path, root: Path, assignment: str, parcel: Parcel) -> None:
    for part in ("source", "release"):
        shutil.copytree(template / part, root / part)
    shutil.copyfile(template / "gradebook.db", root / "gradebook.db")
    dest = root / "submitted" / parcel.student_id / assignment
    dest.mkdir(parents=True, exist_ok=True)
    for rel, data in parcel.files.items():
        target = dest / rel
        if ".." in Path(rel).parts or Path(rel).is_absolute():
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)


def _error_record(student: Parcel, assignment: str, max_score: float, message: str,
                  transient: bool = False) -> dict:
    """The record of a submission that could not be graded (``student``: a parcel or the
    batch's Student: only its ``student_id`` is read)."""
    record = {"student_id": student.student_id, "assignment": assignment, "status": "error",
              "score": 0.0, "max_score": max_score, "message": message, "tests": [], "errors": [message]}
    if transient:
        record[TRANSIENT] = True
    return record


def _tail(path: Path, lines: int = 3) -> str:
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return " | ".join(line.strip() for line in text[-lines:])


class _Running:
    """The worker processes of a batch, so that an interrupt can kill them."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.procs: dict[int, tuple[Worker, int | None]] = {}
        self.stopping = threading.Event()

    def add(self, proc: Worker, uid: int | None) -> None:
        with self.lock:
            self.procs[proc.pid] = (proc, uid)
            if self.stopping.is_set():
                proc.kill()

    def remove(self, proc: Worker) -> None:
        with self.lock:
            self.procs.pop(proc.pid, None)

    def kill_all(self) -> None:
        self.stopping.set()
        with self.lock:
            running = list(self.procs.values())
        for proc, uid in running:
            proc.kill()
            kill_user(uid)


def _wait(worker: Worker, deadline: int, cap: Cap | None) -> tuple[int | None, int]:
    """(the worker's exit code or None when it ran past its budget, that budget): ``deadline``,
    or ``cap`` where that comes down below it while the worker runs."""
    started = time.monotonic()
    while True:
        limit = deadline if cap is None else min(deadline, cap.seconds)
        left = limit - (time.monotonic() - started)
        if left <= 0:
            return None, limit
        try:
            return worker.wait(timeout=left if cap is None else min(left, 0.5)), limit
        except TimeoutError:
            continue


def run_worker(job: Job, log_path: Path, limits: Limits, deadline: int,
               running: _Running | None = None, environ: dict[str, str | None] | None = None,
               cap: Cap | None = None) -> tuple[dict | None, str]:
    """Run the worker process of one job; (its record, or None and why not). ``environ``
    sets the variables of :data:`PASSED_ENV` (None: unset) as the batch's machine has them;
    ``cap`` may lower ``deadline`` while the worker runs (:class:`Cap`).

    When it returns, the worker's process group and every process of the job's kernel
    uid are dead, and only then is the worker's result read."""
    Path(job.course_root).mkdir(parents=True, exist_ok=True)
    job_path = Path(job.course_root) / "job.json"
    job.dump(job_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith("NBGRADER")}
    for name, value in (environ or {}).items():
        if name not in PASSED_ENV:
            continue
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    env["JUPYTER_RUNTIME_DIR"] = job.runtime_dir
    env.setdefault("PYTHONDONTWRITEBYTECODE", "1")
    uid = job.kernel_uid if job.kernel_uid >= 0 else None
    worker = LAUNCHER.start(job_path, Path(job.course_root), env, log_path,
                            worker_rlimits(limits, deadline, uid), preload=PRELOAD.get(job.assignment, ()))
    if running is not None:
        running.add(worker, uid)
    try:
        code, limit = _wait(worker, deadline, cap)
        why = (f"the grader crashed (exit code {code})" if code is not None
               else f"stopped: the submission ran past its budget of {limit} s")
    finally:
        worker.kill()    # whatever is left of the worker's group
        kill_user(uid)   # and of the kernels, wherever they went
        if running is not None:
            running.remove(worker)
    if running is not None and running.stopping.is_set():
        return None, "interrupted"
    data, _ = read_regular_file(job.result_path, 64 * 1024 ** 2)
    if code == 0 and data:
        return json.loads(data), ""
    tail = _tail(log_path)
    return None, why + (f": {tail}" if tail and code is not None else "")



KEPT = ("feedback", "autograded")   # the worker's files that come back, by kind
MAX_LOG_BYTES = 16 * 1024 ** 2
MAX_FILE_BYTES = 100 * 1024 ** 2        # a student's file larger than this is left out


def grade_parcel(parcel: Parcel, grading: Grading, template: Path, work: Path, uid: int | None,
                 running: _Running | None = None, cap: Cap | None = None) -> dict:
    """Grade one submission in its own worker process, as a uid of its own, on the machine
    this runs on (the batch's, or a cluster worker): returns its *outcome*, plain data::

        {"record": {...}, "files": {"feedback": {name: bytes}, "autograded": {...}}, "log": bytes}

    The worker's files are read back as regular files, without following links; nothing is
    written outside ``work``, which is left as it was found."""
    started = time.monotonic()
    root = work / "students" / parcel.student_id
    # short: Unix socket paths are limited to ~100 bytes; traversable by the kernel's uid
    runtime = tempfile.mkdtemp(prefix="cgk")
    os.chmod(runtime, 0o711)
    log_path = work / f"{parcel.student_id}.log"
    limits = Limits(**grading.limits)
    try:
        _prepare_course(template, root, grading.assignment, parcel)
        job = Job(assignment=grading.assignment, student=parcel.student_id, course_root=str(root),
                  runtime_dir=runtime, result_path=str(root / "result.json"), sandbox=grading.sandbox,
                  limits=grading.limits, feedback=grading.feedback, kernel_uid=-1 if uid is None else uid)
        record, why = run_worker(job, log_path, limits, grading.deadline, running, grading.environ, cap)
        if record is None:
            record = _error_record(parcel, grading.assignment, grading.max_score, why, transient=True)
        files: dict[str, dict[str, bytes]] = {}
        for kind in KEPT:
            for rel in record.get(kind, []):
                data, problem = read_regular_file(root / rel, MAX_FILE_BYTES)
                if not problem:
                    files.setdefault(kind, {})[Path(rel).name] = data
        record["seconds"] = round(time.monotonic() - started, 2)
        record["kernel_uid"] = uid
        log, _ = read_regular_file(log_path, MAX_LOG_BYTES)
        return {"record": record, "files": files, "log": log or b""}
    finally:
        shutil.rmtree(runtime, ignore_errors=True)
        shutil.rmtree(root, ignore_errors=True)
        with contextlib.suppress(OSError):
            log_path.unlink()



class GradersLost(RuntimeError):
    """The machines grading the batch went away (a cluster's scheduler): the batch stops,
    what was graded is kept."""


