"""Rules of the package's structure, checked on its source.

* No ``assert`` statement in ``course_utils``: a check must decide a student's
  result under ``python -O`` too (asserts are removed there).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "course_utils"


def _modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        yield path.relative_to(PACKAGE.parent).as_posix(), ast.parse(path.read_text(), str(path))


def test_no_assert_statement_decides_anything():
    found = [f"{name}:{node.lineno}" for name, tree in _modules() for node in ast.walk(tree)
             if isinstance(node, ast.Assert)]
    assert not found, f"use an explicit raise (exercises: require(...)): {found}"


def test_wrong_answers_still_fail_under_python_O():
    script = """
import sys
import numpy as np
from course_utils.exercises import nb01, nb07
results = [
    nb01.true_convolution.check(np.zeros_like(nb01.KERNEL), quiet=True),
    nb07.weight_gradient.check(np.zeros_like(nb07.KERNEL, dtype=float), quiet=True),
    nb07.weight_gradient.check(np.zeros(3), quiet=True),
]
sys.exit(0 if all(not r and "not quite" in r.message for r in results) else 1)
"""
    proc = subprocess.run([sys.executable, "-O", "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
