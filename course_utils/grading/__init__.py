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
