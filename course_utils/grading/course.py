"""The course's assignments and the nbgrader course directories built for them.

nbgrader expects one course directory (``source/``, ``release/``,
``submitted/``, ``autograded/``, ``feedback/`` and a gradebook database). The
repository keeps only what people edit and read:

``solutions/<assignment>/``          nbgrader *source*: solutions and hidden tests
``assignments/<assignment>/``        the generated student release (never edited by hand)
``solutions/examples/<assignment>/`` example submissions, one folder per student

Every command builds a throw-away course directory in a temporary folder
(:func:`build_course`), so nothing nbgrader writes ends up in the repository.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import nbformat

from course_utils.config import REPO_ROOT

SOLUTIONS_DIR = REPO_ROOT / "solutions"
RELEASES_DIR = REPO_ROOT / "assignments"
EXAMPLES_DIR = SOLUTIONS_DIR / "examples"

COURSE_ID = "advanced-convolutions"
#: Files never copied from a source or submission folder (as nbgrader's CourseDirectory.ignore).
IGNORED = (".ipynb_checkpoints", "__pycache__", "*.pyc", ".*")


class SetupError(RuntimeError):
    """The course itself is broken (unknown assignment, nbgrader failed on the source)."""


@dataclass(frozen=True)
class Assignment:
    """One nbgrader assignment of the course."""

    name: str

    @property
    def source_dir(self) -> Path:
        return SOLUTIONS_DIR / self.name

    @property
    def release_dir(self) -> Path:
        return RELEASES_DIR / self.name

    @property
    def examples_dir(self) -> Path:
        return EXAMPLES_DIR / self.name

    @property
    def notebooks(self) -> list[str]:
        """Names (without ``.ipynb``) of the assignment's notebooks."""
        return sorted(p.stem for p in self.source_dir.glob("*.ipynb"))

    def source_files(self) -> Iterator[Path]:
        """Every file of the source folder that nbgrader takes (sorted)."""
        yield from iter_files(self.source_dir)

    def fingerprint(self) -> str:
        """Hash of the source folder: grading results depend on it."""
        digest = hashlib.sha256()
        for path in self.source_files():
            digest.update(path.relative_to(self.source_dir).as_posix().encode() + b"\0")
            digest.update(hashlib.sha256(path.read_bytes()).digest())
        return digest.hexdigest()


def iter_files(root: Path) -> Iterator[Path]:
    """Regular files under ``root`` (sorted), skipping :data:`IGNORED` names and links."""
    for path in sorted(root.rglob("*")):
        parts = path.relative_to(root).parts
        if any(Path(part).match(pattern) for part in parts for pattern in IGNORED):
            continue
        if path.is_file() and not path.is_symlink():
            yield path


def list_assignments() -> list[str]:
    """Names of the assignments in ``solutions/`` (folders holding a notebook)."""
    if not SOLUTIONS_DIR.is_dir():
        return []
    return sorted(p.name for p in SOLUTIONS_DIR.iterdir()
                  if p.is_dir() and p != EXAMPLES_DIR and not p.name.startswith((".", "_"))
                  and any(p.glob("*.ipynb")))


def get_assignment(name: str) -> Assignment:
    known = list_assignments()
    if name not in known:
        raise SetupError(f"no assignment {name!r} in {SOLUTIONS_DIR}; known: {', '.join(known) or 'none'}")
    return Assignment(name)


# ----------------------------------------------------------------------------- nbgrader configuration
def nbgrader_config(root: Path):
    """The nbgrader configuration shared by every command: course, database, solution stub."""
    from traitlets.config import Config

    c = Config()
    c.CourseDirectory.root = str(root)
    c.CourseDirectory.course_id = COURSE_ID
    c.CourseDirectory.db_url = f"sqlite:///{root / 'gradebook.db'}"
    c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
    c.ClearSolutions.text_stub = "YOUR ANSWER HERE"
    return c


def course_directory(config, assignment: str, student: str = "."):
    from nbgrader.coursedir import CourseDirectory

    coursedir = CourseDirectory(config=config)
    coursedir.assignment_id = assignment
    coursedir.student_id = student
    return coursedir


def _alembic_head() -> str:
    """The gradebook schema's revision, read in-process with alembic's API.

    nbgrader asks for it whenever it creates a gradebook by running the ``alembic``
    script in a subprocess (seconds, and the script must be on PATH).
    """
    from alembic.config import Config as AlembicConfig
    from alembic.script import ScriptDirectory
    from nbgrader.dbutil import _temp_alembic_ini

    with _temp_alembic_ini("sqlite:////tmp/gradebook.db") as ini:
        return ScriptDirectory.from_config(AlembicConfig(ini)).get_current_head()


def _fast_gradebook_creation() -> None:
    """Give nbgrader the gradebook schema's revision without a subprocess.

    Workaround for nbgrader 0.9.6: ``nbgrader.api.get_alembic_version`` runs the
    ``alembic heads`` script in a subprocess each time a gradebook is created (seconds
    per submission, and the script must be on PATH). No upstream issue is known to us;
    tests/test_upstream_workarounds.py fails once nbgrader stops doing so, and this
    function (with ``_alembic_head``, which uses the private
    ``nbgrader.dbutil._temp_alembic_ini``) can then go. When alembic's API cannot be
    used, nbgrader's own function runs, with this Python's scripts on PATH for that call
    only.
    """
    import nbgrader.api

    original = nbgrader.api.get_alembic_version
    if getattr(original, "__module__", "") == __name__:
        return
    try:
        head = _alembic_head()
    except Exception:
        scripts = str(Path(sys.executable).parent)

        def get_alembic_version() -> str:
            saved = os.environ.get("PATH", "")
            os.environ["PATH"] = scripts + os.pathsep + saved
            try:
                return original()
            finally:
                os.environ["PATH"] = saved
    else:
        def get_alembic_version() -> str:
            return head

    get_alembic_version.__module__ = __name__
    nbgrader.api.get_alembic_version = get_alembic_version


