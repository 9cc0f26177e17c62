"""LMS export of `course grade` (issue 17): Canvas's gradebook import columns, Moodle's, a
generic CSV, the per-test CSV, and the roster that maps submission folders to LMS ids."""

from __future__ import annotations

import csv

import pytest

from course_utils.cli import main as course
from course_utils.grading.batch import UsageError
from course_utils.grading.lms import CANVAS_COLUMNS, Export, Roster

ROSTER = """folder,Student,ID,SIS User ID,SIS Login ID,Section,Email address,ID number
ada,"Lovelace, Ada",101,S-1,ada,Tue,ada@example.edu,1001
ben,"Babbage, Ben",102,S-2,ben,Wed,ben@example.edu,1002
cleo,"Cleo Nobody",103,S-3,cleo,Wed,cleo@example.edu,1003
"""


def _record(student, score, status="ok", transient=False, tests=None):
    record = {"student_id": student, "assignment": "a1_arithmetic", "score": score, "max_score": 24.0,
              "status": status, "message": "", "tests": tests or [
                  {"notebook": "a1_arithmetic", "grade_id": "t1", "points": 4.0, "score": min(score, 4.0),
                   "hidden": False},
                  {"notebook": "a1_arithmetic", "grade_id": "t2", "points": 20.0, "score": max(score - 4, 0.0),
                   "hidden": True}]}
    if transient:
        record["transient"] = True
    return record


GRADES = {"a1_arithmetic": [_record("ada", 24.0), _record("ben", 17.5), _record("zed", 3.0)]}


def _export(tmp_path, kind, text=ROSTER, columns=None):
    path = tmp_path / "roster.csv"
    path.write_text(text)
    return Export.from_options(kind, str(path), columns)


def _read(path):
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.reader(handle))


def test_canvas_export_has_canvass_import_columns_and_points_possible(tmp_path):
    export = _export(tmp_path, "canvas")
    paths = export.write(tmp_path, GRADES)
    rows = _read(tmp_path / "canvas.csv")
    assert paths[0] == tmp_path / "canvas.csv"
    # Canvas: Student, ID, SIS User ID, SIS Login ID, Section, then one column per assignment
    assert rows[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "a1_arithmetic"]
    assert tuple(rows[0][:5]) == CANVAS_COLUMNS
    # the second row: Points Possible, the identity cells empty, each assignment's points
    assert rows[1][0].strip() == "Points Possible" and rows[1][1:5] == ["", "", "", ""] and rows[1][5] == "24"
    assert rows[2:] == [["Lovelace, Ada", "101", "S-1", "ada", "Tue", "24"],
                        ["Babbage, Ben", "102", "S-2", "ben", "Wed", "17.5"],
                        ["Cleo Nobody", "103", "S-3", "cleo", "Wed", ""]]


def test_unmatched_students_are_reported_on_both_sides(tmp_path):
    export = _export(tmp_path, "canvas")
    export.write(tmp_path, GRADES)
    report = export.unmatched_report()
    assert export.missing == ["cleo"] and export.strangers == ["zed"]
    assert any("have no submission" in line and "cleo" in line for line in report)
    assert any("not in the roster" in line and "zed" in line for line in report)
    assert "zed" not in (tmp_path / "canvas.csv").read_text()


def test_a_grader_failure_is_left_empty_not_exported_as_zero(tmp_path):
    export = _export(tmp_path, "canvas")
    grades = {"a1_arithmetic": [_record("ada", 0.0, "error", transient=True), _record("ben", 0.0, "error")]}
    export.write(tmp_path, grades)
    rows = {r[3]: r[5] for r in _read(tmp_path / "canvas.csv")[2:]}
    assert rows == {"ada": "", "ben": "0", "cleo": ""}  # ben's error is the submission's: 0
    assert any("could not be graded" in line and "ada" in line for line in export.unmatched_report())


def test_one_column_per_assignment(tmp_path):
    export = _export(tmp_path, "canvas")
    grades = {**GRADES, "a2_numpy_layers": [{**_record("ben", 21.0), "max_score": 21.0}]}
    export.write(tmp_path, grades)
    rows = _read(tmp_path / "canvas.csv")
    assert rows[0][5:] == ["a1_arithmetic", "a2_numpy_layers"] and rows[1][5:] == ["24", "21"]
    assert rows[3][5:] == ["17.5", "21"] and rows[2][5:] == ["24", ""]


