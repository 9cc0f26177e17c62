"""``course grade ... --cluster ADDRESS``: the same batch, its submissions graded on a Dask cluster.

The batch (:mod:`.batch`) does everything it does locally: it reads the
students' files, fingerprints them, reuses what is unchanged, and alone writes
``grades.csv``, the feedback, the logs and the cache. Only the grading of one
submission moves: :class:`ClusterPool` sends it to a worker of a Dask
distributed cluster (``tcp://HOST:8786``, or ``local:N`` for N worker processes
started here) as plain data (the student's files as bytes, the grading
settings, the course template as a tar), and :func:`grade_on_worker` runs
there the same :func:`.parcel.grade_parcel` as ``--jobs`` does: the worker
process of :mod:`.worker` in its own sandbox, uid, limits and deadline, the
trusted checker beside it. The result record, the feedback and the log come
back as bytes.

Failures:

* a worker that dies while grading a submission: the scheduler re-queues it once
  (the batch sets the scheduler's ``allowed-failures`` to 1); a second death makes
  the submission an ``error`` row naming the worker (not cached: the next run
  grades it again);
* the scheduler going away: :class:`.batch.GradersLost`, the batch stops with
  what was graded written;
* Ctrl-C: the queued tasks are cancelled and the submissions being graded are
  killed on their workers;
* a worker whose grader code or libraries differ from this machine's, or whose
  sandbox does not work, grades nothing: its submissions are ``error`` rows that
  say so.

Deployment (Kubernetes, Slurm, the worker image): docs/grading-cluster.md.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import io
import logging
import os
import re
import shutil
import tarfile
import tempfile
import threading
import uuid
from concurrent.futures import CancelledError
from pathlib import Path
from typing import Callable

import course_utils
from course_utils.grading.parcel import (
    FINGERPRINTED,
    GradersLost,
    Grading,
    Parcel,
    UsageError,
    _error_record,
    _Running,
    grade_parcel,
)
from course_utils.grading.isolation import UIDS, SandboxUnavailable, detect_sandbox

#: How long to wait for the scheduler to answer, and for its first worker (seconds).
CONNECT_TIMEOUT = float(os.environ.get("COURSE_CLUSTER_TIMEOUT", "20"))
LOCAL = re.compile(r"local(?::(.*))?")
ADDRESS = re.compile(r"(?:(tcp|tls|inproc|ucx|ws|wss)://)?\[?[A-Za-z0-9_.:-]+\]?(?::\d+)?")
HOW = ("give the scheduler's address (tcp://HOST:8786, see docs/grading-cluster.md), "
       "or local:N to start N worker processes on this machine")


def code_fingerprint() -> str:
    """The grader's own code and the libraries that run it: a worker grades only where these
    are this machine's (the results' fingerprints say so)."""
    digest = hashlib.sha256()
    for name in FINGERPRINTED:
        try:
            digest.update(f"{name}={importlib.metadata.version(name)};".encode())
        except importlib.metadata.PackageNotFoundError:
            pass
    package = Path(course_utils.__file__).parent
    for path in sorted(package.rglob("*.py")):
        digest.update(path.relative_to(package).as_posix().encode() + path.read_bytes())
    return digest.hexdigest()


def pack_template(template: Path) -> bytes:
    """The course template (source, release, gradebook) as a gzipped tar."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for part in ("source", "release", "gradebook.db"):
            tar.add(template / part, arcname=part)
    return buffer.getvalue()


# ----------------------------------------------------------------------------- on a worker
_LOCK = threading.Lock()
_CHECKED: dict[str, str | None] = {}     # per worker process: what is wrong with it (None: nothing)
_BATCHES: dict[str, _Running] = {}       # the grading processes of each batch, for Ctrl-C


def _problem_here(grading: Grading, code: str) -> str | None:
    with _LOCK:
        key = f"{grading.sandbox}:{code}"
        if key not in _CHECKED:
            if code_fingerprint() != code:
                _CHECKED[key] = ("it runs other grader code or library versions than the machine that started "
                                 "the batch: install the same course package and libraries on the workers "
                                 "(docs/grading-cluster.md)")
            else:
                try:
                    detect_sandbox(grading.sandbox, install=False, log=lambda message: None)
                    _CHECKED[key] = None
                except (SandboxUnavailable, ValueError) as exc:
                    _CHECKED[key] = f"its sandbox {grading.sandbox!r} does not work: {exc}"
        return _CHECKED[key]


