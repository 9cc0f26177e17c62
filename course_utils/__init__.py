"""Helper package of the Advanced Convolutions course.

Import it before TensorFlow or Keras: importing the package silences
TensorFlow's C++ start-up messages (see :mod:`course_utils._quiet`), so that
notebook outputs stay clean and nbgrader does not score stderr as a failure.

Sub-modules are imported lazily, so ``import course_utils`` is cheap and does
not load TensorFlow until a module that needs it is used.
"""

from __future__ import annotations

import importlib

from course_utils import _quiet

_quiet.install()

__version__ = "0.1.0"

_SUBMODULES = (
    "arithmetic",
    "checks",
    "config",
    "data",
    "grading",
    "ops",
    "params",
    "plots",
    "receptive_field",
    "spec",
    "widgets",
)


def __getattr__(name: str):
    if name in _SUBMODULES:
        return importlib.import_module(f"course_utils.{name}")
    raise AttributeError(f"module 'course_utils' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_SUBMODULES))
