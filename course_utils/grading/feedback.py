"""What a student's HTML feedback shows of the hidden tests (issue 13, "feedback in two stages").

``course grade --feedback MODE``:

``hidden`` (the default)  every graded test cell shows its name, points, whether it passed
                          and the check's message; a *hidden* test cell (its source in the
                          instructor's notebook holds ``### BEGIN HIDDEN TESTS``) shows a
                          placeholder instead of its code and, when it failed, only the
                          check's name and hint (:func:`redacted_message`), never the test
                          case or the expected value. Any output of any cell that holds a
                          line of hidden-test code is replaced by a note.
``full``                  everything, as nbgrader shows it (for after the deadline).
``none``                  no feedback is written.

What is hidden is read from the instructor's source notebook (trusted), keyed by
``grade_id``, never from the autograded copy, whose cells come from the student's file.
For A1 and A2 the trusted side records the redacted message of a failed check in the
cell's metadata (:data:`REDACTED`); A3's checks run in the kernel, and their message is
cut down here from its text.
"""

from __future__ import annotations

import html
import re
from typing import Any

import nbformat
from nbformat.notebooknode import NotebookNode

#: The choices of ``--feedback``; ``--no-feedback`` is ``none``.
MODES = ("none", "hidden", "full")
DEFAULT = "hidden"

BEGIN, END = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"

#: Cell metadata key where the trusted side records what feedback may show of a failure.
REDACTED = "course_redacted"

#: Error names whose message the grader itself writes, safe to show for a hidden test.
GRADER_ERRORS = ("NotImplementedError", "NameError", "CellTimeoutError", "KernelDied", "KernelStuck", "NotRun")

#: A line of hidden-test code with fewer letters and digits than this is not looked for in
#: outputs ("pass", "])").
MIN_LINE = 10

REMOVED = "[output removed by the grader: it holds hidden test code, shown after the deadline]\n"


def feedback_mode(value: Any) -> str:
    """``value`` as one of :data:`MODES` (``True``: the default, ``False``: ``none``)."""
    if value is True:
        return DEFAULT
    if value is False or value is None:
        return "none"
    if isinstance(value, str) and value in MODES:
        return value
    raise ValueError(f"feedback must be one of {', '.join(MODES)}, not {value!r}")


# ----------------------------------------------------------------------------- messages
def redacted_message(exc: BaseException) -> str | None:
    """What a hidden test's failure may show: ``[name] a hidden test failed`` (the name's
    leading identifier) and the check's hint, without the problem (the test case, the
    expected value); None when ``exc`` is no check failure. A placeholder left unanswered
    keeps its message."""
    from course_utils.checks.core import CheckFailed, NotAttempted

    if isinstance(exc, NotAttempted):  # "is not answered yet: replace ...", the grader's words
        return f"[{_identifier(str(exc.name))}] {exc.problem}"
    if isinstance(exc, CheckFailed):
        return _message(str(exc.name), exc.hint)
    return None


_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_.]{0,80}")


def _identifier(name: str) -> str:
    """A check's name may carry the case ("conv_forward out for x(2, 6, 9, 3), ..."): its
    leading identifier only (the function or variable checked), or ``check``."""
    named = _IDENTIFIER.match(name)
    return named.group(0) if named else "check"


def _message(name: str | None, hint: str | None) -> str:
    text = f"[{_identifier(name)}] a hidden test failed." if name else "A hidden test failed."
    return text + (f"\nHint: {hint}" if hint else "")


_NAMED = re.compile(r"\[([^\n]{1,120}?)\] ")
_HINT = re.compile(r"\nHint: ([^\n]*)\s*$")


def redact_text(ename: str, evalue: str) -> str:
    """The redacted message of an error output written without one (A3's in-kernel checks):
    a check's ``[name] ... Hint: ...`` cut down to its name and hint; the grader's own
    errors as they are; anything else only by its name."""
    if ename in GRADER_ERRORS:
        return f"{ename}: {evalue}"
    if ename == "CheckFailed" or ename.endswith(".CheckFailed"):
        named, hint = _NAMED.match(evalue), _HINT.search(evalue)
        return _message(named.group(1) if named else None, hint.group(1) if hint else None)
    return f"A hidden test failed ({ename}); the details are shown after the deadline."


# ----------------------------------------------------------------------------- the source
def hidden_parts(source: str) -> tuple[str, list[str]]:
    """``(the public part of source, the lines of its hidden blocks)``."""
    public, hidden, inside = [], [], False
    for line in source.splitlines():
        if BEGIN in line:
            inside = True
        elif END in line:
            inside = False
        elif inside:
            hidden.append(line)
        else:
            public.append(line)
    return "\n".join(public), hidden


