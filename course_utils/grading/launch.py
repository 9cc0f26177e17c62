"""Start the worker of one submission: forked from a warm server, or as a new interpreter.

A fresh ``python -m course_utils.grading.worker`` spends about two seconds importing
nbgrader, nbconvert and jupyter_client before it grades anything: as long as the
grading of an A1 notebook itself. :class:`Launcher` keeps one *fork server* per
grading process, a child interpreter that has imported the worker module and does
nothing but fork (``python -m course_utils.grading.launch --serve MODULE``), and
starts each submission's worker as a fork of it: milliseconds instead of seconds,
nothing imported twice. A3's workers come from a server that has also imported Keras
and A3's trusted side (:data:`.trusted.PRELOAD`), about five seconds a submission; a
preloaded module's ``warm_fork_server()`` (:data:`WARM_HOOK`) then loads what every worker
would read again (A3: the grader's evaluation images, held copy-on-write by every fork).
Importing Keras and TensorFlow starts no thread of theirs (their pools start with the
first operation, in the worker); the one thread the import adds is numpy's OpenBLAS
pool, which handles a fork itself (``pthread_atfork``). (``multiprocessing``'s own fork server re-imports the
parent's ``__main__`` in every child, which costs what this saves.)

Every submission still gets a process of its own: a fresh fork of a server that has
run no grading code and holds no student data, in a new session (its process group
is what the batch kills), with the limits ``prlimit`` would give a new interpreter
(set on itself before it reads the job), exactly the environment, working folder and
log it is given, and stdin from /dev/null. When the grading process goes away, the
server kills the workers it forked and exits.

Where ``COURSE_GRADER_FORK=0`` is set, or the server cannot start, the worker is
started as a new interpreter under ``prlimit``: same job, same limits, same result.

The server speaks JSON lines: on stdin ``{"id", "module", "job", "cwd", "env", "log",
"limits"}``; on stdout ``{"id", "pid"}`` (or ``{"id", "error"}``) when a worker
started, and ``{"pid", "code"}`` when it ended (negative: the signal that ended it).
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import json
import os
import resource
import select
import shutil
import signal
import subprocess
import sys
import threading
import traceback
from pathlib import Path
from typing import NoReturn

from course_utils.grading.isolation import Limits

WORKER_MODULE = "course_utils.grading.worker"
#: A preloaded module's function of this name is called once by the fork server after the
#: imports: the grader's own data every worker would otherwise load (A3's evaluation images),
#: never anything of a student's.
WARM_HOOK = "warm_fork_server"
_PRLIMIT_NAMES = {resource.RLIMIT_AS: "as", resource.RLIMIT_CPU: "cpu", resource.RLIMIT_FSIZE: "fsize",
                  resource.RLIMIT_CORE: "core", resource.RLIMIT_NPROC: "nproc"}


def worker_rlimits(limits: Limits, cpu_seconds: int, kernel_uid: int | None) -> dict[int, int]:
    """The resource limits of a worker and of everything it starts (its kernels). The process
    count is limited only when the kernel gets a uid of its own: for the grader's own uid it
    would count the grader too."""
    values = {resource.RLIMIT_AS: limits.process_bytes, resource.RLIMIT_CPU: cpu_seconds,
              resource.RLIMIT_FSIZE: limits.max_file_bytes, resource.RLIMIT_CORE: 0}
    if kernel_uid is not None:
        values[resource.RLIMIT_NPROC] = limits.max_processes
    return values


# ----------------------------------------------------------------------------- the server
def _become_worker(request: dict) -> None:
    """In a fresh fork of the server: set up the worker's process, run it, never return."""
    code = 1
    try:
        os.setsid()
        for which, value in request["limits"].items():
            resource.setrlimit(int(which), (value, value))
        log = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.close(log)
        os.close(null)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGCHLD, signal.SIGPIPE):
            signal.signal(signum, signal.SIG_DFL)
        code = importlib.import_module(request["module"]).main([request["job"]])
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else 1
    except BaseException:  # noqa: BLE001 - the worker's own failure goes to its log
        traceback.print_exc()
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:  # noqa: BLE001
                pass
        os._exit(code if isinstance(code, int) else 1)