def _template_here(base: Path, digest: str, data: bytes) -> Path:
    """The course template, unpacked once per worker process and template."""
    target = base / f"course-template-{digest[:16]}"
    with _LOCK:
        if not target.is_dir():
            partial = Path(tempfile.mkdtemp(prefix="course-template-", dir=base))
            with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
                tar.extractall(partial, filter="data")
            partial.rename(target)
    return target


def grade_on_worker(parcel: Parcel, grading: Grading, template_digest: str, template: bytes, code: str,
                    batch: str) -> dict:
    """A Dask task: grade one submission on this worker, as :func:`.parcel.grade_parcel` does
    locally, and return its outcome (plain data) with the worker's address."""
    from distributed import get_worker

    worker = get_worker()
    base = Path(worker.local_directory)
    problem = _problem_here(grading, code)
    if problem:
        record = _error_record(parcel, grading.assignment, grading.max_score,
                               f"not graded: worker {worker.address}: {problem}", transient=True)
        return {"record": record, "files": {}, "log": b"", "worker": worker.address}
    root = _template_here(base, template_digest, template)
    work = Path(tempfile.mkdtemp(prefix="course-grade-", dir=base))
    with _LOCK:
        running = _BATCHES.setdefault(batch, _Running())
    uid = UIDS.take()
    try:
        outcome = grade_parcel(parcel, grading, root, work, uid, running)
    finally:
        UIDS.release(uid)
        shutil.rmtree(work, ignore_errors=True)
    outcome["worker"] = worker.address
    return outcome


def stop_batch(batch: str) -> int:
    """Run on every worker when the batch is interrupted: kill its grading processes."""
    with _LOCK:
        running = _BATCHES.setdefault(batch, _Running())
    count = len(running.procs)
    running.kill_all()
    return count


def _requeue_once(dask_scheduler=None) -> int:
    """Run on the scheduler: a task whose worker dies is re-queued once, not three times."""
    previous = dask_scheduler.allowed_failures
    dask_scheduler.allowed_failures = 1
    return previous


# ----------------------------------------------------------------------------- the batch's side
def parse_address(address: str) -> tuple[str, int | None]:
    """``("local", N)`` or ``(address, None)``; :class:`UsageError` says what is wrong."""
    text = address.strip()
    local = LOCAL.fullmatch(text)
    if local:
        count = local.group(1)
        if count is None or not count.strip().isdigit() or int(count) < 1:
            raise UsageError(f"--cluster {address!r}: local:N needs a number of worker processes, at least 1 "
                             "(e.g. --cluster local:4)")
        return "local", int(count)
    if not text or not ADDRESS.fullmatch(text):
        raise UsageError(f"--cluster {address!r} is not a scheduler address: {HOW}")
    return text, None


