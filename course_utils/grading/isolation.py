"""Run untrusted student code with limits, as an unprivileged user, in a sandbox.

The threat model and what each mode guarantees are in docs/grading.md
("Isolation"). In short, for every submission:

1. **The worker** (:mod:`.worker`, nbgrader, trusted) runs in its own process,
   started by :mod:`.launch` with the submission's limits and a deadline.
2. **The kernel** that runs the student's code is started by
   :class:`SandboxedKernelManager`, never as root: when the grader is root the
   kernel runs as a uid of its own (one per job slot, :class:`KernelUids`),
   so a process-count limit holds per submission and the batch can kill every
   process the submission started (:func:`kill_user`). It gets a clean
   environment and works on a *copy* of the student's files in a private
   folder: nothing the kernel writes is ever read back, followed or copied by
   the trusted side, which writes the autograded notebook where the kernel
   cannot reach.

   ``bwrap``     bubblewrap: no network, own PID namespace (everything dies
                 with the kernel), a file system with only the operating system,
                 Python, ``course_utils`` and a size-limited ``/tmp`` and working
                 folder (tmpfs, counted in ``--memory``) holding the copy; the
                 reference code of the assignment (:mod:`.absent`) is not in it.
   ``unshare``   (root only) ``unshare --net --pid --mount`` and the kernel's own
                 uid: no network, nothing outlives the kernel, the reference code
                 hidden as in bubblewrap, but the rest of the file system is
                 visible as to any unprivileged user.
   ``none``      only with an explicit ``--sandbox none``: limits and a clean
                 environment (and the kernel's own uid when root).

The kernel talks to the grader over Unix sockets (ZeroMQ ``ipc`` transport) in
a fresh private folder per kernel, so cutting the network does not cut it off.
``COURSE_SANDBOX`` (``auto``, ``bwrap``, ``unshare`` or ``none``) overrides the
choice; with ``auto`` and root rights on a Debian machine the grader installs
bubblewrap with apt-get once (``COURSE_SANDBOX_INSTALL=0`` forbids that).
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from jupyter_client.manager import AsyncKernelManager
from traitlets import Bool, Integer, Unicode

from course_utils._quiet import CORRECTNESS_ENV

SANDBOX_KINDS = ("bwrap", "unshare", "none")

#: Where the student's notebook folder appears inside the bubblewrap sandbox.
SANDBOX_HOME = "/home/student"

#: A kernel started by a root grader runs as this uid plus its job's slot (0, 1, ...).
#: No account of that uid should exist; ``COURSE_KERNEL_UID`` moves the range.
KERNEL_UID_BASE = int(os.environ.get("COURSE_KERNEL_UID", "61000"))

#: Environment variables passed from the grader to the kernel (everything else
#: is dropped, NBGRADER_EXECUTION included: see docs/grading.md). The bubblewrap
#: sandbox shows the dataset files of the ``COURSE_DATA_MIRROR`` folders read-only
#: (:func:`_mirror_mounts`), so the kernel loads the data the grader has.
PASSED_ENV = ("LANG", "LC_ALL", "TZ", "COURSE_QUICK", "COURSE_OFFLINE", "COURSE_DATASET", "COURSE_DATA_MIRROR")

#: What the kernel may see of /etc: the dynamic linker, locale, time zone, TLS
#: certificates and fonts. Not passwords, keys or the rest of the machine's set-up.
ETC_ALLOWED = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "alternatives", "localtime", "timezone",
               "nsswitch.conf", "hosts", "ssl", "ca-certificates", "fonts", "mime.types", "matplotlibrc")

#: Fixed settings of the kernel's environment.
KERNEL_ENV = {
    # TensorFlow / absl / gRPC logging to stderr would score a passing test as failed.
    "TF_CPP_MIN_LOG_LEVEL": "3",
    **CORRECTNESS_ENV,  # oneDNN off: wrong strided 1x1 convolution gradients otherwise (course_utils._quiet)
    "GRPC_VERBOSITY": "ERROR",
    "KERAS_BACKEND": "tensorflow",
    # One thread per maths library: parallel grading must not oversubscribe the CPUs.
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "TF_NUM_INTRAOP_THREADS": "1",
    "TF_NUM_INTEROP_THREADS": "1",
    "MPLBACKEND": "Agg",
    "PYTHONNOUSERSITE": "1",
    "PYTHONDONTWRITEBYTECODE": "1",
}


class SandboxUnavailable(RuntimeError):
    """No sandbox that keeps the guarantees of docs/grading.md works on this machine."""


@dataclass(frozen=True)
class Limits:
    """Resource limits of one submission (worker process and kernel alike)."""

    cell_timeout: int = 30                 # seconds one cell may run
    memory_bytes: int = 4 * 1024 ** 3      # the submission's memory: processes plus its /tmp and folder
    max_file_bytes: int = 256 * 1024 ** 2  # largest file a process may write
    max_output_chars: int = 20_000         # kept output text per cell
    max_processes: int = 512               # processes and threads of the kernel's uid (root graders)
    budget_seconds: int = 0                # wall clock of a whole submission; 0: from the reference run
    budget_floor: int = 60                 # the least budget the reference run can set

    @property
    def scratch_bytes(self) -> int:
        """Size of each of the kernel's two tmpfs (``/tmp`` and the home folder)."""
        return min(256 * 1024 ** 2, self.memory_bytes // 8)

    @property
    def process_bytes(self) -> int:
        """Address space of each process: what is left of ``memory_bytes`` after the tmpfs."""
        return self.memory_bytes - 2 * self.scratch_bytes

    def submission_timeout(self, n_cells: int) -> int:
        """Upper bound on a whole submission: every cell may time out once,
        plus the start-up of the worker, the kernel (twice) and the feedback."""
        return self.cell_timeout * max(n_cells, 1) + 120


#: Default budget of a submission: this many times the reference solution's time, at least
#: :attr:`Limits.budget_floor`.
BUDGET_FACTOR = 10


def budget(limits: Limits, n_cells: int, reference_seconds: float | None) -> int:
    """Seconds a whole submission may take (see :class:`Limits.budget_seconds`)."""
    ceiling = limits.submission_timeout(n_cells)
    if limits.budget_seconds:
        return limits.budget_seconds
    if reference_seconds is None:
        return ceiling
    return min(ceiling, max(limits.budget_floor, int(BUDGET_FACTOR * reference_seconds) + 1))


# ----------------------------------------------------------------------------- users
#: Lock files of the kernel uids in use (root-only folder): concurrent batches never share a uid.
UID_LOCKS = Path(os.environ.get("COURSE_KERNEL_UID_LOCKS", "/tmp/course-kernel-uids"))
UID_RANGE = 4096


class KernelUids:
    """The kernel uids this process holds. :meth:`take` locks a free uid of
    ``KERNEL_UID_BASE .. + UID_RANGE`` (``flock`` on a file in :data:`UID_LOCKS`, released
    with the file or the process), kills whatever a crashed batch left running as it, and
    returns it; None when the grader is not root (kernels then run as the grader)."""

    def __init__(self) -> None:
        self._held: dict[int, int] = {}
        self._lock = threading.Lock()

    def take(self) -> int | None:
        if os.geteuid() != 0:
            return None
        folder = _lock_folder()
        with self._lock:
            for uid in range(KERNEL_UID_BASE, KERNEL_UID_BASE + UID_RANGE):
                if uid in self._held:
                    continue
                fd = os.open(folder / f"{uid}.lock", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    os.close(fd)
                    continue
                self._held[uid] = fd
                break
            else:
                raise SandboxUnavailable(f"all {UID_RANGE} kernel uids from {KERNEL_UID_BASE} are in use")
        kill_user(uid)
        return uid

    def release(self, uid: int | None) -> None:
        if uid is None:
            return
        kill_user(uid)
        with self._lock:
            fd = self._held.pop(uid, None)
        if fd is not None:
            os.close(fd)

    @contextlib.contextmanager
    def one(self):
        uid = self.take()
        try:
            yield uid
        finally:
            self.release(uid)


def _lock_folder() -> Path:
    UID_LOCKS.mkdir(mode=0o700, exist_ok=True)
    info = UID_LOCKS.lstat()
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != 0 or info.st_mode & 0o022:
        raise SandboxUnavailable(f"{UID_LOCKS} is not a folder that only root may write: remove it, "
                                 "or set COURSE_KERNEL_UID_LOCKS to another path")
    return UID_LOCKS


#: The uids of this process's batches and probes.
UIDS = KernelUids()


def _setpriv(uid: int | None) -> list[str]:
    if uid is None:
        return []
    return ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--"]


def processes_of(uid: int) -> list[int]:
    """PIDs of the live processes whose real uid is ``uid`` (zombies, already dead and
    waiting for their parent to reap them, are not counted)."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/status", "rb") as handle:
                fields = dict(line.split(b":", 1) for line in handle if b":" in line)
        except OSError:
            continue
        try:
            if int(fields[b"Uid"].split()[0]) == uid and not fields.get(b"State", b"").strip().startswith(b"Z"):
                pids.append(int(entry))
        except (KeyError, ValueError, IndexError):
            continue
    return pids


def kill_user(uid: int | None, timeout: float = 10.0) -> int:
    """SIGKILL every process of ``uid`` until none is left (a fork loop included);
    returns how many were killed."""
    if uid is None or os.geteuid() != 0:
        return 0
    killed = 0
    deadline = time.monotonic() + timeout
    while True:
        pids = processes_of(uid)
        if not pids or time.monotonic() > deadline:
            return killed
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
                killed += 1
            except ProcessLookupError:
                pass
        time.sleep(0.02)


# ----------------------------------------------------------------------------- safe copies
def copy_regular_files(src: Path, dest: Path, max_bytes: int, skip: Callable[[str], bool] = lambda rel: False,
                       uid: int | None = None) -> list[str]:
    """Copy the regular files under ``src`` to ``dest`` without following any link.

    Entries are looked at with ``lstat``, files opened with ``O_NOFOLLOW``; links,
    devices, FIFOs and sockets are left out, and so is everything past ``max_bytes``.
    Returns notes on what was left out (names escaped). ``uid`` owns the copies.
    """
    notes: list[str] = []
    budget_left = max_bytes
    dest.mkdir(parents=True, exist_ok=True)
    for folder, dirs, files in os.walk(src, followlinks=False):
        rel_dir = os.path.relpath(folder, src)
        for name in sorted(dirs):
            rel = os.path.normpath(os.path.join(rel_dir, name))
            if os.path.islink(os.path.join(folder, name)):
                notes.append(f"{shown_name(rel)} (a link)")
                dirs.remove(name)
            elif skip(rel):
                dirs.remove(name)
        for name in sorted(files):
            rel = os.path.normpath(os.path.join(rel_dir, name))
            if skip(rel):
                continue
            data, problem = read_regular_file(os.path.join(folder, name), budget_left)
            if problem:
                notes.append(f"{shown_name(rel)} ({problem})")
                continue
            budget_left -= len(data)
            target = dest / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
    if uid is not None:
        chown_tree(dest, uid)
    return notes


def read_regular_file(path: str | os.PathLike, max_bytes: int) -> tuple[bytes, str | None]:
    """The bytes of ``path`` if it is a regular file of at most ``max_bytes``, read without
    following a link; else ``(b"", why not)``."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        if os.path.islink(path):
            return b"", "a link"
        return b"", f"unreadable: {exc.strerror}"
    try:
        return _read_open_file(fd, max_bytes)
    except OSError as exc:  # an I/O error half-way, a file system that went away
        return b"", f"unreadable: {exc.strerror or exc}"
    finally:
        os.close(fd)


def _read_open_file(fd: int, max_bytes: int) -> tuple[bytes, str | None]:
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        return b"", "not a regular file"
    if info.st_size > max_bytes:
        return b"", f"{info.st_size / 1024 ** 2:.0f} MB, over the size limit"
    chunks, total = [], 0
    while True:
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            break
        total += len(chunk)
        if total > max_bytes:  # grew while being read
            return b"", "over the size limit"
        chunks.append(chunk)
    return b"".join(chunks), None


def chown_tree(root: Path, uid: int) -> None:
    for folder, dirs, files in os.walk(root, followlinks=False):
        os.chown(folder, uid, uid, follow_symlinks=False)
        for name in dirs + files:
            os.chown(os.path.join(folder, name), uid, uid, follow_symlinks=False)


def shown_name(name: str) -> str:
    """A file name safe to print: undecodable bytes and control characters escaped."""
    text = os.fsencode(name).decode("utf-8", errors="backslashreplace")
    return "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in text)


# ----------------------------------------------------------------------------- detection
def _runs(cmd: list[str]) -> bool:
    try:
        return subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, timeout=30, cwd="/").returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


_install_tried: list[bool] = []


def _install_bubblewrap(log: Callable[[str], None]) -> bool:
    """apt-get install bubblewrap, as root on Debian only, once per process;
    True when bwrap is then on PATH."""
    if _install_tried or os.environ.get("COURSE_SANDBOX_INSTALL", "1") == "0":
        return False
    _install_tried.append(True)
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        return False
    log("bubblewrap is missing: installing the Debian package 'bubblewrap' (set COURSE_SANDBOX_INSTALL=0 to skip)")
    from course_utils.system import ensure_bubblewrap

    return ensure_bubblewrap(log=lambda m: None) is not None


@functools.lru_cache(maxsize=None)
def _bwrap_works() -> bool:
    if shutil.which("bwrap") is None:
        return False
    with tempfile.TemporaryDirectory() as empty, UIDS.one() as uid:
        os.chmod(empty, 0o755)
        return _runs(bwrap_prefix(empty, empty, "probe", Limits(), uid=uid) + ["true"])


def _unshare_cmd() -> list[str]:
    return ["unshare", "--net", "--pid", "--mount", "--fork", "--kill-child", "--"]


@functools.lru_cache(maxsize=None)
def _python_for_others() -> bool:
    """Whether the kernel's Python and packages are usable by the kernel's own uid outside a
    sandbox (not when they live below a folder only root may enter, such as ``/root``)."""
    with UIDS.one() as uid:
        return _runs(_setpriv(uid) + _PYTHON_PROBE)


_PYTHON_PROBE = [sys.executable, "-c", "import course_utils, ipykernel"]


@functools.lru_cache(maxsize=None)
def _unshare_works() -> bool:
    if os.geteuid() != 0 or shutil.which("unshare") is None or shutil.which("setpriv") is None:
        return False
    with UIDS.one() as uid:
        return _python_for_others() and _runs(_unshare_cmd() + _setpriv(uid) + _PYTHON_PROBE)


OTHERS_PYTHON = (f"the kernel's Python ({sys.executable}, really {os.path.realpath(sys.executable)}) cannot be "
                 "run by an unprivileged user here: install the course where other users can read it, use "
                 "bubblewrap, or grade as an ordinary user")


NONE_WARNING = ("warning: --sandbox none: student code runs without a sandbox{who}: it can read every "
                "file you can read (the solutions included), use the network, and, as your user, write "
                "your files and outlive its submission (see docs/grading.md)")


def detect_sandbox(preferred: str | None = None, install: bool = True,
                   log: Callable[[str], None] | None = None) -> str:
    """The sandbox to grade in: ``bwrap``, ``unshare`` or ``none``.

    ``preferred`` (default: ``COURSE_SANDBOX`` or ``auto``): ``auto`` takes bubblewrap,
    else (as root) ``unshare`` with a warning; ``bwrap`` and ``unshare`` insist on that
    kind. When nothing that keeps student code unprivileged and short-lived works,
    :class:`SandboxUnavailable` says so: grading without one takes an explicit ``none``.
    """
    say = log or (lambda message: print(message, file=sys.stderr))
    wanted = (preferred or os.environ.get("COURSE_SANDBOX") or "auto").strip().lower()
    if wanted not in SANDBOX_KINDS + ("auto",):
        raise ValueError(f"sandbox {wanted!r} is not one of auto, {', '.join(SANDBOX_KINDS)}")
    if wanted == "none":
        if os.geteuid() == 0 and not _python_for_others():
            raise SandboxUnavailable("--sandbox none as root runs student code as an unprivileged uid, but "
                                     + OTHERS_PYTHON)
        who = " (as an unprivileged uid of its own)" if os.geteuid() == 0 else " with your user's rights"
        say(NONE_WARNING.format(who=who))
        return "none"
    if wanted in ("auto", "bwrap"):
        if install and wanted == "auto" and shutil.which("bwrap") is None:
            _install_bubblewrap(say)
        if _bwrap_works():
            return "bwrap"
        if wanted == "bwrap":
            raise SandboxUnavailable("bubblewrap is missing or not allowed to create user namespaces here "
                                     "(install the package 'bubblewrap'; in a container, allow user namespaces)")
    if _unshare_works():
        if wanted == "auto":
            say("warning: bubblewrap is missing or not allowed here: grading in the 'unshare' sandbox "
                "(no network, own user and PID namespace, but student code can read any file that any "
                "user may read: see docs/grading.md)")
        return "unshare"
    why = ("the 'unshare' fallback needs root (to run student code as a uid of its own)"
           if os.geteuid() != 0 else "unshare --net --pid and setpriv do not work here"
           if _python_for_others() else OTHERS_PYTHON)
    raise SandboxUnavailable(
        f"no sandbox works on this machine: bubblewrap is missing or not allowed, and {why}. Install the "
        "package 'bubblewrap', or pass --sandbox none to grade without isolation (student code then runs "
        "with your rights, can read the solutions and use the network)")


# ----------------------------------------------------------------------------- kernel
def kernel_environment(home: str) -> dict[str, str]:
    """The whole environment of a grading kernel (nothing else leaks from the grader)."""
    venv_bin = str(Path(sys.executable).parent)
    env = {key: os.environ[key] for key in PASSED_ENV if key in os.environ}
    env.setdefault("LANG", "C.UTF-8")
    env.update(KERNEL_ENV)
    env.update({
        "PATH": os.pathsep.join([venv_bin, "/usr/local/bin", "/usr/bin", "/bin"]),
        "HOME": home,
        "IPYTHONDIR": os.path.join(home, ".ipython"),
        "MPLCONFIGDIR": os.path.join(home, ".config", "matplotlib"),
        "KERAS_HOME": os.path.join(home, ".keras"),
        "TMPDIR": "/tmp",
    })
    return env


def _package_dir() -> str:
    import course_utils

    return str(Path(course_utils.__file__).resolve().parent)


def _site_folders() -> list[str]:
    """The folders Python may import installed packages from (the venv's, the base Python's)."""
    import sysconfig

    found: list[str] = []
    for prefix in (sys.prefix, sys.base_prefix):
        for key in ("purelib", "platlib"):
            path = os.path.realpath(sysconfig.get_paths(vars={"base": prefix, "platbase": prefix})[key])
            if os.path.isdir(path) and path not in found:
                found.append(path)
    return found


def hidden_folders(assignment: str) -> list[tuple[str, set[str]]]:
    """``(folder, entries to hide)`` for every folder that holds reference code of
    ``assignment`` (:mod:`.absent`); parents before the folders inside them."""
    from course_utils.grading.absent import absent_modules, hidden_entries, module_folders

    if not absent_modules(assignment):
        return []
    package = _package_dir()
    views = []
    folders = [package, os.path.join(package, "__pycache__"), *module_folders(assignment, package),
               *_site_folders()]
    for folder in dict.fromkeys(folders):
        if os.path.isdir(folder):
            hidden = hidden_entries(folder, assignment, package)
            if hidden:
                views.append((folder, hidden))
    return views


def _bwrap_hide(assignment: str) -> list[str]:
    """bwrap arguments that replace each folder of :func:`hidden_folders` by a read-only view
    without the hidden entries: an empty tmpfs with every other entry bound back."""
    args: list[str] = []
    for folder, hidden in hidden_folders(assignment):
        args += ["--perms", "0755", "--tmpfs", folder]
        for name in sorted(os.listdir(folder)):
            if name in hidden:
                continue
            path = os.path.join(folder, name)
            if os.path.islink(path):
                args += ["--symlink", os.readlink(path), path]
            else:
                args += ["--ro-bind", path, path]
        args += ["--remount-ro", folder]
    return args


#: Run as root in the ``unshare`` sandbox's own mount namespace before the kernel's uid takes
#: over: the views of :func:`_bwrap_hide`, made with mount(2) (argv: views as JSON, a staging
#: folder, then the command to exec).
_MOUNT_VIEWS = r"""
import ctypes, json, os, sys
libc = ctypes.CDLL(None, use_errno=True)
def mount(source, target, kind, flags, data=None):
    enc = lambda v: v.encode() if v is not None else None
    if libc.mount(enc(source), enc(target), enc(kind), flags, enc(data)) != 0:
        err = ctypes.get_errno()
        sys.exit(f"cannot hide the reference code: mount {target}: {os.strerror(err)}")
BIND, REC, REMOUNT, RDONLY = 4096, 16384, 32, 1
views, stage = json.loads(sys.argv[1]), sys.argv[2]
os.makedirs(stage, mode=0o700)
for i, (folder, hidden) in enumerate(views):
    original = os.path.join(stage, str(i))
    os.mkdir(original, 0o700)
    mount(folder, original, None, BIND)
    mount("course-view", folder, "tmpfs", 0, "mode=755,size=1m")
    for name in sorted(os.listdir(original)):
        if name in hidden:
            continue
        source, target = os.path.join(original, name), os.path.join(folder, name)
        if os.path.islink(source):
            os.symlink(os.readlink(source), target)
            continue
        if os.path.isdir(source):
            os.mkdir(target)
        else:
            open(target, "w").close()
        mount(source, target, None, BIND | REC)
    mount("none", folder, None, REMOUNT | RDONLY)
    libc.umount2(original.encode(), 2)
os.execvp(sys.argv[3], sys.argv[3:])
"""


def unshare_hide_prefix(assignment: str, stage: str) -> list[str]:
    """The command that makes, in the ``unshare`` sandbox, the views :func:`_bwrap_hide` makes in
    bubblewrap (empty when ``assignment`` hides nothing), to be followed by the kernel's command."""
    import json

    views = [[folder, sorted(hidden)] for folder, hidden in hidden_folders(assignment)]
    if not views:
        return []
    return [sys.executable, "-I", "-c", _MOUNT_VIEWS, json.dumps(views), stage]


def _system_mounts() -> list[str]:
    """bwrap arguments exposing the operating system and Python read-only."""
    # /etc is made by bubblewrap to hold the binds below: traversable by the kernel's uid
    args: list[str] = ["--ro-bind", "/usr", "/usr", "--perms", "0755", "--dir", "/etc"]
    for name in ETC_ALLOWED:
        path = os.path.join("/etc", name)
        if os.path.exists(path):
            args += ["--ro-bind", path, path]
    for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        if os.path.islink(top):
            args += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            args += ["--ro-bind", top, top]
    package_dir = _package_dir()
    seen: set[str] = set()
    for path in (sys.base_prefix, sys.prefix, package_dir):
        real = os.path.realpath(path)
        if real.startswith("/usr/") or real in seen:
            continue
        seen.add(real)
        args += _traversable_parents(real, seen)
        args += ["--ro-bind", real, real]
        if path != real:  # e.g. a venv reached through a symbolic link
            args += ["--ro-bind", real, path]
    return args


def _traversable_parents(path: str, seen: set[str]) -> list[str]:
    """bwrap arguments making the folders above ``path`` (those not in ``seen``, which
    takes them) traversable by the kernel's uid whatever their mode outside."""
    args: list[str] = []
    for parent in map(str, list(reversed(Path(path).parents))[1:]):
        if parent not in seen:
            seen.add(parent)
            args += ["--perms", "0755", "--dir", parent]
    return args


def _mirror_mounts() -> list[str]:
    """bwrap arguments showing the dataset files in the ``COURSE_DATA_MIRROR`` folders at
    their own paths, read-only: those files only, nothing else of the folders."""
    from course_utils.data import named_mirror_files

    args: list[str] = []
    seen = {"/tmp", SANDBOX_HOME}  # the sandbox's own folders keep their modes
    for path in map(os.path.abspath, map(str, named_mirror_files())):
        if not path.startswith("/usr/"):  # already there, read-only
            args += _traversable_parents(path, seen) + ["--ro-bind", os.path.realpath(path), path]
    return args


#: Copies the read-only submission into the sandbox's size-limited home, then starts the kernel.
_COPY_IN = 'mkdir -p "$2" && cp -R "$1"/. "$2"/ && cd "$2" && shift 2 && exec "$@"'


def bwrap_prefix(submission_dir: str, runtime_dir: str, assignment: str, limits: Limits,
                 home_bytes: int = 0, uid: int | None = None) -> list[str]:
    """The bubblewrap command line of one kernel, to be followed by the kernel's own command.

    With a ``uid`` (a root grader) bubblewrap runs as root without a user namespace, and
    ``setpriv`` inside drops to ``uid`` before anything of the student's runs; without one
    (an unprivileged grader) bubblewrap maps the grader's uid to 1000 in a user namespace.
    """
    inside = f"{SANDBOX_HOME}/{assignment}"
    copy = f"{SANDBOX_HOME}/.submitted"
    if uid is None:
        users = ["--unshare-all", "--unshare-user", "--uid", "1000", "--gid", "1000"]
    else:
        users = ["--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try"]
    return [
        "bwrap", "--die-with-parent", "--new-session", *users, "--hostname", "student",
        # empty file systems first, so that the binds below stay visible on top of them
        "--proc", "/proc", "--dev", "/dev",
        "--perms", "1777", "--size", str(limits.scratch_bytes), "--tmpfs", "/tmp",
        "--perms", "1777", "--size", str(limits.scratch_bytes + home_bytes), "--tmpfs", SANDBOX_HOME,
        *_system_mounts(),
        *_bwrap_hide(assignment),
        *_mirror_mounts(),
        "--ro-bind", submission_dir, copy,
        "--perms", "0711", "--dir", os.path.dirname(runtime_dir),
        "--bind", runtime_dir, runtime_dir,
        "--chdir", SANDBOX_HOME,
        "--setenv", "HOME", SANDBOX_HOME,
        "--setenv", "IPYTHONDIR", f"{SANDBOX_HOME}/.ipython",
        "--setenv", "MPLCONFIGDIR", f"{SANDBOX_HOME}/.config/matplotlib",
        "--setenv", "KERAS_HOME", f"{SANDBOX_HOME}/.keras",
        # ipykernel quits when its parent PID changes; in a PID namespace the parent is PID 1.
        "--setenv", "JPY_PARENT_PID", "1",
        "--", *_setpriv(uid), "/bin/sh", "-c", _COPY_IN, "course-kernel", copy, inside,
    ]


def kernel_command(cmd: list[str], assignment: str) -> list[str]:
    """The kernel's command line, started through :mod:`.absent` (its import hook installed)
    when ``assignment`` has reference code that must be absent."""
    from course_utils.grading.absent import absent_modules

    if absent_modules(assignment) and cmd[1:3] == ["-m", "ipykernel_launcher"]:
        return [cmd[0], "-m", "course_utils.grading.absent", assignment, *cmd[3:]]
    return cmd


class SandboxedKernelManager(AsyncKernelManager):
    """A kernel manager that starts the kernel in the configured sandbox.

    Configured through traitlets (``SandboxedKernelManager.sandbox``,
    ``.runtime_dir``, ``.assignment``, ``.kernel_uid``, ``.memory_bytes``);
    nbgrader's ``Execute`` creates it with the grading configuration. Every
    kernel gets a fresh private folder in ``runtime_dir`` (its connection file,
    its Unix sockets and, outside bubblewrap, its home and working folder) and a
    copy of the notebook's folder: the kernel never sees the folder nbgrader
    writes the autograded notebook to.
    """

    sandbox = Unicode("none", help="bwrap, unshare or none").tag(config=True)
    runtime_dir = Unicode("", help="private folder of the kernels' folders").tag(config=True)
    assignment = Unicode("assignment", help="name of the folder the notebook is copied to").tag(config=True)
    kernel_uid = Integer(-1, help="uid the kernel runs as (-1: the grader's own)").tag(config=True)
    memory_bytes = Integer(Limits().memory_bytes, help="the submission's memory (Limits)").tag(config=True)
    max_copy_bytes = Integer(600 * 1024 ** 2, help="most bytes of the notebook folder copied").tag(config=True)
    copy_folder = Bool(True, help="run the kernel on a copy of the notebook's folder (False: "
                                  "in it, for a student's own `course validate`)").tag(config=True)

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._kernel_dir = None
        if self.runtime_dir:  # a private folder: Unix sockets there, whatever the sandbox
            os.makedirs(self.runtime_dir, mode=0o711, exist_ok=True)
            self._kernel_dir = tempfile.mkdtemp(prefix="k", dir=self.runtime_dir)
            self.connection_file = os.path.join(self._kernel_dir, "kernel.json")
            self.transport = "ipc"
            self.ip = os.path.join(self._kernel_dir, "s")

    @property
    def _uid(self) -> int | None:
        return self.kernel_uid if self.kernel_uid >= 0 else None

    @property
    def _limits(self) -> Limits:
        return Limits(memory_bytes=self.memory_bytes)

    async def _async_pre_start_kernel(self, **kw):
        notebook_dir = Path(kw.get("cwd") or os.getcwd())
        base = Path(self._kernel_dir or tempfile.mkdtemp(prefix="cgk"))
        self._copy, self._copy_bytes = notebook_dir, 0
        if self.copy_folder or self.sandbox == "bwrap":
            self._copy = base / "work"
            copy_regular_files(notebook_dir, self._copy, self.max_copy_bytes)
            self._copy_bytes = sum(p.stat().st_size for p in self._copy.rglob("*") if p.is_file())
        home = base / "home"
        home.mkdir(exist_ok=True)
        if self._uid is not None:
            chown_tree(base, self._uid)
        kw["cwd"] = "/" if self.sandbox == "bwrap" else str(self._copy)
        kw["env"] = kernel_environment(SANDBOX_HOME if self.sandbox == "bwrap" else str(home))
        result = await super()._async_pre_start_kernel(**kw)
        if self._uid is not None and self._kernel_dir:  # the connection file is written 0600 by us
            os.chown(self.connection_file, self._uid, self._uid)
        return result

    async def _async_interrupt_kernel(self) -> None:
        """Signals do not cross into a sandbox (its PID namespace, its uid): ask the kernel to
        interrupt itself over its control channel (ipykernel then sends itself SIGINT)."""
        if (self.sandbox == "none" and self._uid is None) or not self.has_kernel:
            return await super()._async_interrupt_kernel()
        self._connect_control_socket()
        self.session.send(self._control_socket, self.session.msg("interrupt_request", content={}))

    interrupt_kernel = _async_interrupt_kernel  # AsyncKernelManager binds the name to its own method

    def format_kernel_cmd(self, extra_arguments: list[str] | None = None) -> list[str]:
        cmd = kernel_command(super().format_kernel_cmd(extra_arguments), self.assignment)
        if self.sandbox == "bwrap":
            runtime = os.path.dirname(os.path.realpath(self.connection_file))
            return bwrap_prefix(str(self._copy), runtime, self.assignment, self._limits, self._copy_bytes,
                                self._uid) + cmd
        if self.sandbox == "unshare":
            # the kernel is PID 1 of its namespace (ipykernel then watches no parent)
            stage = os.path.join(os.path.dirname(os.path.realpath(self.connection_file)), "views")
            return _unshare_cmd() + unshare_hide_prefix(self.assignment, stage) + _setpriv(self._uid) + cmd
        return _setpriv(self._uid) + cmd
