"""Test-suite wide set-up.

* Quick and offline mode by default (``make test`` sets them too), so a bare
  ``pytest`` behaves like CI.
* A private Keras cache per test session (``KERAS_HOME``), set before Keras is
  imported: tests never read or write the user's ``~/.keras``, and datasets come
  from the local mirrors or from files the tests make. It is removed when the
  test process ends.
* Property tests are derandomized: every run, local or CI, draws the same
  examples, so a red run can be reproduced exactly. ``HYPOTHESIS_PROFILE=explore``
  draws fresh random examples to hunt for new failures.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("COURSE_QUICK", "1")
os.environ.setdefault("COURSE_OFFLINE", "1")
os.environ["COURSE_SANDBOX_INSTALL"] = "0"  # no test installs anything: `course setup --browser` did
os.environ["KERAS_HOME"] = tempfile.mkdtemp(prefix="course-keras-home-")
_KERAS_HOME = os.environ["KERAS_HOME"]

import course_utils  # noqa: E402,F401  (quiet TensorFlow before any test imports it)
import pytest  # noqa: E402
from hypothesis import settings  # noqa: E402

# Property tests: no per-example deadline (TensorFlow's first call is slow), and the
# same examples on every run; "explore" draws random ones.
settings.register_profile("course", deadline=None, derandomize=True, database=None)
settings.register_profile("explore", deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "course"))
import requests  # noqa: E402


def pytest_unconfigure(config):
    """Remove this process's Keras cache (each xdist worker has its own)."""
    shutil.rmtree(_KERAS_HOME, ignore_errors=True)


@pytest.fixture(scope="session")
def tf():
    """TensorFlow, imported once and quietly."""
    import tensorflow

    return tensorflow


@pytest.fixture(scope="session")
def keras():
    import keras as _keras

    return _keras


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_lab(tmp_path, *extra_args: str, root=None, env_overrides: dict | None = None):
    """Start JupyterLab exactly as `make lab` does (`course lab`), headless on a free port.

    ``root`` is the folder served (default: the repository). Yields (base_url,
    token, process); the server is shut down afterwards.
    """
    port, token = _free_port(), "course-test-token"
    env = dict(os.environ, JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"),
               JUPYTER_CONFIG_DIR=str(tmp_path / "config"), **(env_overrides or {}))
    log = open(tmp_path / "jupyterlab.log", "wb")  # a file, not a pipe: a full pipe would block the server
    proc = subprocess.Popen(
        [sys.executable, "-m", "course_utils.cli", "lab", "--no-browser", "--port", str(port),
         *(["--root", str(root)] if root else []), "--",
         "--ServerApp.ip=127.0.0.1", f"--IdentityProvider.token={token}", *extra_args],
        stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while True:
        try:
            requests.get(f"{base}/api", timeout=2)
            break
        except requests.ConnectionError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                output = (tmp_path / "jupyterlab.log").read_text(errors="replace")
                pytest.fail(f"JupyterLab did not start:\n{output[-3000:]}")
            time.sleep(0.5)
    yield base, token, proc
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            raise
        finally:
            log.close()


@pytest.fixture
def lab_server(tmp_path):
    yield from start_lab(tmp_path)


#: Chromium's options for this machine's closed network: no background connections.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def browser():
    """Playwright driving Debian's Chromium (/usr/bin/chromium, installed by `course setup --browser`)."""
    from course_utils import system

    chromium = system.ensure_chromium(log=print)
    if chromium is None:
        pytest.fail("Debian's Chromium is missing: run `make test` as root, or `apt-get install chromium`")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        yield b
        b.close()
