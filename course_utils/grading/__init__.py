"""Assignments and autograding: nbgrader, made to survive a whole class.

=====================  ======================================================
module                 contents
=====================  ======================================================
:mod:`.course`         the assignments, nbgrader configuration, ``course release``
:mod:`.batch`          ``course grade``: a class in parallel, zip input, re-runs
:mod:`.parcel`         one submission graded where it runs (locally or on a cluster worker)
:mod:`.launch`         the worker's process, forked from a warm server
:mod:`.worker`         one submission in its own process (inspection, autograde,
                       feedback)
:mod:`.cluster`        ``--cluster``: the same per-submission grading on a Dask cluster
:mod:`.lms`            ``--export``: Canvas's and Moodle's import files, the roster
:mod:`.preprocessors`  nbgrader preprocessors for bad submissions (dead kernels,
                       floods of output, TensorFlow's stderr)
:mod:`.isolation`      resource limits and the kernel sandbox (bubblewrap)
:mod:`.trusted`        A1's and A2's test cells run in the grader's process
:mod:`.plain`          the plain data (JSON, no pickle) that crosses to the kernel
:mod:`.absent`         the reference code each assignment hides from the kernel
:mod:`.gradebook`      scores out of nbgrader's database, ``grades.csv``
:mod:`.validate`       ``course validate``: what a student runs before submitting
:mod:`.samples`        submissions made from the sources (examples, tests, benchmark)
:mod:`.cli`            the sub-commands
=====================  ======================================================

See docs/grading.md for the instructor's view. Importing this package is cheap;
nbgrader is imported by the modules that need it.
"""

import sys

# nbformat validates notebooks with jsonschema, which imports rfc3987_syntax when it is
# installed; rfc3987-syntax 1.1.0 builds an IRI grammar at import time, 2-3 s of CPU in
# every grading process, for a string format that notebook schemas never use
# (upstream: python-jsonschema/jsonschema#1392; the lazy fork rfc3987-syntax2 was
# proposed in python-jsonschema/jsonschema#1521). The grader runs one process per
# submission, so it does without: jsonschema then simply does not check the "iri"
# format. This applies to every process that imports course_utils.grading, A3's
# student kernels included (they import course_utils.grading.a3); nothing there
# validates IRIs. tests/test_upstream_workarounds.py fails when jsonschema or
# rfc3987-syntax change what this relies on, so that it can be removed.
if "jsonschema" not in sys.modules:
    sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]
