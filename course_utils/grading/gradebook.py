"""Scores out of nbgrader's gradebook, and the class gradebook (``grades.csv``).

One *record* per student is a plain dict (JSON-ready)::

    {"student_id": "alice", "assignment": "a1_arithmetic", "status": "ok",
     "score": 17.0, "max_score": 20.0, "message": "...",
     "tests": [{"notebook": ..., "grade_id": ..., "points": 2.0, "score": 0.0,
                "hidden": True, "failure": "CheckFailed: [conv_sizes] ..."}], ...}

``status`` is ``ok`` (graded), ``not_attempted`` (graded, but no answer cell
was changed) or ``error`` (the submission could not be graded as a whole:
missing or invalid notebook, grading crashed or ran out of time); ``message``
says why and lists the failed tests.
"""

from __future__ import annotations

import csv
from pathlib import Path

import nbformat

from course_utils.grading.course import COURSE_ID

CSV_COLUMNS = ("student_id", "score", "max_score", "status", "message")
STATUSES = ("ok", "not_attempted", "error")


def failure_line(cell: nbformat.NotebookNode) -> str:
    """The first line of what made a test cell fail (its error, or its stderr)."""
    for output in cell.get("outputs", []):
        if output.output_type == "error":
            first = (str(output.get("evalue", "")).strip().splitlines() or [""])[0]
            return f"{output.ename}: {first}".strip().rstrip(":")
        if output.output_type == "stream" and output.name == "stderr":
            first = (output.text.strip().splitlines() or [""])[0]
            return f"wrote to stderr: {first}"
    return "failed"


def read_submission(root: Path, assignment: str, student: str, graded: bool) -> dict:
    """The record of one student from the gradebook of course directory ``root``."""
    from nbgrader.api import Gradebook, MissingEntry

    record = {"student_id": student, "assignment": assignment, "score": 0.0, "max_score": 0.0, "tests": []}
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}", COURSE_ID) as gb:
        record["max_score"] = float(gb.find_assignment(assignment).max_score)
        if not graded:
            return record
        try:
            submission = gb.find_submission(assignment, student)
        except MissingEntry:
            return record
        record["score"] = float(submission.score)
        for notebook in submission.notebooks:
            path = root / "autograded" / student / assignment / f"{notebook.name}.ipynb"
            cells = {}
            if path.exists():
                nb = nbformat.read(path, as_version=4)
                cells = {c.metadata.get("nbgrader", {}).get("grade_id"): c for c in nb.cells}
            order = {name: i for i, name in enumerate(cells)}
            for grade in sorted(notebook.grades, key=lambda g: (order.get(g.name, len(order)), g.name)):
                if grade.cell_type != "code":
                    continue
                source = gb.find_source_cell(grade.name, notebook.name, assignment).source
                entry = {
                    "notebook": notebook.name,
                    "grade_id": grade.name,
                    "points": float(grade.max_score),
                    "score": float(grade.score),
                    "hidden": "BEGIN HIDDEN TESTS" in source,
                }
                if entry["score"] < entry["points"]:
                    cell = cells.get(grade.name)
                    entry["failure"] = failure_line(cell) if cell is not None else "not graded (notebook missing)"
                record["tests"].append(entry)
    return record


def summary(record: dict) -> str:
    """``passed 7 of 9 tests; failed: a (2 pt), b (hidden, 3 pt)``."""
    tests = record.get("tests", [])
    if not tests:
        return "no test was run"
    failed = [t for t in tests if t["score"] < t["points"]]
    text = f"passed {len(tests) - len(failed)} of {len(tests)} tests"
    if failed:
        parts = [f"{t['grade_id']} ({'hidden, ' if t['hidden'] else ''}{t['points']:g} pt)" for t in failed]
        text += "; failed: " + ", ".join(parts)
    return text


def write_csv(records: list[dict], path: Path) -> None:
    """``grades.csv``: one row per student, sorted by id."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=CSV_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        for record in sorted(records, key=lambda r: r["student_id"]):
            writer.writerow({**record, "score": f"{record['score']:g}", "max_score": f"{record['max_score']:g}"})


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def format_table(records: list[dict], width: int = 100) -> str:
    """The gradebook as a plain-text table (what ``course grade`` prints)."""
    rows = sorted(records, key=lambda r: r["student_id"])
    name_w = max([len("student")] + [len(r["student_id"]) for r in rows])
    lines = [f"{'student':<{name_w}}  {'score':>11}  {'status':<13}  message"]
    for r in rows:
        score = f"{r['score']:g} / {r['max_score']:g}"
        message = r.get("message", "")
        room = max(width - name_w - 30, 20)
        if len(message) > room:
            message = message[: room - 3] + "..."
        lines.append(f"{r['student_id']:<{name_w}}  {score:>11}  {r['status']:<13}  {message}")
    counts = {s: sum(r["status"] == s for r in rows) for s in STATUSES}
    lines.append(f"{len(rows)} submission(s): " + ", ".join(f"{n} {s}" for s, n in counts.items() if n))
    return "\n".join(lines)
