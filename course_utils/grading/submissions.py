"""A class's submissions, as the batch finds them: the attack surface of ``course grade``.

``SUBMISSIONS`` is a folder with one sub-folder per student (nbgrader's "submitted"
layout for one assignment; ``<student>/<assignment>/`` is accepted too), or a zip of
such a folder. This module

* unpacks a class zip safely (:func:`extract_zip`): no absolute paths, no ``..``, no
  links, a size cap; a member that cannot be unpacked, for whatever reason, is a note
  on its student's row, never the end of the batch;
* finds the folder whose sub-folders are the students (:func:`submissions_root`) and
  each student's files (:func:`collect_students`): regular files only, read without
  following links, size-capped, odd names escaped, files that would shadow a module
  the tests import left out. Whatever goes wrong with one student's folder becomes
  that student's ``problem`` (an error row), never an exception;
* reads the files of a student as bytes when they are sent to be graded (:func:`pack`).

Only a class that cannot be read at all (not a folder, not a zip, no students) is a
:class:`.parcel.UsageError`.
"""

from __future__ import annotations

import ast
import contextlib
import hashlib
import importlib.metadata
import os
import re
import shutil
import sys
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from course_utils.grading.course import Assignment
from course_utils.grading.isolation import read_regular_file, shown_name
from course_utils.grading.parcel import MAX_FILE_BYTES, Parcel, UsageError

STUDENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,99}")
MAX_SUBMISSION_BYTES = 500 * 1024 ** 2  # and so is everything after this much per student
MAX_ZIP_BYTES = 4 * 1024 ** 3           # uncompressed size of a class zip
SKIPPED_FOLDERS = ("__MACOSX",)
#: Modules a submission may never shadow, besides those the assignment's notebooks import.
ALWAYS_IMPORTED = ("course_utils", "nbgrader", "IPython", "ipykernel")


@dataclass
class Student:
    """One student's folder in SUBMISSIONS."""

    student_id: str
    folder: Path
    problem: str | None = None                # why it cannot be graded at all
    fingerprint: str = ""
    files: list[str] = field(default_factory=list)   # relative paths of the regular files taken
    left_out: list[str] = field(default_factory=list)


# ----------------------------------------------------------------------------- the zip
def extract_zip(archive: Path, dest: Path) -> dict[str, list[str]]:
    """Unpack a class zip safely: no absolute paths, no ``..``, no links, bounded size.

    A member that cannot be unpacked (a damaged, corrupt or encrypted entry, a name too
    long for the file system, a file where a folder is: whatever the error) is skipped;
    returns, per top-level folder, notes on what was skipped.
    """
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as exc:
        raise UsageError(f"{archive} is not a valid zip file: {exc}") from None
    skipped: dict[str, list[str]] = {}
    total = 0
    with zf:
        for info in zf.infolist():
            name = info.filename.replace("\\", "/")
            parts = [p for p in name.split("/") if p not in ("", ".")]
            is_link = (info.external_attr >> 16) & 0o170000 == 0o120000
            if info.is_dir() or is_link or not parts or ".." in parts or name.startswith("/"):
                continue
            owner = parts[0]
            total += info.file_size
            if total > MAX_ZIP_BYTES:
                skipped.setdefault(owner, []).append(f"{shown_name(name)} (the zip unpacks to more than "
                                                     f"{MAX_ZIP_BYTES // 1024 ** 3} GB)")
                continue
            target = dest.joinpath(*parts)
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(info) as src, open(target, "xb") as out:
                    shutil.copyfileobj(src, out)
            except Exception as exc:  # zlib.error and lzma.LZMAError are no OSError or BadZipFile
                if not isinstance(exc, FileExistsError):  # on a clash, the member unpacked first stays
                    with contextlib.suppress(OSError):
                        target.unlink()  # never half a file: a damaged member fails at its end
                why = exc.strerror if isinstance(exc, OSError) and exc.strerror else f"{type(exc).__name__}: {exc}"
                skipped.setdefault(owner, []).append(f"{shown_name(name)} (not unpacked: {why})")
    return skipped


# ----------------------------------------------------------------------------- the students
def _visible(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if not p.name.startswith(".") and p.name not in SKIPPED_FOLDERS)


def _is_dir(path: Path) -> bool:
    return path.is_dir() and not path.is_symlink()


def submissions_root(path: Path, assignment: str) -> Path:
    """The folder whose sub-folders are the students (descending through wrapper folders,
    but not into a lone student's folder in nbgrader's ``<student>/<assignment>/`` layout)."""
    while True:
        entries = _visible(path)
        if len(entries) != 1 or not _is_dir(entries[0]):
            return path
        only = entries[0]
        if any(only.glob("*.ipynb")) or _is_dir(only / assignment):
            return path
        path = only


def _student_folder(folder: Path, assignment: str) -> Path:
    nested = folder / assignment
    if _is_dir(nested) and not any(folder.glob("*.ipynb")):
        return nested
    return folder


