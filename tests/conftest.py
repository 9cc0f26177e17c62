"""Test-suite wide set-up.

* Quick and offline mode by default (``make test`` sets them too), so a bare
  ``pytest`` behaves like CI.
* A private Keras cache per test session (``KERAS_HOME``), set before Keras is
  imported: tests never read or write the user's ``~/.keras``, and datasets come
  from the local mirrors or from files the tests make.
"""

from __future__ import annotations

import os
import tempfile

os.environ.setdefault("COURSE_QUICK", "1")
os.environ.setdefault("COURSE_OFFLINE", "1")
os.environ["KERAS_HOME"] = tempfile.mkdtemp(prefix="course-keras-home-")

import course_utils  # noqa: E402,F401  (quiet TensorFlow before any test imports it)
import pytest  # noqa: E402


@pytest.fixture(scope="session")
def tf():
    """TensorFlow, imported once and quietly."""
    import tensorflow

    return tensorflow


@pytest.fixture(scope="session")
def keras():
    import keras as _keras

    return _keras