def run_converter(converter_class, config, assignment: str, student: str = ".", **attrs) -> None:
    """Run one nbgrader converter (GenerateAssignment, Autograde, ...); raise SetupError with its log."""
    import io
    import logging

    _fast_gradebook_creation()
    coursedir = course_directory(config, assignment, student)
    converter = converter_class(coursedir=coursedir, config=config)
    for key, value in attrs.items():
        setattr(converter, key, value)
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(logging.Formatter("[%(levelname)s] %(message)s"))
    converter.log.addHandler(handler)
    try:
        converter.start()
    except Exception as exc:
        log = buffer.getvalue().strip()
        raise SetupError(f"nbgrader {converter_class.__name__} failed: {exc}\n{log}") from exc
    finally:
        converter.log.removeHandler(handler)


def build_course(root: Path, assignment: Assignment) -> Path:
    """Copy the source of ``assignment`` into a new course directory and run
    ``nbgrader generate_assignment`` there (fills the gradebook and ``release/``).

    Returns the release folder.
    """
    from nbgrader.converters import GenerateAssignment

    source = root / "source" / assignment.name
    for path in assignment.source_files():
        dest = source / path.relative_to(assignment.source_dir)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, dest)
    run_converter(GenerateAssignment, nbgrader_config(root), assignment.name, ".", force=True, create_assignment=True)
    return root / "release" / assignment.name


# ----------------------------------------------------------------------------- releases
def shown(path: Path) -> str:
    """``path`` relative to the repository when it is inside it (for messages)."""
    try:
        return str(path.relative_to(REPO_ROOT))
    except ValueError:
        return str(path)


def normalized_notebook(text: str) -> str:
    """A notebook as committed: no outputs, execution counts or run-time metadata.

    nbgrader's release is already almost deterministic; this removes what a
    source saved from a running Jupyter may still carry, so ``--check`` is stable.
    """
    nb = nbformat.reads(text, as_version=4)
    for cell in nb.cells:
        for key in ("execution", "collapsed", "scrolled"):
            cell.metadata.pop(key, None)
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    nb.metadata.pop("widgets", None)
    return nbformat.writes(nb) + "\n"


_generated: dict[str, dict[str, bytes]] = {}


def generate_release(assignment: Assignment) -> dict[str, bytes]:
    """The release of ``assignment`` as nbgrader generates it: relative path -> content.

    Generation is deterministic, so it is done once per source version and process.
    """
    key = assignment.fingerprint()
    if key not in _generated:
        _generated[key] = _generate_release(assignment)
    return dict(_generated[key])


def _generate_release(assignment: Assignment) -> dict[str, bytes]:
    with tempfile.TemporaryDirectory(prefix="course-release-") as tmp:
        return read_release(build_course(Path(tmp), assignment))


def read_release(folder: Path) -> dict[str, bytes]:
    """The files of a freshly generated release folder as they are committed (notebooks normalised)."""
    files: dict[str, bytes] = {}
    for path in iter_files(folder):
        data = path.read_bytes()
        if path.suffix == ".ipynb":
            data = normalized_notebook(data.decode("utf-8")).encode("utf-8")
        files[path.relative_to(folder).as_posix()] = data
    return files


def committed_release(assignment: Assignment) -> dict[str, bytes]:
    if not assignment.release_dir.is_dir():
        return {}
    return {p.relative_to(assignment.release_dir).as_posix(): p.read_bytes()
            for p in iter_files(assignment.release_dir)}


def release_differences(expected: dict[str, bytes], actual: dict[str, bytes]) -> list[str]:
    """Human-readable differences between a generated and a committed release."""
    problems = []
    for rel in sorted(set(expected) | set(actual)):
        if rel not in actual:
            problems.append(f"missing: {rel}")
        elif rel not in expected:
            problems.append(f"not generated from solutions/ (remove it): {rel}")
        elif expected[rel] != actual[rel]:
            problems.append(f"differs from what generation produces: {rel}")
    return problems


def release(assignment: Assignment, check: bool = False,
            log: Callable[[str], None] = print) -> bool:
    """Write (or, with ``check``, compare) ``assignments/<name>/``; True when up to date."""
    expected = generate_release(assignment)
    actual = committed_release(assignment)
    problems = release_differences(expected, actual)
    where = shown(assignment.release_dir)
    if check:
        for problem in problems:
            log(f"{where}: {problem}")
        if not problems:
            log(f"{where}: up to date")
        return not problems
    if problems:
        if assignment.release_dir.exists():
            shutil.rmtree(assignment.release_dir)
        for rel, data in expected.items():
            dest = assignment.release_dir / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(data)
        log(f"{where}: written ({len(expected)} file(s))")
    else:
        log(f"{where}: up to date")
    return True