def serve(module: str, *preload: str) -> NoReturn:
    """The fork server's loop (``python -m course_utils.grading.launch --serve MODULE [PRELOAD ...]``):
    it ends the process when the grading process is gone."""
    for name in (module, *preload):  # the preload: every fork starts with them imported
        warm = getattr(importlib.import_module(name), WARM_HOOK, None)
        if callable(warm):
            with contextlib.suppress(Exception):  # a warm-up is an optimisation: the checks report the problem
                warm()
    # What the server holds now lives as long as it does: frozen, a worker's garbage collections
    # never walk it (nbgrader's, pandas', Keras' objects), nor touch its pages copy-on-write
    # (the gc module's documentation, on fork without exec)
    gc.freeze()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the batch's to handle
    out = sys.stdout
    children: set[int] = set()
    pending = b""

    def say(message: dict) -> None:
        out.write(json.dumps(message) + "\n")
        out.flush()

    while True:
        ready, _, _ = select.select([0], [], [], 0.02 if children else None)
        if ready:
            chunk = os.read(0, 1 << 20)
            if not chunk:  # the grading process is gone: so are its workers
                for pid in children:
                    with contextlib.suppress(ProcessLookupError, PermissionError):  # gone already
                        os.killpg(pid, signal.SIGKILL)
                # nothing left to write or release: no interpreter teardown (a third of a second
                # with nbgrader and pandas loaded), which whoever reads the grading process's
                # output would wait for, since the server shares its stderr
                out.flush()
                os._exit(0)
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                request = json.loads(line)
                out.flush()
                try:
                    pid = os.fork()
                except OSError as error:
                    say({"id": request["id"], "error": str(error)})
                    continue
                if pid == 0:
                    _become_worker(request)
                children.add(pid)
                say({"id": request["id"], "pid": pid})
        while children:
            pid, status = os.waitpid(-1, os.WNOHANG)
            if pid == 0:
                break
            children.discard(pid)
            say({"pid": pid, "code": os.waitstatus_to_exitcode(status)})


# ----------------------------------------------------------------------------- the client
class Worker:
    """A running worker: :attr:`pid` (also its process group), :meth:`wait`, :meth:`kill`."""

    def __init__(self, pid: int, wait) -> None:
        self.pid = pid
        self.code: int | None = None
        self._wait = wait

    def wait(self, timeout: float | None = None) -> int:
        """The exit code (negative: the signal that ended it); ``TimeoutError`` after ``timeout``."""
        if self.code is None:
            self.code = self._wait(timeout)
        return self.code

    def kill(self) -> None:
        """SIGKILL the worker's process group and the worker itself (even if it has not made its
        group yet), and wait until it is gone."""
        for send in (os.killpg, os.kill):
            with contextlib.suppress(ProcessLookupError, PermissionError):  # gone already
                send(self.pid, signal.SIGKILL)
        try:
            self.wait(30)
        except TimeoutError:
            pass