def hidden_tests(source_nb: NotebookNode) -> tuple[dict[str, dict], set[str]]:
    """The hidden test cells of the instructor's notebook, ``{grade_id: {"public", "points"}}``,
    and the lines of hidden code to look for in outputs (those not also public somewhere),
    as :func:`_plain` has them."""
    cells: dict[str, dict] = {}
    public_text, lines = [], set()
    for cell in source_nb.cells:
        public, hidden = hidden_parts(cell.source)
        public_text.append(public)
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if BEGIN in cell.source and cell.cell_type == "code" and meta.get("grade_id"):
            cells[meta["grade_id"]] = {"public": public.rstrip(), "points": meta.get("points", 0)}
            lines.update(_plain(line) for line in hidden)
    known = _plain("\n".join(public_text))
    return cells, {line for line in lines if len(line) >= MIN_LINE and line not in known}


def _plain(text: str) -> str:
    """Only the letters and digits of ``text`` (HTML entities decoded): a line of code is
    found in a ``repr``, in escaped HTML or re-indented alike."""
    return re.sub(r"[^0-9A-Za-z]", "", html.unescape(text))


def _points(value: Any) -> str:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return "?"
    return f"{number:g}"


# ----------------------------------------------------------------------------- the notebook
def redact_notebook(nb: NotebookNode, source_nb: NotebookNode) -> NotebookNode:
    """``nb`` (an autograded notebook, after nbgrader's ``GetGrades``) as a student may see
    it before the deadline (in place; returns ``nb``)."""
    hidden, lines = hidden_tests(source_nb)
    for cell in nb.cells:
        meta = cell.get("metadata", {})
        grader = meta.get("nbgrader") if isinstance(meta, dict) else None
        grade_id = grader.get("grade_id") if isinstance(grader, dict) else None
        if cell.get("cell_type") == "code" and isinstance(grade_id, str) and grade_id in hidden:
            _redact_hidden_cell(cell, grade_id, hidden[grade_id])
        if lines and cell.get("cell_type") == "code":
            cell.outputs = [_scrubbed(output, lines) for output in cell.get("outputs", [])]
    return nb


def _redact_hidden_cell(cell: NotebookNode, grade_id: str, info: dict) -> None:
    grader = cell.metadata.nbgrader
    points = info["points"]
    score = grader.get("score")
    passed = score is not None and _points(score) == _points(points)
    unit = "point" if _points(points) == "1" else "points"
    placeholder = f"# hidden test {grade_id} ({_points(points)} {unit}): its code is shown after the deadline"
    cell.source = (info["public"] + "\n" if info["public"] else "") + placeholder
    errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
    recorded = cell.metadata.get(REDACTED)
    if errors:
        message = recorded if isinstance(recorded, str) else redact_text(str(errors[-1].get("ename", "")),
                                                                         str(errors[-1].get("evalue", "")))
        cell.outputs = [nbformat.v4.new_output("error", ename="HiddenTestFailed", evalue=message,
                                               traceback=[message])]
    elif passed:
        cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=f"[{grade_id}] hidden test passed\n")]
    elif score is None:  # not in the gradebook: nothing to say
        cell.outputs = []
    else:  # nbgrader fails a cell that wrote to stderr
        cell.outputs = [nbformat.v4.new_output(
            "error", ename="HiddenTestFailed", evalue="the test wrote to stderr (what your code printed there "
                                                     "while it ran is shown after the deadline)",
            traceback=["hidden test failed: the test wrote to stderr"])]
    cell.metadata.pop(REDACTED, None)


def _texts(output: NotebookNode) -> list[str]:
    kind = output.get("output_type")
    if kind == "stream":
        return [str(output.get("text", ""))]
    if kind == "error":
        return [str(output.get("evalue", "")), *map(str, output.get("traceback", []))]
    data = output.get("data", {})
    return [str(v) for v in data.values()] if isinstance(data, dict) else [str(data)]


def _scrubbed(output: NotebookNode, lines: set[str]) -> NotebookNode:
    """``output``, or a note in its place when it holds a line of hidden-test code."""
    texts = [_plain(text) for text in _texts(output)]
    if not any(line in text for text in texts for line in lines):
        return output
    return nbformat.v4.new_output("stream", name="stdout", text=REMOVED)


# ----------------------------------------------------------------------------- markdown on the page
#: Tags Markdown produces (and the notebooks' own HTML uses), on top of bleach's defaults.
MARKDOWN_TAGS = ("p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "pre", "code", "blockquote", "div", "span",
                 "table", "thead", "tbody", "tr", "th", "td", "img", "sup", "sub", "del", "dl", "dt", "dd")


def clean_markdown_html(html: Any) -> str:
    """Rendered markdown made safe for the feedback page: the tags Markdown produces are kept,
    scripts, event handlers, styles and ``javascript:`` links are not (bleach, as nbconvert's
    own ``clean_html``, which escapes headings and paragraphs)."""
    import bleach

    text = html.decode() if isinstance(html, bytes) else str(html)
    attributes = {**bleach.ALLOWED_ATTRIBUTES, "*": ["class", "id"], "img": ["src", "alt", "title"],
                  "th": ["align"], "td": ["align"]}
    return bleach.clean(text, tags=[*bleach.ALLOWED_TAGS, *MARKDOWN_TAGS], attributes=attributes,
                        protocols=[*bleach.ALLOWED_PROTOCOLS, "data"], strip_comments=True)