def test_moodle_export_has_moodles_identity_columns(tmp_path):
    export = _export(tmp_path, "moodle", ROSTER.replace("folder,Student", "folder,Name")
                     .replace('"Lovelace, Ada"', "Ada Lovelace").replace('"Babbage, Ben"', "Ben Babbage"))
    export.write(tmp_path, GRADES)
    rows = _read(tmp_path / "moodle.csv")
    assert rows[0] == ["First name", "Last name", "ID number", "Email address", "a1_arithmetic"]
    assert rows[1] == ["Ada", "Lovelace", "1001", "ada@example.edu", "24"]
    assert rows[2] == ["Ben", "Babbage", "1002", "ben@example.edu", "17.5"]


def test_generic_csv_follows_the_column_map(tmp_path):
    export = _export(tmp_path, "csv", columns="Email=email,Points=score,Out of=max_score,Section=Section")
    export.write(tmp_path, GRADES)
    rows = _read(tmp_path / "export.csv")
    assert rows[0] == ["Email", "Points", "Out of", "Section"]
    assert rows[1:] == [["ada@example.edu", "24", "24", "Tue"], ["ben@example.edu", "17.5", "24", "Wed"],
                        ["cleo@example.edu", "", "", "Wed"]]


def test_per_test_csv_lists_every_test_of_every_student(tmp_path):
    _export(tmp_path, "canvas").write(tmp_path, GRADES)
    rows = _read(tmp_path / "tests.csv")
    header = rows[0]
    assert header[0] == "folder" and "a1_arithmetic/a1_arithmetic/t2 (20 pt)" in header
    by_folder = {r[0]: dict(zip(header, r)) for r in rows[1:]}
    assert set(by_folder) == {"ada", "ben", "cleo", "zed"}
    assert by_folder["ben"]["a1_arithmetic/a1_arithmetic/t2 (20 pt)"] == "13.5"
    assert by_folder["cleo"]["a1_arithmetic status"] == "no submission"


def test_a_canvas_export_used_as_roster_matches_on_sis_login_id(tmp_path):
    text = ("Student,ID,SIS User ID,SIS Login ID,Section,Quiz 1 (77)\n"
            "    Points Possible,,,,,10\n"
            '"Lovelace, Ada",101,S-1,ada,Tue,9\n')
    export = _export(tmp_path, "canvas", text)
    assert list(export.roster.rows) == ["ada"] and export.roster.folder_from == "SIS Login ID"


@pytest.mark.parametrize("text, says", [
    ("", "is empty"),
    ("name,email\nAda,ada@example.edu\n", "has no column 'folder'"),
    ("folder,ID\nada,101\nada,102\n", "lines 2 and 3 both have folder 'ada'"),
    ("folder,ID\n,101\n", "line 2 has no 'folder'"),
    ("folder,Section\nada,Tue\n", "line 2 (ada) has no ID or SIS User ID or SIS Login ID"),
    ("folder,ID\n", "lists no student"),
    ("folder,ID\nada,101,extra\n", "line 2 has 3 cells, the header 2"),
])
def test_a_bad_roster_says_what_is_wrong(text, says, tmp_path):
    with pytest.raises(UsageError, match="roster") as caught:
        _export(tmp_path, "canvas", text)
    assert says in str(caught.value)


def test_a_bad_roster_exits_2_before_anything_is_graded(tmp_path, capsys):
    (tmp_path / "roster.csv").write_text("name\nAda\n")
    out = tmp_path / "out"
    for args, says in [(["--export", "canvas", "--roster", str(tmp_path / "roster.csv")], "has no column 'folder'"),
                       (["--export", "canvas", "--roster", str(tmp_path / "missing.csv")], "does not exist"),
                       (["--export", "moodle"], "needs --roster"),
                       (["--roster", str(tmp_path / "roster.csv")], "go with --export"),
                       (["--export", "csv", "--roster", str(tmp_path / "roster.csv"), "--columns", "Email"],
                        "each column is HEADER=FIELD")]:
        assert course(["grade", "a1_arithmetic", "--out", str(out), "--quiet", *args]) == 2
        err = capsys.readouterr().err
        assert says in err and err.startswith("error:"), err
        assert not out.exists()


def test_roster_files_that_are_not_text(tmp_path):
    (tmp_path / "roster.csv").write_bytes(b"\xff\xfe\x00b\x00a\x00d")
    with pytest.raises(UsageError, match="not UTF-8"):
        Roster.read(tmp_path / "roster.csv")
    with pytest.raises(UsageError, match="is a folder"):
        Roster.read(tmp_path)
