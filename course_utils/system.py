"""System packages the course needs, installed by the project's own set-up.

``make lab`` / ``make test`` call ``course setup``: it makes the offline data
available and, for the tests, Debian's Chromium (the browser test drives it) and
bubblewrap (the grader's sandbox; the grader would install it on first use, the
tests never do).
Installing needs root and apt; otherwise we say what is missing and go on.
"""

from __future__ import annotations

import os
import shutil
import subprocess

CHROMIUM = "/usr/bin/chromium"


def can_apt_install() -> bool:
    return os.name == "posix" and hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("apt-get") is not None


def apt_install(*packages: str, log=print) -> bool:
    """Install Debian packages when running as root with apt; True on success.

    Tries without refreshing the package lists first (fast when they are
    recent), then once more after ``apt-get update``.
    """
    if not can_apt_install():
        return False
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    cmd = ["apt-get", "install", "-y", "-q", "--no-install-recommends", *packages]
    log(f"installing the Debian package(s) {' '.join(packages)} ...")
    if subprocess.run(cmd, env=env, capture_output=True).returncode == 0:
        return True
    subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True)
    return subprocess.run(cmd, env=env, capture_output=True).returncode == 0


def ensure_chromium(log=print) -> str | None:
    """Path of Debian's Chromium, installing it (with its driver) if missing and possible."""
    if not os.path.exists(CHROMIUM):
        apt_install("chromium", "chromium-driver", log=log)
    return CHROMIUM if os.path.exists(CHROMIUM) else None


def ensure_bubblewrap(log=print) -> str | None:
    """Path of bubblewrap's ``bwrap`` (the grader's sandbox), installing it if missing and possible."""
    if shutil.which("bwrap") is None:
        apt_install("bubblewrap", log=log)
    return shutil.which("bwrap")
