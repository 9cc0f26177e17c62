"""Run untrusted student code with limits and, where the machine allows it, in a sandbox.

Two layers protect a grading run:

1. **Every submission is graded in its own process** (:mod:`.worker`), started
   by the batch with resource limits (:func:`limit_resources`: address space,
   CPU time, file size, no core dumps), its own working directory and a wall
   clock deadline after which the whole process group is killed.
2. **The kernel that runs the student's code** is started by
   :class:`SandboxedKernelManager` with a clean environment (no ``NBGRADER_*``
   variables, a fresh ``HOME``, one thread per maths library) and, depending on
   what :func:`detect_sandbox` finds:

   ``bwrap``     bubblewrap (Debian package ``bubblewrap``): no network, own PID
                 namespace (everything the student started dies with the kernel),
                 an unprivileged user, and a file system that holds only the
                 operating system, Python, ``course_utils`` and the student's own
                 notebook folder, mounted at ``/home/student/<assignment>``. The
                 gradebook, the solutions, the repository and other students'
                 files do not exist in there.
   ``unshare``   util-linux ``unshare --net``: no network; the file system is
                 not hidden.
   ``none``      limits and clean environment only.

The kernel talks to the grader over Unix sockets (ZeroMQ ``ipc`` transport)
in a private folder, so cutting the network does not cut the kernel off.

``COURSE_SANDBOX`` (``auto``, ``bwrap``, ``unshare`` or ``none``) overrides the
choice; with ``auto`` and root rights on a Debian machine the grader installs
bubblewrap with apt-get once (``COURSE_SANDBOX_INSTALL=0`` forbids that).
"""

from __future__ import annotations

import functools
import os
import resource
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from jupyter_client.manager import AsyncKernelManager
from traitlets import Unicode

SANDBOX_KINDS = ("bwrap", "unshare", "none")

#: Where the student's notebook folder appears inside the bubblewrap sandbox.
SANDBOX_HOME = "/home/student"

#: Environment variables passed from the grader to the kernel (everything else
#: is dropped, NBGRADER_EXECUTION included: see docs/grading.md).
PASSED_ENV = ("LANG", "LC_ALL", "TZ", "COURSE_QUICK", "COURSE_OFFLINE", "COURSE_DATASET")

#: What the kernel may see of /etc: the dynamic linker, locale, time zone, TLS
#: certificates and fonts. Not passwords, keys or the rest of the machine's set-up.
ETC_ALLOWED = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "alternatives", "localtime", "timezone",
               "nsswitch.conf", "hosts", "ssl", "ca-certificates", "fonts", "mime.types", "matplotlibrc")

#: Fixed settings of the kernel's environment.
KERNEL_ENV = {
    # TensorFlow / absl / gRPC logging to stderr would score a passing test as failed.
    "TF_CPP_MIN_LOG_LEVEL": "3",
    "TF_ENABLE_ONEDNN_OPTS": "0",
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


@dataclass(frozen=True)
class Limits:
    """Resource limits of one submission (worker process and kernel alike)."""

    cell_timeout: int = 30                 # seconds one cell may run
    memory_bytes: int = 4 * 1024 ** 3      # address space of each process
    max_file_bytes: int = 256 * 1024 ** 2  # largest file a process may write
    max_output_chars: int = 20_000         # kept output text per cell

    def submission_timeout(self, n_cells: int) -> int:
        """Wall-clock budget of a whole submission: every cell may time out once,
        plus the start-up of the worker, the kernel (twice) and the feedback."""
        return self.cell_timeout * max(n_cells, 1) + 120


def limit_resources(limits: Limits, cpu_seconds: int) -> Callable[[], None]:
    """A ``preexec_fn`` that applies ``limits`` to a child process (and its children)."""

    def apply() -> None:
        def cap(kind: int, value: int) -> None:
            _, hard = resource.getrlimit(kind)
            if hard != resource.RLIM_INFINITY:
                value = min(value, hard)
            resource.setrlimit(kind, (value, value))

        cap(resource.RLIMIT_AS, limits.memory_bytes)
        cap(resource.RLIMIT_CPU, cpu_seconds)
        cap(resource.RLIMIT_FSIZE, limits.max_file_bytes)
        cap(resource.RLIMIT_CORE, 0)

    return apply


# ----------------------------------------------------------------------------- detection
def _runs(cmd: list[str]) -> bool:
    try:
        return subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, timeout=30).returncode == 0
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
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    install = ["apt-get", "install", "-y", "-q", "--no-install-recommends", "bubblewrap"]
    for cmd in (install, ["apt-get", "update", "-q"], install):
        try:
            done = subprocess.run(cmd, env=env, stdin=subprocess.DEVNULL, capture_output=True, timeout=600)
        except (OSError, subprocess.SubprocessError):
            return False
        if cmd is install and done.returncode == 0:
            break
    return shutil.which("bwrap") is not None


