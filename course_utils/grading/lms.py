"""Grades straight into the LMS: ``course grade ... --export canvas|moodle|csv --roster CSV``.

The *roster* maps each submission folder to the student's ids in the LMS. It is
a CSV with a header row; columns are recognised by name (case and ``_`` or
space do not matter), and any other column is ignored, so Canvas's or Moodle's
own gradebook export works as a roster once a ``folder`` column is added:

==============  ==========================================================
column          meaning
==============  ==========================================================
``folder``      the submission folder's name (also: ``submission``,
                ``student_id``); without it, ``SIS Login ID`` or
                ``username`` is taken as the folder name
``name``        the student's name as the LMS shows it (Canvas: ``Student``)
``id``          Canvas's user id (Canvas's ``ID`` column)
``sis_user_id`` ``sis_login_id`` ``section``  Canvas's columns of that name
``first_name`` ``last_name`` ``id_number`` ``email``  Moodle's (``First name``,
                ``Last name`` or ``Surname``, ``ID number``, ``Email address``)
==============  ==========================================================

The exports:

* ``canvas.csv``, Canvas's gradebook import format: ``Student, ID, SIS User ID,
  SIS Login ID, Section``, then one column per assignment; the second row is
  ``Points Possible`` with each assignment's points;
* ``moodle.csv``, for Moodle's "Import grades from CSV": ``First name, Last name,
  ID number, Email address`` and one column per assignment (map ``Email
  address`` or ``ID number`` to the user on Moodle's import page);
* ``export.csv``, a generic CSV whose columns ``--columns HEADER=FIELD,...`` names;
* ``tests.csv`` beside any of them: every student's score on every test, for
  the instructor.

A student in the roster without a submission gets an empty cell (the LMS
leaves the grade as it is), and so does a submission the grader could not
grade (a crash, not the student's fault: re-run); submission folders that are
not in the roster are not exported. Both are reported.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

from course_utils.grading.parcel import TRANSIENT, UsageError

CANVAS_COLUMNS = ("Student", "ID", "SIS User ID", "SIS Login ID", "Section")
CANVAS_POINTS_ROW = "    Points Possible"  # what Canvas's own export writes in the Student column
MOODLE_COLUMNS = ("First name", "Last name", "ID number", "Email address")
#: roster field -> the headers it is read from (normalised: lower case, spaces)
FIELDS = {
    "folder": ("folder", "submission", "student id"),
    "name": ("name", "student", "student name"),
    "id": ("id", "canvas id", "canvas user id", "user id"),
    "sis_user_id": ("sis user id",),
    "sis_login_id": ("sis login id",),
    "section": ("section",),
    "first_name": ("first name", "firstname"),
    "last_name": ("last name", "surname", "lastname"),
    "id_number": ("id number", "idnumber"),
    "email": ("email", "email address"),
    "username": ("username",),
}
RECORD_FIELDS = ("score", "max_score", "status", "message")
#: what each export needs of every roster row (one of)
NEEDED = {"canvas": ("id", "sis_user_id", "sis_login_id"), "moodle": ("email", "id_number", "username")}
FILES = {"canvas": "canvas.csv", "moodle": "moodle.csv", "csv": "export.csv"}
MAX_ROSTER_BYTES = 64 * 1024 ** 2


def _normal(header: str) -> str:
    return " ".join(header.replace("_", " ").strip().lower().split())


@dataclass
class Roster:
    """The class list: one row per student, keyed by submission folder name."""

    path: Path
    rows: dict[str, dict[str, str]] = field(default_factory=dict)   # folder -> field -> value
    columns: list[str] = field(default_factory=list)                 # the roster's own headers
    raw: dict[str, dict[str, str]] = field(default_factory=dict)     # folder -> header -> value
    folder_from: str = "folder"

    @classmethod
    def read(cls, path: Path, kind: str | None = None) -> "Roster":
        fix = "fix the roster and run the same command again (nothing was graded)"
        try:
            if path.stat().st_size > MAX_ROSTER_BYTES:
                raise UsageError(f"roster {path} is larger than {MAX_ROSTER_BYTES // 1024 ** 2} MB: is it a roster?")
            text = path.read_bytes().decode("utf-8-sig")
        except FileNotFoundError:
            raise UsageError(f"roster {path} does not exist: give the path of the class list CSV") from None
        except IsADirectoryError:
            raise UsageError(f"roster {path} is a folder: give the path of the class list CSV") from None
        except UnicodeDecodeError:
            raise UsageError(f"roster {path} is not UTF-8 text: save it as 'CSV UTF-8' and run again") from None
        except OSError as exc:
            raise UsageError(f"cannot read roster {path}: {exc.strerror or exc}") from None
        try:
            table = list(csv.reader(text.splitlines()))
        except csv.Error as exc:
            raise UsageError(f"roster {path} is not a valid CSV ({exc}): {fix}") from None
        table = [row for row in table if any(cell.strip() for cell in row)]
        if not table:
            raise UsageError(f"roster {path} is empty: it needs a header row (folder, and the LMS's ids) "
                             "and one row per student")
        headers = [h.strip() for h in table[0]]
        where: dict[str, int] = {}
        for index, header in enumerate(headers):
            for name, aliases in FIELDS.items():
                if _normal(header) in aliases and name not in where:
                    where[name] = index
        roster = cls(path, columns=headers)
        if "folder" not in where:
            for fallback in ("sis_login_id", "username"):
                if fallback in where:
                    where["folder"] = where[fallback]
                    roster.folder_from = headers[where[fallback]]
                    break
            else:
                raise UsageError(f"roster {path} has no column 'folder' (the name of each student's submission "
                                 f"folder); its columns are: {', '.join(headers) or 'none'}. Add a 'folder' "
                                 f"column and {fix}")
        seen: dict[str, int] = {}
        problems: list[str] = []
        for number, row in enumerate(table[1:], start=2):
            row = row + [""] * (len(headers) - len(row))
            if len(row) > len(headers) and any(cell.strip() for cell in row[len(headers):]):
                problems.append(f"line {number} has {len(row)} cells, the header {len(headers)}")
                continue
            values = {name: row[index].strip() for name, index in where.items()}
            if "points possible" in _normal(values.get("name", "")):  # Canvas's second row
                continue
            folder = values["folder"]
            if not folder:
                problems.append(f"line {number} has no {roster.folder_from!r}")
                continue
            if folder in seen:
                problems.append(f"lines {seen[folder]} and {number} both have {roster.folder_from} {folder!r}")
                continue
            if kind in NEEDED and not any(values.get(name) for name in NEEDED[kind]):
                wanted = " or ".join(_label(name) for name in NEEDED[kind])
                problems.append(f"line {number} ({folder}) has no {wanted}, which {kind} needs to find the student")
                continue
            seen[folder] = number
            roster.rows[folder] = values
            roster.raw[folder] = dict(zip(headers, (cell.strip() for cell in row)))
        if problems:
            shown = "; ".join(problems[:10]) + (f"; and {len(problems) - 10} more" if len(problems) > 10 else "")
            raise UsageError(f"roster {path}: {shown}. {fix[0].upper() + fix[1:]}")
        if not roster.rows:
            raise UsageError(f"roster {path} lists no student (only a header): {fix}")
        return roster


def _label(name: str) -> str:
    return {"id": "ID", "sis_user_id": "SIS User ID", "sis_login_id": "SIS Login ID", "email": "email",
            "id_number": "ID number", "username": "username"}.get(name, name)


def _score(record: dict | None) -> str:
    """The cell of one grade: empty for no submission, or a grading failure that is not the student's."""
    if record is None or record.get(TRANSIENT):
        return ""
    return f"{record['score']:g}"


