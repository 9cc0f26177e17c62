"""Checks that tell a student at once whether an answer is right, and why not.

Every check returns ``None`` when the answer is right (it may print a short
confirmation) and raises :class:`CheckFailed`, an ``AssertionError``, with a
message that says what was checked, what the student's answer did and a hint
(never the expected answer) when it is wrong. The same functions run in the
assignments' public test cells, in their hidden tests and in the lecture
notebooks, so a student sees in the autograder's feedback the message they
would have seen in class.

Core checks (any notebook):

* :func:`check_equal`: a number, string or small structure, exactly (floats to a tolerance);
* :func:`check_shape`: a numpy array's shape;
* :func:`check_array`: an array against a reference, by relative error;
* :func:`call_student`: call a student's function, turning ``NotImplementedError``
  into "not attempted" and any other crash into a readable failure.

Assignment checks: A1 (convolution arithmetic, :mod:`.a1`) and A2 (numpy layers,
:mod:`.a2`, with the static analysis of :mod:`.static`). Every public name is
importable from ``course_utils.checks`` itself, as notebooks, assignments and the
grader do.
Answers are compared against the course's own reference code
(:mod:`course_utils.arithmetic`, :mod:`course_utils.receptive_field`,
:mod:`course_utils.params`, :mod:`course_utils.ops`), never against numbers
typed into the tests.
"""

from __future__ import annotations

from course_utils.checks.a1 import (SIZE_HINTS, RF_HINTS, PARAM_HINTS, check_conv_params_fn, check_output_size_fn,
                                    check_param_counts, check_rf_step_fn, check_rf_table, check_sizes,
                                    check_transposed_size_fn)
from course_utils.checks.a2 import (BN_HINTS, CONV_HINTS, POOL_HINTS, check_batchnorm_backward,
                                    check_batchnorm_forward, check_conv_backward, check_conv_forward,
                                    check_maxpool_backward, check_maxpool_forward)
from course_utils.checks.core import (CheckFailed, NotAttempted, _passed, call_student, check_array, check_equal,
                                      check_shape, relative_error)
from course_utils.checks.static import BANNED_MODULES, check_numpy_only

__all__ = [
    "CheckFailed",
    "NotAttempted",
    "call_student",
    "check_array",
    "check_equal",
    "check_shape",
    # A1
    "check_output_size_fn",
    "check_transposed_size_fn",
    "check_sizes",
    "check_rf_table",
    "check_rf_step_fn",
    "check_conv_params_fn",
    "check_param_counts",
    # A2
    "check_conv_forward",
    "check_conv_backward",
    "check_maxpool_forward",
    "check_maxpool_backward",
    "check_batchnorm_forward",
    "check_batchnorm_backward",
    "check_numpy_only",
]
