"""Tools for the people who write the notebooks.

Every lecture notebook ``notebooks/NN_topic.ipynb`` has a reviewable text twin
``notebooks/NN_topic.py`` in jupytext's percent format: edit the ``.py``, then

    course notebooks sync            # .py -> .ipynb, keeping outputs of unchanged cells
    course notebooks run 03          # execute (full budget) and save the outputs
    course notebooks check           # what CI checks: twins in sync, Colab cell, few ignored cells

The first cell of every notebook is generated here from the one repository URL
(``[project.urls] Repository`` in pyproject.toml): an "Open in Colab" badge and an
install step that runs only on Colab.
"""

from __future__ import annotations

import os
import re
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path

from course_utils.config import REPO_ROOT

NOTEBOOK_DIR = REPO_ROOT / "notebooks"
IGNORE_MARK = "# NBVAL_IGNORE_OUTPUT"
#: A notebook may ignore the output of at most this many cells (training logs, timings).
MAX_IGNORED_CELLS = 6
#: What may make a cell's output differ between the quick and the full budget, or between two
#: runs: training a network (Keras, the course's loops, the numpy twin) or timing code. An
#: ignored cell must do one of these; every other output is deterministic and is checked.
IGNORE_REASONS = re.compile(r"\.fit\(|\bfit_model\(|\bfit_segmenter\(|\btrain_numpy\(|\bperf_counter\(")


def repository_url() -> str:
    """The one place the repository URL is configured: pyproject.toml, [project.urls] Repository."""
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    return project["urls"]["Repository"].rstrip("/")


def colab_url(notebook: str | Path, branch: str = "main") -> str:
    url = repository_url()
    github = re.sub(r"^https://github\.com/", "", url)
    return f"https://colab.research.google.com/github/{github}/blob/{branch}/notebooks/{Path(notebook).stem}.ipynb"


def colab_badge(notebook: str | Path) -> str:
    return (f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
            f"({colab_url(notebook)})")


#: What the Colab cell runs (indented under ``if "google.colab" in sys.modules:``). It pins
#: every package the runtime already has to its installed version (pip constraints), so
#: pip can only add what is missing; it prints one line, or raises with pip's error.
COLAB_INSTALL = """\
import importlib.metadata, json, re, subprocess, tempfile
course = "{source}"
key = lambda name: re.sub(r"[-_.]+", "-", name).lower()
runtime = {}  # what Colab ships, as pip sees it (the first of each name on sys.path)
for dist in importlib.metadata.distributions():
    name = dist.metadata.get("Name")
    if name and key(name) != "course-utils":
        runtime.setdefault(key(name), dist.version)
tmp = tempfile.mkdtemp()
with open(f"{tmp}/runtime.txt", "w") as f:
    f.write("\\n".join(f"{name}=={version}" for name, version in runtime.items()))
pip = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "-c", f"{tmp}/runtime.txt",
                      "--report", f"{tmp}/report.json", course], capture_output=True, text=True)
if pip.returncode:
    raise RuntimeError("pip could not install the course package:\\n" + pip.stderr[-3000:])
added = [p["metadata"] for p in json.load(open(f"{tmp}/report.json"))["install"]]
changed = [m["name"] for m in added if key(m["name"]) in runtime]
print("installed", ", ".join(f"{m['name']} {m['version']}" for m in added) or "nothing new", "-",
      f"CHANGED Colab's {', '.join(changed)}" if changed else "no package of the Colab runtime changed")"""


def colab_install_source() -> str:
    """What the Colab cell installs: the repository, as pip's ``git+`` URL."""
    return f"git+{repository_url()}"


def colab_install_block(source: str | None = None) -> str:
    """The part of every set-up cell that installs: ``import sys`` and the Colab-only block.

    ``source`` replaces what pip installs (default :func:`colab_install_source`): the Colab
    twin runs this same code on a local copy of the repository.
    """
    body = COLAB_INSTALL.replace("{source}", source or colab_install_source())
    return "import sys\nif \"google.colab\" in sys.modules:\n" + "\n".join("    " + line for line in body.splitlines())


