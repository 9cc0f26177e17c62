"""TensorFlow defaults of the course: quiet, and correct on CPU.

Correctness first: with oneDNN's CPU kernels on (TensorFlow's default on x86),
TensorFlow 2.21 returns wrong input gradients for 1x1 stride-2 convolutions at
some shapes, nondeterministically (e.g. a (1, 56, 56, 2) input: compare oneDNN
issue #6035). ResNet-style shortcuts use exactly that layer (and so does the receptive-field
measurement), so the course turns oneDNN's custom ops off
(``TF_ENABLE_ONEDNN_OPTS=0``) unless the user set the variable, always, also
with ``COURSE_TF_VERBOSE=1``. This is the one place that does it: TensorFlow
reads the variable when it is imported, so importing TensorFlow before
``course_utils`` (or setting the variable to 1) leaves the wrong gradients on,
and :func:`install` says so with a :class:`OneDNNWarning`.
tests/test_config.py checks the gradient.

Then the noise:

TensorFlow >= 2.16 prints absl/oneDNN messages straight to file descriptor 2
while its shared libraries load; ``TF_CPP_MIN_LOG_LEVEL`` no longer hides all
of them. nbgrader scores any stderr output of a test cell as a failure, so a
correct answer would get zero. We therefore

* set the documented environment variables before TensorFlow is imported, and
* install an import hook that runs the *first* ``import tensorflow`` with file
  descriptor 2 pointed at ``/dev/null``. Python exceptions raised by the import
  still propagate normally; only the C++ chatter is dropped.

Set ``COURSE_TF_VERBOSE=1`` to see everything TensorFlow prints (the correctness
setting above still applies).
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import logging
import os
import sys
import warnings
from contextlib import contextmanager

#: Applied in every case: wrong strided 1x1 convolution gradients otherwise (see above).
CORRECTNESS_ENV = {"TF_ENABLE_ONEDNN_OPTS": "0"}
#: Applied unless COURSE_TF_VERBOSE=1.
_ENV_DEFAULTS = {
    "TF_CPP_MIN_LOG_LEVEL": "3",  # C++ INFO/WARNING/ERROR logs of TensorFlow
    "GRPC_VERBOSITY": "ERROR",
    "KERAS_BACKEND": "tensorflow",
}


@contextmanager
def silenced_fd2():
    """Point file descriptor 2 at /dev/null for the duration of the block."""
    try:
        saved = os.dup(2)
    except OSError:  # no stderr at all (some daemons): nothing to silence
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        sys.stderr.flush()
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


class _QuietLoader(importlib.abc.Loader):
    def __init__(self, loader):
        self._loader = loader

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        with silenced_fd2():
            self._loader.exec_module(module)
        _quiet_python_loggers()


class _QuietTensorFlowFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path, target=None):
        if fullname != "tensorflow":
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is not None and spec.loader is not None:
            spec.loader = _QuietLoader(spec.loader)
        return spec


def _quiet_python_loggers() -> None:
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    logging.getLogger("absl").setLevel(logging.ERROR)
    # Keras/TensorFlow deprecation chatter that is not about the student's code.
    warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"(tensorflow|keras|google|absl)")
    warnings.filterwarnings("ignore", message=r".*np\.object.*", category=FutureWarning)


class OneDNNWarning(UserWarning):
    """oneDNN's custom CPU kernels are on: strided 1x1 convolution gradients may be wrong."""


def _apply_correctness() -> None:
    tf_first = "tensorflow" in sys.modules and "TF_ENABLE_ONEDNN_OPTS" not in os.environ
    for key, value in CORRECTNESS_ENV.items():
        os.environ.setdefault(key, value)
    if tf_first:
        warnings.warn("TensorFlow was imported before course_utils, so oneDNN's custom CPU kernels are on in "
                      "this process and strided 1x1 convolutions can get wrong input gradients. Restart and "
                      "import course_utils first (or set TF_ENABLE_ONEDNN_OPTS=0).", OneDNNWarning, stacklevel=3)
    elif os.environ["TF_ENABLE_ONEDNN_OPTS"] != "0":
        warnings.warn(f"TF_ENABLE_ONEDNN_OPTS={os.environ['TF_ENABLE_ONEDNN_OPTS']}: oneDNN's custom CPU kernels "
                      f"are on, and strided 1x1 convolutions can get wrong input gradients.", OneDNNWarning,
                      stacklevel=3)


def install() -> None:
    """Apply the correctness setting, then (unless COURSE_TF_VERBOSE=1) set quiet defaults
    and hook the first TensorFlow import (``import course_utils`` calls it once)."""
    _apply_correctness()
    if os.environ.get("COURSE_TF_VERBOSE") == "1":
        return
    for key, value in _ENV_DEFAULTS.items():
        os.environ.setdefault(key, value)
    if "tensorflow" in sys.modules:
        _quiet_python_loggers()
        return
    if not any(isinstance(f, _QuietTensorFlowFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _QuietTensorFlowFinder())