@functools.lru_cache(maxsize=None)
def _bwrap_works() -> bool:
    return _runs(["bwrap", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc",
                  "--unshare-all", "--unshare-user", "--uid", "1000", "--gid", "1000",
                  "--die-with-parent", "--", "true"])


def _unshare_cmd() -> list[str]:
    return ["unshare", "--net"] + ([] if os.geteuid() == 0 else ["--map-root-user"]) + ["--"]


@functools.lru_cache(maxsize=None)
def _unshare_works() -> bool:
    return shutil.which("unshare") is not None and _runs(_unshare_cmd() + ["true"])


def detect_sandbox(preferred: str | None = None, install: bool = True,
                   log: Callable[[str], None] | None = None) -> str:
    """The strongest sandbox this machine supports: ``bwrap``, ``unshare`` or ``none``.

    ``preferred`` (default: ``COURSE_SANDBOX`` or ``auto``) names a kind; one that
    does not work here falls back to the next weaker one, with a warning.
    """
    say = log or (lambda message: print(message, file=sys.stderr))
    wanted = (preferred or os.environ.get("COURSE_SANDBOX") or "auto").strip().lower()
    if wanted not in SANDBOX_KINDS + ("auto",):
        raise ValueError(f"sandbox {wanted!r} is not one of auto, {', '.join(SANDBOX_KINDS)}")
    if wanted == "none":
        return "none"
    if wanted in ("auto", "bwrap"):
        if install and wanted == "auto" and shutil.which("bwrap") is None:
            _install_bubblewrap(say)
        if shutil.which("bwrap") and _bwrap_works():
            return "bwrap"
        say("warning: bubblewrap is missing or not allowed here, so student code can read files "
            "outside its own folder (see docs/grading.md)")
    if _unshare_works():
        return "unshare"
    say("warning: student code keeps network access on this machine (see docs/grading.md)")
    return "none"


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


def _system_mounts() -> list[str]:
    """bwrap arguments exposing the operating system and Python read-only."""
    args: list[str] = ["--ro-bind", "/usr", "/usr"]
    for name in ETC_ALLOWED:
        path = os.path.join("/etc", name)
        if os.path.exists(path):
            args += ["--ro-bind", path, path]
    for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        if os.path.islink(top):
            args += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            args += ["--ro-bind", top, top]
    import course_utils

    package_dir = str(Path(course_utils.__file__).resolve().parent)
    seen: set[str] = set()
    for path in (sys.base_prefix, sys.prefix, package_dir):
        real = os.path.realpath(path)
        if real.startswith("/usr/") or real in seen:
            continue
        seen.add(real)
        args += ["--ro-bind", real, real]
        if path != real:  # e.g. a venv reached through a symbolic link
            args += ["--ro-bind", real, path]
    return args