def colab_cell_source(notebook: str | Path, source: str | None = None) -> str:
    """The first (code) cell of each notebook: installs the package on Colab, nothing elsewhere."""
    return (
        f"# Open in Colab: {colab_url(notebook)}\n"
        "# On Colab this installs the course package, leaving every package Colab ships as it is;\n"
        "# elsewhere it does nothing.\n"
        + colab_install_block(source)
    )


_COLAB_BLOCK = re.compile(r'import sys\n(?:import subprocess\n)?if "google\.colab" in sys\.modules:\n(?:    .*(?:\n|$))+')


def with_colab_block(source: str) -> str:
    """A set-up cell's ``source`` with its Colab block replaced by the generated one."""
    def block(match: re.Match) -> str:
        return colab_install_block() + ("\n" if match.group(0).endswith("\n") else "")

    return _COLAB_BLOCK.sub(block, source, count=1)


def _is_colab_cell(cell) -> bool:
    return cell.cell_type == "code" and cell.source.startswith("# Open in Colab:")


@dataclass(frozen=True)
class Twin:
    py: Path
    ipynb: Path

    @property
    def name(self) -> str:
        return self.py.stem


def twins(selection: list[str] | None = None) -> list[Twin]:
    """The notebook pairs, optionally filtered by name prefix (``01`` or ``01_convolution_basics``)."""
    found = [Twin(py, py.with_suffix(".ipynb")) for py in sorted(NOTEBOOK_DIR.glob("[0-9][0-9]_*.py"))]
    if selection:
        found = [t for t in found if any(t.name.startswith(s) for s in selection)]
        if not found:
            raise ValueError(f"no notebook matches {selection}; notebooks: "
                             f"{', '.join(t.name for t in twins())}")
    return found


def _read_py(twin: Twin):
    import jupytext

    return jupytext.read(twin.py)


def _source_cells(nb) -> list[tuple[str, str]]:
    return [(c.cell_type, c.source.strip()) for c in nb.cells]


def sync(twin: Twin) -> bool:
    """Write the .ipynb from the .py, keeping the outputs of cells whose source is unchanged.

    The first code cell is (re)generated as :func:`colab_cell_source`, in the .py too.
    Returns True when a file changed.
    """
    import jupytext
    import nbformat

    text_nb = _read_py(twin)
    code = [c for c in text_nb.cells if c.cell_type == "code"]
    expected = colab_cell_source(twin.ipynb)
    py_changed = bool(code) and code[0].source.strip() != expected.strip() and _is_colab_cell(code[0])
    if py_changed:
        text = twin.py.read_text()
        if code[0].source not in text:
            raise ValueError(f"{twin.py.name}: cannot find its Colab cell to regenerate it")
        twin.py.write_text(text.replace(code[0].source, expected, 1))
        code[0].source = expected
    if twin.ipynb.exists():
        old = nbformat.read(twin.ipynb, as_version=4)
        if _source_cells(old) == _source_cells(text_nb):
            return py_changed
        for name, value in old.metadata.items():  # language_info, saved widget state
            text_nb.metadata.setdefault(name, value)
        previous_cells = {(c.cell_type, c.source.strip()): c for c in old.cells}
        old_colab = next((c for c in old.cells if c.cell_type == "code"), None)
        used_ids: set[str] = set()
        for cell in text_nb.cells:
            previous = previous_cells.get((cell.cell_type, cell.source.strip()))
            if previous is None and _is_colab_cell(cell) and old_colab is not None and _is_colab_cell(old_colab):
                previous = old_colab  # regenerated: it does nothing off Colab, so its outputs stay
            if previous is None:
                continue
            if "id" in previous and previous.id not in used_ids:  # unchanged cells keep their id
                cell.id = previous.id                                 # and metadata: a small diff
                used_ids.add(previous.id)
            cell.metadata = previous.metadata
            if cell.cell_type == "code":
                cell.outputs = previous.outputs
                cell.execution_count = previous.execution_count
    jupytext.write(text_nb, twin.ipynb, fmt="ipynb")
    return True