class _Server:
    """The client's end of one fork server."""

    def __init__(self, module: str, preload: tuple[str, ...] = ()) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", __name__, "--serve", module, *preload],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0)
        self.lock = threading.Lock()
        self.changed = threading.Condition(self.lock)
        self.started: dict[int, dict] = {}   # request id -> the server's answer
        self.ended: dict[int, int] = {}      # pid -> exit code (any number of threads may wait for it)
        self.alive = True
        self.next_id = 0
        threading.Thread(target=self._read, name="fork-server", daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            message = json.loads(line)
            with self.changed:
                if "code" in message:
                    self.ended[message["pid"]] = message["code"]
                else:  # a pid is reused only once its last owner's end was told
                    self.ended.pop(message.get("pid"), None)
                    self.started[message["id"]] = message
                self.changed.notify_all()
        with self.changed:
            self.alive = False
            self.changed.notify_all()

    def start(self, request: dict) -> int:
        with self.changed:
            if not self.alive:
                raise OSError("the fork server is gone")
            self.next_id += 1
            request = dict(request, id=self.next_id)
            self.proc.stdin.write((json.dumps(request) + "\n").encode())
            if not self.changed.wait_for(lambda: request["id"] in self.started or not self.alive, timeout=60):
                raise OSError("the fork server did not answer")
            answer = self.started.pop(request["id"], None)
        if answer is None or "error" in answer:
            raise OSError((answer or {}).get("error", "the fork server is gone"))
        return answer["pid"]

    def wait(self, pid: int, timeout: float | None) -> int:
        with self.changed:
            if not self.changed.wait_for(lambda: pid in self.ended or not self.alive, timeout=timeout):
                raise TimeoutError
            # a server gone mid-submission: the worker was killed with it
            return self.ended.get(pid, -signal.SIGKILL)


class Launcher:
    """Starts workers; forks them from a warm server whenever it can (see the module's text)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._servers: dict[tuple[str, ...], _Server] = {}

    @staticmethod
    def can_fork() -> bool:
        return os.environ.get("COURSE_GRADER_FORK", "1") != "0" and hasattr(os, "fork")

    def prestart(self, module: str = WORKER_MODULE, preload: tuple[str, ...] = ()) -> None:
        """Start the fork server of ``module`` now, without waiting for it: it imports its
        modules while the caller goes on (``course grade`` builds its template meanwhile), and
        the first :meth:`start` finds it warm or warming."""
        if self.can_fork():
            with contextlib.suppress(OSError):
                self._server(module, tuple(preload))

    def _server(self, module: str, preload: tuple[str, ...]) -> _Server:
        with self._lock:
            server = self._servers.get((module, *preload))
            if server is None or not server.alive:
                server = self._servers[(module, *preload)] = _Server(module, preload)
            return server

    def start(self, job_path: Path, cwd: Path, env: dict[str, str], log_path: Path,
              limits: dict[int, int], module: str = WORKER_MODULE, preload: tuple[str, ...] = ()) -> Worker:
        """Run ``module.main([job_path])`` in a new process with ``limits`` (:func:`worker_rlimits`),
        in ``cwd`` with exactly ``env``, stdin from /dev/null, stdout and stderr to ``log_path``.
        ``preload``: more modules the fork server imports once for all its workers (A3's
        trusted side: Keras, :data:`.trusted.PRELOAD`); a new interpreter imports them itself."""
        if self.can_fork():
            try:
                server = self._server(module, tuple(preload))
                pid = server.start({"module": module, "job": str(job_path), "cwd": str(cwd), "env": env,
                                    "log": str(log_path), "limits": limits})
            except OSError:
                pass  # started as a new interpreter below
            else:
                return Worker(pid, lambda timeout: server.wait(pid, timeout))
        return self._spawn(job_path, cwd, env, log_path, limits, module)

    @staticmethod
    def _spawn(job_path: Path, cwd: Path, env: dict[str, str], log_path: Path, limits: dict[int, int],
               module: str) -> Worker:
        cmd = [shutil.which("prlimit") or "prlimit", *(f"--{_PRLIMIT_NAMES[k]}={v}" for k, v in limits.items()),
               "--", sys.executable, "-m", module, str(job_path)]
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=log,
                                    stderr=subprocess.STDOUT, start_new_session=True)

        def wait(timeout):
            try:
                return proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                raise TimeoutError from None

        return Worker(proc.pid, wait)


#: The grading process's launcher (one fork server per process, started on first use).
LAUNCHER = Launcher()


if __name__ == "__main__":
    if sys.argv[1:2] != ["--serve"] or len(sys.argv) < 3:
        print("usage: python -m course_utils.grading.launch --serve MODULE [PRELOAD ...]", file=sys.stderr)
        sys.exit(2)
    serve(*sys.argv[2:])