def parse_columns(text: str | None) -> list[tuple[str, str]] | None:
    if not text:
        return None
    columns = []
    for part in text.split(","):
        header, sep, name = part.partition("=")
        if not sep or not header.strip() or not name.strip():
            raise UsageError(f"--columns {text!r}: each column is HEADER=FIELD (e.g. --columns "
                             f"'Email=email,Points=score'); {part.strip()!r} is not")
        columns.append((header.strip(), name.strip()))
    return columns


@dataclass
class Export:
    kind: str
    roster: Roster
    columns: list[tuple[str, str]] | None = None
    missing: list[str] = field(default_factory=list)     # in the roster, no submission
    strangers: list[str] = field(default_factory=list)   # a submission, not in the roster
    ungraded: list[str] = field(default_factory=list)    # graded with a grader failure: left empty

    @classmethod
    def from_options(cls, kind: str | None, roster: str | None, columns: str | None) -> "Export | None":
        """Check the options (and read the roster) before anything is graded."""
        if kind is None:
            if roster or columns:
                raise UsageError("--roster and --columns go with --export canvas|moodle|csv")
            return None
        if not roster:
            raise UsageError(f"--export {kind} needs --roster CSV: the class list that maps each submission "
                             "folder to the student's LMS ids (see docs/grading.md)")
        if columns and kind != "csv":
            raise UsageError("--columns goes with --export csv (Canvas's and Moodle's columns are fixed)")
        parsed = parse_columns(columns)
        table = Roster.read(Path(roster), kind)
        for header, name in parsed or []:
            if name not in RECORD_FIELDS and name not in FIELDS and name not in table.columns:
                raise UsageError(f"--columns: {name!r} ({header}) is neither a roster column "
                                 f"({', '.join(table.columns)}) nor one of {', '.join(RECORD_FIELDS)}")
        return cls(kind, table, parsed)

    # ------------------------------------------------------------------ the tables
    def _match(self, grades: dict[str, list[dict]]) -> dict[str, dict[str, dict]]:
        """assignment -> folder -> record, and the unmatched students on both sides."""
        by_assignment = {name: {r["student_id"]: r for r in records} for name, records in grades.items()}
        submitted = set().union(*(set(m) for m in by_assignment.values())) if by_assignment else set()
        self.missing = sorted(set(self.roster.rows) - submitted)
        self.strangers = sorted(submitted - set(self.roster.rows))
        self.ungraded = sorted({f for m in by_assignment.values() for f, r in m.items()
                                if r.get(TRANSIENT) and f in self.roster.rows})
        return by_assignment

    def canvas(self, grades: dict[str, list[dict]]) -> list[list[str]]:
        matched = self._match(grades)
        names = list(grades)
        points = {name: next((f"{r['max_score']:g}" for r in records), "") for name, records in grades.items()}
        rows = [list(CANVAS_COLUMNS) + names, [CANVAS_POINTS_ROW, "", "", "", ""] + [points[n] for n in names]]
        for folder, values in self.roster.rows.items():
            name = values.get("name") or " ".join(filter(None, (values.get("first_name"), values.get("last_name")))) \
                or folder
            rows.append([name, values.get("id", ""), values.get("sis_user_id", ""), values.get("sis_login_id", ""),
                         values.get("section", "")] + [_score(matched[n].get(folder)) for n in names])
        return rows

    def moodle(self, grades: dict[str, list[dict]]) -> list[list[str]]:
        matched = self._match(grades)
        names = list(grades)
        rows = [list(MOODLE_COLUMNS) + names]
        for folder, values in self.roster.rows.items():
            first, last = values.get("first_name", ""), values.get("last_name", "")
            if not first and not last and values.get("name"):
                first, _, last = values["name"].partition(" ")
            rows.append([first, last, values.get("id_number", ""), values.get("email", "")]
                        + [_score(matched[n].get(folder)) for n in names])
        return rows

    def generic(self, grades: dict[str, list[dict]]) -> list[list[str]]:
        matched = self._match(grades)
        names = list(grades)
        columns = self.columns or ([(h, h) for h in self.roster.columns] + [("score", "score")])
        several = len(names) > 1
        header = []
        for title, name in columns:
            if name in RECORD_FIELDS and several:
                header += [f"{title} {n}" for n in names]
            else:
                header.append(title)
        rows = [header]
        for folder, values in self.roster.rows.items():
            row = []
            for _, name in columns:
                if name in RECORD_FIELDS:
                    for n in names:
                        record = matched[n].get(folder)
                        row.append(_score(record) if name == "score" else
                                   "" if record is None else f"{record[name]:g}" if name == "max_score"
                                   else str(record[name]))
                        if not several:
                            break
                else:
                    row.append(values.get(name, self.roster.raw[folder].get(name, "")))
            rows.append(row)
        return rows

    def tests(self, grades: dict[str, list[dict]]) -> list[list[str]]:
        """Every student's score on every test (the instructor's detail)."""
        matched = self._match(grades)
        tests: list[tuple[str, str, str, float]] = []
        for name, records in grades.items():
            for record in records:
                for test in record.get("tests", []):
                    key = (name, test["notebook"], test["grade_id"], test["points"])
                    if key not in tests:
                        tests.append(key)
        ids = [f for f in ("name", "id", "sis_user_id", "sis_login_id", "email", "id_number")
               if any(v.get(f) for v in self.roster.rows.values())]
        header = ["folder"] + ids + [f"{n} status" for n in grades] + [f"{n} score" for n in grades]
        header += [f"{n}/{nb}/{grade_id} ({points:g} pt)" for n, nb, grade_id, points in tests]
        rows = [header]
        for folder in list(self.roster.rows) + self.strangers:
            values = self.roster.rows.get(folder, {})
            row = [folder] + [values.get(f, "") for f in ids]
            row += [matched[n][folder]["status"] if folder in matched[n] else "no submission" for n in grades]
            row += [_score(matched[n].get(folder)) for n in grades]
            for n, nb, grade_id, _ in tests:
                record = matched[n].get(folder)
                found = [t for t in (record or {}).get("tests", []) if (t["notebook"], t["grade_id"]) == (nb, grade_id)]
                row.append(f"{found[0]['score']:g}" if found else "")
            rows.append(row)
        return rows

    def write(self, out: Path, grades: dict[str, list[dict]]) -> list[Path]:
        """Write the export and ``tests.csv`` into ``out``; returns their paths."""
        table = {"canvas": self.canvas, "moodle": self.moodle, "csv": self.generic}[self.kind](grades)
        paths = [out / FILES[self.kind], out / "tests.csv"]
        for path, rows in zip(paths, (table, self.tests(grades))):
            with open(path, "w", newline="", encoding="utf-8") as handle:
                csv.writer(handle).writerows(rows)
        return paths

    def unmatched_report(self) -> list[str]:
        lines = []
        if self.missing:
            lines.append(f"{len(self.missing)} student(s) of the roster have no submission (left empty in the "
                         f"export): {', '.join(self.missing)}")
        if self.strangers:
            lines.append(f"{len(self.strangers)} submission folder(s) are not in the roster {self.roster.path} "
                         f"(not exported: add them to the roster): {', '.join(self.strangers)}")
        if self.ungraded:
            lines.append(f"{len(self.ungraded)} submission(s) could not be graded (a grader failure, left empty "
                         f"in the export: run the same command again): {', '.join(self.ungraded)}")
        return lines
