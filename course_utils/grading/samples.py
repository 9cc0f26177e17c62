"""Submissions made from an assignment's source: examples, test fixtures, benchmark classes.

A *submission* starts as the student release (``assignments/<name>/``) and has
some answer cells filled in: with the solution from ``solutions/<name>/``
(markers removed), with a typical mistake (:data:`MISTAKES`) or left as the
placeholder. Bad submissions (cheats, crashes) edit the notebook further; the
tests build theirs with :func:`edit_cell` and friends.

``python -m course_utils.grading.samples`` rewrites the shipped example classes
in ``solutions/examples/<assignment>/`` (what ``make grade`` grades).
"""

from __future__ import annotations

import random
import shutil
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

import nbformat

from course_utils.grading.course import EXAMPLES_DIR, Assignment, get_assignment

#: Wrong answers students really give, per assignment and answer cell (grade id).
MISTAKES: dict[str, dict[str, str]] = {
    "a1_arithmetic": {
        # forgets the dilation
        "conv_output_size": "def conv_output_size(n, k, s=1, p=0, d=1):\n"
                            "    return (n + 2 * p - k) // s + 1",
        # pads one side only
        "transposed_output_size": "def transposed_output_size(n, k, s=1, p=0, output_padding=0):\n"
                                  "    return (n - 1) * s + k - p + output_padding",
        # uses the jump after the layer for rf and start
        "rf_step": "def rf_step(previous, k, s=1, p=0, d=1):\n"
                   "    n, jump, rf, start = previous\n"
                   "    k_eff = d * (k - 1) + 1\n"
                   "    jump = jump * s\n"
                   "    return (n + 2 * p - k_eff) // s + 1, jump, rf + (k_eff - 1) * jump, "
                   "start + ((k_eff - 1) / 2 - p) * jump",
        # counts the moving statistics of batch normalisation as trainable
        "param_counts_p": "param_counts_p = [(896, 0), (128, 0), (0, 0), (2400, 0), (256, 0), (650, 0)]",
        # forgets that the pooling halves the size
        "sizes_c": "sizes_c = [60, 60, 60, 56, 28, 13]",
    },
    "a2_numpy_layers": {
        # overwrites instead of adding where windows overlap
        "conv_backward": "def conv_backward(dout, cache):\n"
                         "    x, w, b, stride, pad = cache\n"
                         "    kh, kw = w.shape[:2]\n"
                         "    xp = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))\n"
                         "    dxp, dw = np.zeros_like(xp), np.zeros_like(w)\n"
                         "    for i in range(dout.shape[1]):\n"
                         "        for j in range(dout.shape[2]):\n"
                         "            r, c = slice(i * stride, i * stride + kh), slice(j * stride, j * stride + kw)\n"
                         "            dw += np.tensordot(xp[:, r, c, :], dout[:, i, j, :], axes=([0], [0]))\n"
                         "            dxp[:, r, c, :] = np.tensordot(dout[:, i, j, :], w, axes=([1], [3]))\n"
                         "    return dxp[:, pad:pad + x.shape[1], pad:pad + x.shape[2], :], dw, dout.sum(axis=(0, 1, 2))",
        # the unbiased variance (numpy's ddof=1) instead of the batch's own
        "batchnorm": "def batchnorm_forward(x, gamma, beta, eps=1e-3):\n"
                     "    axes = tuple(range(x.ndim - 1))\n"
                     "    inv_std = 1.0 / np.sqrt(x.var(axis=axes, ddof=1) + eps)\n"
                     "    x_hat = (x - x.mean(axis=axes)) * inv_std\n"
                     "    return gamma * x_hat + beta, (x_hat, gamma, inv_std)\n\n\n"
                     "def batchnorm_backward(dout, cache):\n"
                     "    x_hat, gamma, inv_std = cache\n"
                     "    axes = tuple(range(dout.ndim - 1))\n"
                     "    g = dout * gamma\n"
                     "    dx = inv_std * (g - g.mean(axis=axes) - x_hat * (g * x_hat).mean(axis=axes))\n"
                     "    return dx, (dout * x_hat).sum(axis=axes), dout.sum(axis=axes)",
    },
}


def _strip_markers(source: str) -> str:
    keep = [line for line in source.splitlines()
            if "### BEGIN SOLUTION" not in line and "### END SOLUTION" not in line]
    return "\n".join(keep)


def grade_id(cell: nbformat.NotebookNode) -> str | None:
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def solutions(assignment: Assignment, notebook: str) -> dict[str, str]:
    """The answer of every solution cell of ``notebook``, as a student would write it."""
    nb = nbformat.read(assignment.source_dir / f"{notebook}.ipynb", as_version=4)
    return {grade_id(c): _strip_markers(c.source) for c in nb.cells
            if c.get("metadata", {}).get("nbgrader", {}).get("solution")}


def release_notebook(assignment: Assignment, notebook: str | None = None) -> nbformat.NotebookNode:
    """The student release of ``notebook`` (default: the assignment's only notebook)."""
    name = notebook or assignment.notebooks[0]
    return nbformat.read(assignment.release_dir / f"{name}.ipynb", as_version=4)