def assignment_sources() -> list[Path]:
    """The assignments' nbgrader source notebooks (solutions/<name>/*.ipynb, examples left out)."""
    return sorted(p for p in (REPO_ROOT / "solutions").glob("*/*.ipynb") if p.parent.name != "examples")


def sync_assignment(path: Path) -> bool:
    """Regenerate the Colab block of an assignment source's set-up cell; True when it changed.

    (``course release`` then carries it into the student release.)"""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    changed = False
    for cell in nb.cells:
        if cell.cell_type == "code" and _COLAB_BLOCK.search(cell.source):
            new = with_colab_block(cell.source)
            changed, cell.source = changed or new != cell.source, new
    if changed:
        nbformat.write(nb, path)
    return changed


def assignment_problems(path: Path) -> list[str]:
    import nbformat

    cells = [c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]
    if not any(colab_install_block() in source for source in cells):
        return [f"{path.relative_to(REPO_ROOT)}: its set-up cell must install as the notebooks' Colab cell "
                "does (`course notebooks sync`, then `course release`)"]
    return []


def execute(twin: Twin, quick: bool = False, timeout: int = 1800) -> float:
    """Run the notebook top to bottom (full budget unless ``quick``) and save it; returns seconds."""
    import nbformat
    from nbclient import NotebookClient

    sync(twin)
    nb = nbformat.read(twin.ipynb, as_version=4)
    saved = {k: os.environ.get(k) for k in ("COURSE_QUICK", "PYTHONHASHSEED")}
    os.environ["COURSE_QUICK"] = "1" if quick else "0"
    os.environ["PYTHONHASHSEED"] = "0"
    try:
        start = time.perf_counter()
        NotebookClient(nb, timeout=timeout, kernel_name="python3",
                       resources={"metadata": {"path": str(NOTEBOOK_DIR)}}).execute()
        seconds = time.perf_counter() - start
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    nbformat.write(nb, twin.ipynb)
    return seconds


def problems(twin: Twin) -> list[str]:
    """What is wrong with one notebook pair (empty when all is well)."""
    import nbformat

    found = []
    if not twin.ipynb.exists():
        return [f"{twin.ipynb.name} is missing: run `course notebooks sync`"]
    nb = nbformat.read(twin.ipynb, as_version=4)
    if _source_cells(nb) != _source_cells(_read_py(twin)):
        found.append(f"{twin.ipynb.name} and {twin.py.name} differ: edit the .py, then `course notebooks sync`")
    code = [c for c in nb.cells if c.cell_type == "code"]
    if not code or code[0].source.strip() != colab_cell_source(twin.ipynb).strip():
        found.append(f"{twin.ipynb.name}: the first code cell must be the Colab set-up cell "
                     "(`course notebooks colab-cell NAME` prints it)")
    if not any(colab_badge(twin.ipynb) in c.source for c in nb.cells[:2] if c.cell_type == "markdown"):
        found.append(f"{twin.ipynb.name}: the title cell must carry the Open-in-Colab badge")
    unexecuted = [i for i, c in enumerate(code) if c.execution_count is None]
    if unexecuted:
        found.append(f"{twin.ipynb.name}: code cells {unexecuted} have no saved outputs: "
                     f"run `course notebooks run {twin.name[:2]}`")
    ignored = sum(IGNORE_MARK in c.source for c in code)
    if ignored > MAX_IGNORED_CELLS:
        found.append(f"{twin.ipynb.name}: {ignored} cells ignore their output (at most {MAX_IGNORED_CELLS})")
    needless = [i for i, c in enumerate(code) if IGNORE_MARK in c.source and not IGNORE_REASONS.search(c.source)]
    if needless:
        found.append(f"{twin.ipynb.name}: code cells {needless} ignore their output but neither train a network "
                     f"nor time code: remove {IGNORE_MARK!r} so that nbval checks what they print")
    errors = [i for i, c in enumerate(code) if any(o.get("output_type") == "error" for o in c.outputs)]
    if errors:
        found.append(f"{twin.ipynb.name}: code cells {errors} saved an error")
    return found
