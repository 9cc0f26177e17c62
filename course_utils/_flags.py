"""The course's environment flags, read at call time (re-exported by :mod:`course_utils.config`).

``COURSE_QUICK`` and ``COURSE_OFFLINE`` are on for any of ``1, true, yes, on``
(any case); Colab is recognised by the variables its runtime sets.
"""

from __future__ import annotations

import os

TRUE_VALUES = {"1", "true", "yes", "on"}


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in TRUE_VALUES


def quick() -> bool:
    """True when ``COURSE_QUICK`` asks for the small, fast budget."""
    return _flag("COURSE_QUICK")


def offline() -> bool:
    """True when ``COURSE_OFFLINE`` forbids downloads."""
    return _flag("COURSE_OFFLINE")


def on_colab() -> bool:
    """True inside a Google Colab runtime."""
    return "COLAB_RELEASE_TAG" in os.environ or "COLAB_GPU" in os.environ
