"""The two workarounds of third-party behaviour still needed, each with the test that
fails once upstream changes, so that the workaround can be removed.

* course_utils/grading/course.py ``_fast_gradebook_creation``: nbgrader runs the
  ``alembic heads`` script in a subprocess to learn the gradebook's schema revision.
* course_utils/grading/__init__.py: ``sys.modules["rfc3987_syntax"] = None``, because
  jsonschema imports rfc3987-syntax 1.1.0, which builds a grammar at import time.
"""

from __future__ import annotations

import ast
import importlib.metadata
import importlib.util
import subprocess
import sys
from pathlib import Path


def _function_source(module: str, function: str) -> str:
    path = Path(importlib.util.find_spec(module).origin)
    tree = ast.parse(path.read_text())
    node = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == function)
    return ast.get_source_segment(path.read_text(), node)


def test_nbgrader_still_asks_a_subprocess_for_the_alembic_revision():
    source = _function_source("nbgrader.api", "get_alembic_version")
    assert "check_output" in source and "alembic" in source, (
        "nbgrader no longer runs `alembic heads` in a subprocess: remove "
        "course_utils.grading.course._fast_gradebook_creation")


def test_the_in_process_revision_is_the_one_alembic_gives():
    from nbgrader.dbutil import _temp_alembic_ini

    from course_utils.grading import course

    alembic = Path(sys.executable).parent / "alembic"
    with _temp_alembic_ini("sqlite:////tmp/gradebook.db") as ini:
        output = subprocess.run([str(alembic), "-c", ini, "heads"], capture_output=True, text=True, check=True,
                                timeout=120).stdout
    assert course._alembic_head() == output.split("\n")[0].split(" ")[0]


def test_jsonschema_still_imports_the_eager_rfc3987_syntax():
    source = Path(importlib.util.find_spec("jsonschema._format").origin).read_text()
    assert "from rfc3987_syntax import" in source, (
        "jsonschema no longer imports rfc3987_syntax: remove the sys.modules entry in course_utils/grading/__init__.py")
    assert importlib.metadata.version("rfc3987-syntax") == "1.1.0", (
        "a new rfc3987-syntax: if it no longer builds its grammar at import, remove the sys.modules entry "
        "in course_utils/grading/__init__.py")


def test_the_grading_package_skips_the_grammar_and_notebooks_still_validate():
    code = ("import sys\n"
            "import course_utils.grading\n"
            "import nbformat\n"
            "nbformat.validate(nbformat.v4.new_notebook())\n"
            "print(sys.modules.get('rfc3987_syntax', 'absent'))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip() == "None"