def answered(assignment: Assignment, *, wrong: Iterable[str] = (), blank: Iterable[str] = (),
             notebook: str | None = None) -> nbformat.NotebookNode:
    """The release with every answer cell filled in: correctly, except the ids in
    ``wrong`` (a typical mistake from :data:`MISTAKES`) and ``blank`` (left as is)."""
    name = notebook or assignment.notebooks[0]
    nb = release_notebook(assignment, name)
    right = solutions(assignment, name)
    wrong, blank = set(wrong), set(blank)
    mistakes = MISTAKES.get(assignment.name, {})
    for cell in nb.cells:
        gid = grade_id(cell)
        if gid not in right or gid in blank:
            continue
        cell.source = mistakes[gid] if gid in wrong else right[gid]
    return nb


def find_cell(nb: nbformat.NotebookNode, gid: str) -> nbformat.NotebookNode:
    for cell in nb.cells:
        if grade_id(cell) == gid:
            return cell
    raise KeyError(f"no cell {gid!r} in the notebook")


def edit_cell(nb: nbformat.NotebookNode, gid: str, change: Callable[[str], str]) -> nbformat.NotebookNode:
    """Replace the source of cell ``gid`` by ``change(source)`` (in place; returns ``nb``)."""
    cell = find_cell(nb, gid)
    cell.source = change(cell.source)
    return nb


def write(nb: nbformat.NotebookNode, folder: Path, filename: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / filename
    nbformat.write(nb, path)
    return path


def write_class(assignment: Assignment, folder: Path, students: dict[str, nbformat.NotebookNode]) -> None:
    """One sub-folder per student, holding the assignment's notebook."""
    name = assignment.notebooks[0]
    for student, nb in students.items():
        write(nb, folder / student, f"{name}.ipynb")


def random_class(assignment: Assignment, size: int, seed: int = 0) -> dict[str, nbformat.NotebookNode]:
    """``size`` plausible students: each makes 0-2 typical mistakes and leaves 0-1 answer blank."""
    rng = random.Random(seed)
    ids = sorted(solutions(assignment, assignment.notebooks[0]))
    mistakes = sorted(MISTAKES.get(assignment.name, {}))
    students = {}
    for i in range(size):
        wrong = rng.sample(mistakes, rng.randint(0, min(2, len(mistakes))))
        blank = rng.sample([g for g in ids if g not in wrong], rng.randint(0, 1))
        students[f"student{i + 1:03d}"] = answered(assignment, wrong=wrong, blank=blank)
    return students


# ----------------------------------------------------------------------------- shipped examples
def example_class(assignment: Assignment) -> dict[str, nbformat.NotebookNode]:
    """The example class of ``make grade``: one student of each kind an instructor meets."""
    mistakes = sorted(MISTAKES.get(assignment.name, {}))
    first_test = next(grade_id(c) for c in release_notebook(assignment).cells
                      if c.get("metadata", {}).get("nbgrader", {}).get("grade"))
    first_answer = sorted(solutions(assignment, assignment.notebooks[0]))[0]
    cheat = answered(assignment, wrong=mistakes[:1])
    edit_cell(cheat, first_test, lambda src: "# the tests pass now\npass")
    looping = answered(assignment)
    edit_cell(looping, first_answer, lambda src: "while True:  # forgot the stopping condition\n    pass\n" + src)
    return {
        "ada": answered(assignment),
        "ben": answered(assignment, wrong=mistakes[:2]),
        "chloe": answered(assignment, blank=sorted(solutions(assignment, assignment.notebooks[0]))[1:]),
        "dev": release_notebook(assignment),
        "eve": cheat,
        "finn": looping,
    }


EXAMPLES_README = """# Example submissions

`solutions/examples/<assignment>/` holds a small class for each assignment, made by
`python -m course_utils.grading.samples` from `solutions/<assignment>/` and graded by
`make grade` (or `course grade <assignment>`). One folder per student:

* `ada`: every answer right (full marks);
* `ben`: typical mistakes (partial credit, with the checks' hints in the feedback);
* `chloe`: answered one exercise only;
* `dev`: handed in the release unchanged (score 0, status `not_attempted`);
* `eve`: edited a test cell so that it passes; the grader restores it (honest score);
* `finn`: an infinite loop in one answer; that cell times out and the rest is graded.
"""


def write_examples(names: Iterable[str]) -> None:
    for name in names:
        assignment = get_assignment(name)
        folder = assignment.examples_dir
        if folder.exists():
            shutil.rmtree(folder)
        write_class(assignment, folder, example_class(assignment))
        print(f"wrote {folder}")
    (EXAMPLES_DIR / "README.md").write_text(EXAMPLES_README)


#: The assignments whose example classes are shipped (and graded by ``make grade``).
SHIPPED = ("a1_arithmetic", "a2_numpy_layers")

if __name__ == "__main__":
    write_examples(sys.argv[1:] or SHIPPED)
