"""Assignments and autograding: nbgrader, made to survive a whole class.

=====================  ======================================================
module                 contents
=====================  ======================================================
:mod:`.course`         the assignments, nbgrader configuration, ``course release``
:mod:`.batch`          ``course grade``: a class in parallel, zip input, re-runs
:mod:`.worker`         one submission in its own process (inspection, autograde,
                       feedback)
:mod:`.preprocessors`  nbgrader preprocessors for bad submissions (dead kernels,
                       floods of output, TensorFlow's stderr)
:mod:`.isolation`      resource limits and the kernel sandbox (bubblewrap)
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
# installed; that module builds an IRI grammar at import time, about 1.5 s of CPU in
# every grading process, for a string format that notebook schemas never use. The
# grader runs one process per submission, so it does without: jsonschema then simply
# does not check the "iri" format.
if "jsonschema" not in sys.modules:
    sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]
