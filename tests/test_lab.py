"""`make lab` starts a JupyterLab that serves the notebooks.

The test starts the server exactly as `make lab` does (`course lab`), headless
on a free port, checks /lab and the contents API, and shuts it down.
"""

from __future__ import annotations

import os

import pytest
import requests

from course_utils import cli


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
    # Shut down as the File menu does: the server stops, and `course lab` passes on its exit status 0.
    assert requests.post(f"{base}/api/shutdown", headers=headers, timeout=30).status_code == 200
    assert proc.wait(timeout=30) == 0
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{base}/api", timeout=5)