def bwrap_prefix(notebook_dir: str, runtime_dir: str, assignment: str) -> list[str]:
    """The bubblewrap command line that wraps the kernel of one submission."""
    inside = f"{SANDBOX_HOME}/{assignment}"
    return [
        "bwrap", "--die-with-parent", "--new-session",
        "--unshare-all", "--unshare-user", "--uid", "1000", "--gid", "1000", "--hostname", "student",
        # empty file systems first, so that the binds below stay visible on top of them
        "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp", "--tmpfs", SANDBOX_HOME,
        *_system_mounts(),
        "--bind", notebook_dir, inside,
        "--bind", runtime_dir, runtime_dir,
        "--chdir", inside,
        "--setenv", "HOME", SANDBOX_HOME,
        "--setenv", "IPYTHONDIR", f"{SANDBOX_HOME}/.ipython",
        "--setenv", "MPLCONFIGDIR", f"{SANDBOX_HOME}/.config/matplotlib",
        "--setenv", "KERAS_HOME", f"{SANDBOX_HOME}/.keras",
        # ipykernel quits when its parent PID changes; in a PID namespace the parent is PID 1.
        "--setenv", "JPY_PARENT_PID", "1",
        "--",
    ]


class SandboxedKernelManager(AsyncKernelManager):
    """A kernel manager that starts the kernel in the configured sandbox.

    Configured through traitlets (``SandboxedKernelManager.sandbox``,
    ``.runtime_dir``, ``.assignment``); nbgrader's ``Execute`` creates it with the
    grading configuration. With a ``runtime_dir`` (always, when grading) the
    kernel talks over Unix sockets in it (``ipc`` transport), which keeps working
    when the network is cut.
    """

    sandbox = Unicode("none", help="bwrap, unshare or none").tag(config=True)
    runtime_dir = Unicode("", help="private folder of the connection file and sockets").tag(config=True)
    assignment = Unicode("assignment", help="name of the folder the notebook is mounted as").tag(config=True)
    home_dir = Unicode("", help="HOME of the kernel when there is no bubblewrap").tag(config=True)

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        if self.runtime_dir:  # a private folder: Unix sockets there, whatever the sandbox
            os.makedirs(self.runtime_dir, exist_ok=True)
            count = len([p for p in os.listdir(self.runtime_dir) if p.startswith("kernel-")])
            self.connection_file = os.path.join(self.runtime_dir, f"kernel-{count}.json")
            self.transport = "ipc"
            self.ip = os.path.join(self.runtime_dir, f"k{count}")

    async def _async_pre_start_kernel(self, **kw):
        cwd = str(kw.get("cwd") or os.getcwd())
        self._notebook_dir = cwd
        home = self.home_dir or os.path.join(self.runtime_dir or cwd, "home")
        os.makedirs(home, exist_ok=True)
        kw["env"] = kernel_environment(SANDBOX_HOME if self.sandbox == "bwrap" else home)
        return await super()._async_pre_start_kernel(**kw)

    async def _async_interrupt_kernel(self) -> None:
        """Signals do not cross into bubblewrap's PID namespace: ask the kernel to interrupt
        itself over its control channel (ipykernel then sends itself SIGINT)."""
        if self.sandbox != "bwrap" or not self.has_kernel:
            return await super()._async_interrupt_kernel()
        self._connect_control_socket()
        self.session.send(self._control_socket, self.session.msg("interrupt_request", content={}))

    interrupt_kernel = _async_interrupt_kernel  # AsyncKernelManager binds the name to its own method

    def format_kernel_cmd(self, extra_arguments: list[str] | None = None) -> list[str]:
        cmd = super().format_kernel_cmd(extra_arguments)
        if self.sandbox == "bwrap":
            runtime = os.path.dirname(os.path.realpath(self.connection_file))
            return bwrap_prefix(getattr(self, "_notebook_dir", os.getcwd()), runtime, self.assignment) + cmd
        if self.sandbox == "unshare":
            return _unshare_cmd() + cmd
        return cmd