class ClusterPool:
    """The :class:`.batch.LocalPool` interface, on a Dask cluster."""

    def __init__(self, address: str, log: Callable[[str], None] = lambda m: None,
                 timeout: float | None = None) -> None:
        import dask
        from distributed import Client, LocalCluster

        self.address, count = parse_address(address)
        timeout = CONNECT_TIMEOUT if timeout is None else timeout
        self.log = log
        self.batch = uuid.uuid4().hex
        self.cluster = None
        self.client = None
        self.template: tuple[str, bytes] | None = None
        self.code = code_fingerprint()
        # the batch says itself what went wrong with the cluster (not distributed's tracebacks)
        logging.getLogger("distributed.client").setLevel(logging.CRITICAL)
        self._stopping = False
        self._sent: dict[str, tuple[Parcel, Grading]] = {}
        try:
            if count is not None:
                with dask.config.set({"distributed.scheduler.allowed-failures": 1}):
                    self.cluster = LocalCluster(n_workers=count, threads_per_worker=1, processes=True,
                                                dashboard_address=None, silence_logs=logging.ERROR)
                self.client = Client(self.cluster, set_as_default=False)
            else:
                self.client = Client(self.address, timeout=timeout, set_as_default=False)
        except (OSError, TimeoutError) as exc:
            self.close()
            raise UsageError(f"cannot reach the Dask scheduler at {self.address} ({type(exc).__name__}: "
                             f"{exc}). Is the scheduler running, and is its port open to this machine? Else "
                             f"{HOW}, or grade here with --jobs N. Nothing was graded.") from None
        try:
            self.client.wait_for_workers(1, timeout=timeout)
        except (TimeoutError, OSError):
            self.close()
            raise UsageError(f"the Dask scheduler at {self.address} has no worker after {timeout:g} s: start "
                             "workers (`dask worker ADDRESS`, see docs/grading-cluster.md). Nothing was graded.") from None
        if count is None:
            try:
                previous = self.client.run_on_scheduler(_requeue_once)
                if previous != 1:
                    log(f"note: the scheduler's allowed-failures was {previous}; set to 1 (a submission whose "
                        "worker dies is re-queued once)")
            except Exception as exc:  # a scheduler that refuses to run code keeps its own setting
                log(f"warning: could not set the scheduler's allowed-failures to 1 ({exc}): a submission whose "
                    "worker dies is re-queued as often as the scheduler allows")

    def describe(self) -> str:
        workers = self.client.scheduler_info(n_workers=-1)["workers"] if self.client else {}
        threads = sum(w.get("nthreads", 1) for w in workers.values())
        where = f"local:{len(workers)}" if self.cluster is not None else self.address
        return f"cluster: {where} ({len(workers)} worker(s), {threads} thread(s))"

    @property
    def capacity(self) -> int:
        try:
            return max(1, sum(self.client.nthreads().values()))
        except Exception:
            return 1

    def start(self, template: Path, work: Path) -> None:
        data = pack_template(template)
        self.template = (hashlib.sha256(data).hexdigest(), data)

    def submit(self, parcel: Parcel, grading: Grading):
        digest, data = self.template
        key = f"course-grade-{parcel.student_id}-{uuid.uuid4().hex[:8]}"
        self._sent[key] = (Parcel(parcel.student_id), grading)
        return self.client.submit(grade_on_worker, parcel, grading, digest, data, self.code, self.batch,
                                  key=key, pure=False, retries=0)

    def _lost(self) -> GradersLost:
        return GradersLost(f"the Dask scheduler at {self.address} went away: the batch stopped; what was graded "
                           "is in grades.csv and results/ (start the scheduler again and re-run the same command "
                           "to grade the rest)")

    def wait(self, pending: set, timeout: float) -> tuple[set, set]:
        from distributed import wait as dask_wait

        if self.client.status not in ("running", "connecting"):
            raise self._lost()
        try:
            with self.client.as_current():
                done, not_done = dask_wait(list(pending), timeout=timeout, return_when="FIRST_COMPLETED")
        except TimeoutError:
            return set(), pending
        except CancelledError:  # distributed's FuturesCancelledError: the scheduler went away
            raise self._lost() from None
        return set(done), set(not_done)

    def outcome(self, future) -> dict:
        from distributed.scheduler import KilledWorker

        parcel, grading = self._sent.pop(future.key)
        if future.cancelled():
            raise self._lost()
        try:
            return future.result()
        except KilledWorker as exc:
            worker = getattr(exc.last_worker, "address", exc.last_worker)
            message = (f"the cluster worker grading this submission died twice (it was re-queued once); "
                       f"the last was {worker}: see that worker's log")
        except Exception as exc:
            if self.client.status != "running" or future.cancelled():
                raise self._lost() from None
            message = f"could not grade on the cluster: {type(exc).__name__}: {exc}"
        record = _error_record(parcel, grading.assignment, grading.max_score, message, transient=True)
        return {"record": record, "files": {}, "log": b""}

    @property
    def stopping(self) -> bool:
        return self._stopping

    def stop(self, pending: set) -> None:
        """Interrupted: cancel the queued tasks, kill the submissions being graded."""
        self._stopping = True
        if self.client is None or self.client.status != "running":
            return
        try:
            self.client.cancel(list(pending), force=True)
            self.client.run(stop_batch, self.batch)
        except Exception:
            pass

    def close(self) -> None:
        client, cluster = getattr(self, "client", None), self.cluster
        self.client = None
        if client is not None:
            try:
                client.close(timeout=10)
            except Exception:
                pass
        if cluster is not None:
            try:
                cluster.close(timeout=10)
            except Exception:
                pass
