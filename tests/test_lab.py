"""`make lab` starts a JupyterLab that serves the notebooks.

The test starts the server exactly as `make lab` does (`course lab`), headless
on a free port, checks /lab and the contents API, and shuts it down.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import pytest
import requests

from course_utils import cli


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def lab_server(tmp_path):
    port, token = _free_port(), "course-test-token"
    env = dict(os.environ, JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"),
               JUPYTER_CONFIG_DIR=str(tmp_path / "config"))
    proc = subprocess.Popen(
        [sys.executable, "-m", "course_utils.cli", "lab", "--no-browser", "--port", str(port), "--",
         "--ServerApp.ip=127.0.0.1", f"--IdentityProvider.token={token}"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, start_new_session=True,
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
                output = proc.stdout.read().decode(errors="replace")
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


def test_lab_serves_the_notebooks_and_shuts_down_cleanly(lab_server):
    base, token, proc = lab_server
    headers = {"Authorization": f"token {token}"}
    lab = requests.get(f"{base}/lab", headers=headers, timeout=30)
    assert lab.status_code == 200 and "JupyterLab" in lab.text
    listing = requests.get(f"{base}/api/contents/notebooks", headers=headers, timeout=30)
    assert listing.status_code == 200
    body = listing.json()
    assert body["type"] == "directory" and body["path"] == "notebooks"
    on_disk = sorted(p for p in os.listdir(cli.REPO_ROOT / "notebooks") if p.endswith(".ipynb"))
    served = sorted(item["name"] for item in body["content"] if item["name"].endswith(".ipynb"))
    assert served == on_disk
    # Without the token the server refuses: the lab is not open to anyone on the machine.
    assert requests.get(f"{base}/api/contents/notebooks", timeout=30).status_code == 403
    os.killpg(proc.pid, signal.SIGTERM)
    assert proc.wait(timeout=30) is not None