def imported_modules(notebooks: list[Path]) -> set[str]:
    """Top-level names a submission's files must not take: the modules the code cells of
    ``notebooks`` import, and every module of the standard library and of the installed
    packages (which those import in turn)."""
    import nbformat

    names = set(ALWAYS_IMPORTED) | set(sys.stdlib_module_names) | set(importlib.metadata.packages_distributions())
    for path in notebooks:
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.cell_type != "code":
                continue
            source = "\n".join(line for line in cell.source.splitlines() if not line.lstrip().startswith(("%", "!")))
            try:
                tree = ast.parse(source)
            except SyntaxError:
                continue
            for node in ast.walk(tree):
                if isinstance(node, ast.Import):
                    names.update(alias.name.split(".")[0] for alias in node.names)
                elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                    names.add(node.module.split(".")[0])
    return names


def _digest_files(student: Student, modules: set[str]) -> None:
    """Take the student's regular files (never through a link) and hash them."""
    digest = hashlib.sha256()
    budget_left = MAX_SUBMISSION_BYTES
    shadowing: set[str] = set()
    for folder, dirs, files in os.walk(student.folder, followlinks=False):
        rel_dir = os.path.relpath(folder, student.folder)
        dirs.sort()
        for name in list(dirs):
            rel = os.path.normpath(os.path.join(rel_dir, name))
            hidden = name.startswith(".") or name == "__pycache__"
            if hidden or os.path.islink(os.path.join(folder, name)):
                dirs.remove(name)
                if not hidden:
                    student.left_out.append(f"{shown_name(rel)} (a link)")
            elif rel_dir == "." and name in modules:
                dirs.remove(name)
                shadowing.add(name)
        for name in sorted(files):
            rel = os.path.normpath(os.path.join(rel_dir, name))
            if name.startswith(".") or name.endswith((".pyc", ".pyo")):
                continue
            if rel_dir == "." and name.endswith(".py") and name[:-3] in modules:
                shadowing.add(name)
                continue
            data, problem = read_regular_file(os.path.join(folder, name), min(MAX_FILE_BYTES, budget_left))
            if problem:
                student.left_out.append(f"{shown_name(rel)} ({problem})")
                continue
            budget_left -= len(data)
            student.files.append(rel)
            digest.update(os.fsencode(rel) + b"\0" + hashlib.sha256(data).digest())
    if shadowing:
        student.left_out.append(", ".join(sorted(shown_name(n) for n in shadowing))
                                + " (named like a module the tests import: the installed one is used)")
    student.fingerprint = digest.hexdigest()


def collect_students(root: Path, assignment: str, modules: set[str] = frozenset(ALWAYS_IMPORTED),
                     zip_notes: dict[str, list[str]] | None = None) -> tuple[list[Student], list[str]]:
    """The students under ``root`` and notes on anything ignored there. A folder that
    cannot be read, whatever the error, becomes a student with a ``problem``, never an
    exception (the other students are still taken)."""
    students, notes = [], []
    taken: set[str] = set()
    for entry in _visible(root):
        name = shown_name(entry.name)
        while name in taken:  # two odd names that escape alike still get a row each
            name += "_"
        taken.add(name)
        try:
            student = _student(entry, name, assignment, modules, (zip_notes or {}).get(entry.name, []))
        except Exception as exc:
            why = exc.strerror if isinstance(exc, OSError) and exc.strerror else f"{type(exc).__name__}: {exc}"
            student = Student(entry.name if STUDENT_ID.fullmatch(entry.name) else name, entry,
                              problem=f"could not read the submission: {why}")
        if student is None:
            notes.append(f"ignored {name}: not a student folder")
        else:
            students.append(student)
    return students, notes


def _student(entry: Path, name: str, assignment: str, modules: set[str], zip_notes: list[str]) -> Student | None:
    """The student of the folder ``entry`` (shown as ``name``), None when it is no folder."""
    if entry.is_symlink() or not entry.is_dir():
        return None
    if not STUDENT_ID.fullmatch(entry.name):
        return Student(name, entry, problem=f"folder name {name!r} is not a usable student id "
                                            "(letters, digits, and _ . @ - only): rename the folder and grade again")
    student = Student(entry.name, _student_folder(entry, assignment))
    student.left_out += zip_notes
    _digest_files(student, set(modules))
    return student


def discover(submissions: Path, assignment: Assignment, unpack_to: Path) -> tuple[list[Student], list[str]]:
    """The students of ``submissions`` (a folder, or a zip unpacked into ``unpack_to``) and
    notes on what was ignored there; no file of theirs shadows a module the assignment imports."""
    if not submissions.exists():
        raise UsageError(f"{submissions} does not exist")
    zip_notes: dict[str, list[str]] = {}
    folder = submissions
    if submissions.is_file():
        unpack_to.mkdir(parents=True, exist_ok=True)
        zip_notes = extract_zip(submissions, unpack_to)
        folder = unpack_to
    modules = imported_modules([assignment.source_dir / f"{nb}.ipynb" for nb in assignment.notebooks])
    students, notes = collect_students(submissions_root(folder, assignment.name), assignment.name, modules,
                                       zip_notes)
    if not students:
        raise UsageError(f"no student folders in {submissions}")
    return students, notes


# ----------------------------------------------------------------------------- sending
def pack(student: Student) -> Parcel:
    """The student's regular files as bytes (read without following links)."""
    parcel = Parcel(student.student_id)
    for rel in student.files:
        data, problem = read_regular_file(student.folder / rel, MAX_FILE_BYTES)
        if problem:  # changed since it was looked at
            student.left_out.append(f"{shown_name(rel)} ({problem})")
            continue
        parcel.files[rel] = data
    return parcel
