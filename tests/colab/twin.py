"""The Colab twin: the course on the runtime students get when they open it on Colab.

``pip-freeze.gpu.txt`` beside this file is the package list Google publishes for its
Colab GPU runtime (repository googlecolab/backend-info). Updating the twin to a new
Colab snapshot is replacing that one file.

    python tests/colab/twin.py build --venv .venv-colab --python PYTHON3.13
    python tests/colab/twin.py test  --venv .venv-colab

``build`` makes a virtual environment with the packages the course touches at the
snapshot's versions: the course's own dependencies, the kernel stack (ipykernel,
IPython, jupyter_client, ipywidgets and what they pull in), nbclient and pytest, each
resolved with the whole snapshot as pip constraints, and ``tensorflow-cpu`` at Colab's
TensorFlow version in place of the GPU build.

``test`` (run with a Python that has the course's full install: it reads the notebooks
and the assignments' solutions) checks, in that environment:

1. the first cell of the notebooks, run as on Colab on a copy of this repository,
   installs the package and changes none of the snapshot's packages (pip's report, and
   the environment before and after);
2. every lecture notebook runs top to bottom in quick mode on the twin's kernel;
3. the A1-A3 student releases, answered as the solutions answer them, run top to bottom
   and every check cell says ``correct``; ``course validate`` says what it needs;
4. the explorers' tests pass with the snapshot's ipywidgets.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
SNAPSHOT = HERE / "pip-freeze.gpu.txt"
#: Colab's GPU build of TensorFlow, and the build the twin installs in its place.
TENSORFLOW, TENSORFLOW_HERE = "tensorflow", "tensorflow-cpu"
#: Besides the course's own dependencies, what the course touches on Colab: the kernel the
#: notebooks run on, the widget stack, the notebook runner and the test runner.
TOUCHED = ["ipykernel", "ipython", "jupyter_client", "jupyter_core", "traitlets", "ipywidgets",
           "nbclient", "nbformat", "pytest", TENSORFLOW]
#: Test tools the twin adds after the install check (Colab lacks them; the tests import them).
TEST_TOOLS = ["hypothesis", "pytest-timeout"]
ENV = {"COURSE_QUICK": "1", "COURSE_OFFLINE": "1", "TF_ENABLE_ONEDNN_OPTS": "0",
       "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONHASHSEED": "0", "MPLBACKEND": "Agg"}


def key(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def snapshot() -> dict[str, str]:
    """The snapshot's ``name==version`` pins by normalised name (direct URLs left out)."""
    pins = {}
    for line in SNAPSHOT.read_text().splitlines():
        match = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)", line.strip())
        if match:
            pins[key(match.group(1))] = match.group(2)
    return pins


def twin_pins() -> dict[str, str]:
    pins = snapshot()
    pins[key(TENSORFLOW_HERE)] = pins.pop(key(TENSORFLOW))
    return pins


def core_dependencies() -> list[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return [re.split(r"[<>=!~ \[;]", req, maxsplit=1)[0] for req in project["dependencies"]]


def run(cmd: list, **kw) -> subprocess.CompletedProcess:
    print("+", " ".join(map(str, cmd)), flush=True)
    return subprocess.run([str(c) for c in cmd], check=True, **kw)


def freeze(python: Path) -> dict[str, str]:
    out = subprocess.run([str(python), "-m", "pip", "list", "--format=json", "--disable-pip-version-check"],
                         check=True, capture_output=True, text=True).stdout
    return {key(p["name"]): p["version"] for p in json.loads(out)}


def env(**extra) -> dict[str, str]:
    return dict(os.environ, **ENV, **extra)


# ----------------------------------------------------------------------------- build
def build(venv: Path, python: str) -> None:
    start = time.perf_counter()
    if venv.exists():
        shutil.rmtree(venv)
    run([python, "-m", "venv", venv])
    py = venv / "bin" / "python"
    pins = twin_pins()
    constraints = venv / "colab-constraints.txt"
    constraints.write_text("".join(f"{name}=={version}\n" for name, version in sorted(pins.items())))
    pip = [py, "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    run(pip + [f"pip=={pins['pip']}"])
    wanted = [key(n) for n in core_dependencies() + TOUCHED]
    wanted = [TENSORFLOW_HERE if n == key(TENSORFLOW) else n for n in dict.fromkeys(wanted)]
    missing = [n for n in wanted if n not in pins]
    if missing:  # the install cell adds these on Colab; the twin must not pretend Colab has them
        print(f"not on Colab (the install cell adds them): {', '.join(missing)}")
    run(pip + ["-c", constraints, "setuptools", "wheel"] + [n for n in wanted if n not in missing])
    differ = {n: v for n, v in freeze(py).items() if n in pins and pins[n] != v}
    if differ:
        raise SystemExit(f"the twin differs from the snapshot: {differ}")
    print(f"Colab twin built in {time.perf_counter() - start:.0f} s: {venv}")


# ----------------------------------------------------------------------------- test
def copy_repository(dest: Path) -> Path:
    """What ``git+URL`` gives pip on Colab: the repository's files, without ignored ones."""
    files = subprocess.run(["git", "-C", ROOT, "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                           check=True, capture_output=True, text=True).stdout.split("\0")
    for name in filter(None, files):
        if (ROOT / name).is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, dest / name)
    return dest


def install_as_on_colab(py: Path, work: Path) -> str:
    """Run the notebooks' first cell as Colab does; return its output."""
    import nbformat

    from course_utils import authoring

    notebook = authoring.twins()[0].ipynb
    cell = next(c for c in nbformat.read(notebook, as_version=4).cells if c.cell_type == "code").source
    if cell.strip() != authoring.colab_cell_source(notebook).strip():
        raise SystemExit(f"{notebook.name}: the first cell is not the generated Colab cell (course notebooks sync)")
    source = copy_repository(work / "repository")
    cell = cell.replace(f'"{authoring.colab_install_source()}"', json.dumps(str(source)))
    subprocess.run([str(py), "-m", "pip", "uninstall", "-q", "-y", "course_utils"], capture_output=True)
    before = freeze(py)
    fake_colab = "import sys, types; sys.modules['google.colab'] = types.ModuleType('google.colab')\n"
    start = time.perf_counter()
    done = subprocess.run([str(py), "-c", fake_colab + cell], capture_output=True, text=True, cwd=work,
                          env=env())
    seconds = time.perf_counter() - start
    if done.returncode:
        raise SystemExit(f"the Colab cell failed:\n{done.stdout}\n{done.stderr}")
    after = freeze(py)
    pins = twin_pins()
    changed = {n: (before[n], after.get(n)) for n in before if after.get(n) != before[n]}
    added = sorted(set(after) - set(before))
    lines = done.stdout.splitlines()
    problems = []
    if changed:
        problems.append(f"the cell changed installed packages: {changed}")
    if [n for n in added if n in pins]:
        problems.append(f"the cell installed Colab packages at other versions: {added}")
    if added != ["course-utils"]:
        problems.append(f"the cell added more than the course package: {added}")
    if len(lines) != 1 or "no package of the Colab runtime changed" not in lines[0] or done.stderr.strip():
        problems.append(f"the cell should print one line and nothing on stderr, it printed:\n{done.stdout}{done.stderr}")
    if problems:
        raise SystemExit("\n".join(problems))
    print(f"install cell: {lines[0]} ({seconds:.0f} s; {len(before)} packages before, none changed)")
    again = subprocess.run([str(py), "-c", fake_colab + cell], capture_output=True, text=True, cwd=work, env=env())
    if again.returncode or len(again.stdout.splitlines()) != 1 or freeze(py) != after:
        raise SystemExit(f"running the Colab cell a second time should change nothing and print one line:\n"
                         f"{again.stdout}{again.stderr}")
    print(f"install cell, run again: {again.stdout.strip()}")
    return lines[0]


def execute(notebook: Path, timeout: int = 900) -> tuple[float, list[str]]:
    """Run in the twin: execute ``notebook`` in place on the twin's kernel; (seconds, errors)."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    nb = nbformat.read(notebook, as_version=4)
    start = time.perf_counter()
    try:
        NotebookClient(nb, timeout=timeout, kernel_name="python3",
                       resources={"metadata": {"path": str(notebook.parent)}}).execute()
        errors = []
    except CellExecutionError as error:
        errors = [str(error)[-3000:]]
    nbformat.write(nb, notebook)
    return time.perf_counter() - start, errors


def run_notebooks(py: Path, notebooks: list[Path], jobs: int, keras_home: Path) -> list[str]:
    def one(nb: Path) -> str | None:
        done = subprocess.run([str(py), __file__, "execute", str(nb)], capture_output=True, text=True,
                              env=env(KERAS_HOME=str(keras_home)), cwd=nb.parent)
        result = json.loads(done.stdout.splitlines()[-1]) if done.returncode == 0 else None
        if result is None:
            return f"{nb.name}: the runner failed\n{done.stdout}\n{done.stderr[-3000:]}"
        print(f"  {nb.name}: {result['seconds']:.0f} s{' FAILED' if result['errors'] else ''}", flush=True)
        return f"{nb.name}:\n" + "\n".join(result["errors"]) if result["errors"] else None

    with concurrent.futures.ThreadPoolExecutor(jobs) as pool:
        return [msg for msg in pool.map(one, notebooks) if msg]


def assignment_notebooks(work: Path) -> list[Path]:
    """The A1-A3 student releases, answered as the solutions answer them."""
    import nbformat

    from course_utils.grading import course, samples

    paths = []
    for name in course.list_assignments():
        assignment = course.get_assignment(name)
        for notebook in assignment.notebooks:
            folder = work / "content" / notebook  # alone in its folder, as on Colab
            folder.mkdir(parents=True)
            nbformat.write(samples.answered(assignment, notebook=notebook), folder / f"{notebook}.ipynb")
            paths.append(folder / f"{notebook}.ipynb")
    return paths


def checks_said_correct(notebook: Path) -> list[str]:
    """The test cells (nbgrader ``grade``) of an executed release whose output is not ``correct``."""
    import nbformat

    wrong = []
    for cell in nbformat.read(notebook, as_version=4).cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if cell.cell_type == "code" and meta.get("grade") and cell.source.strip() and not all(
                line.startswith("#") for line in cell.source.strip().splitlines()):
            text = "".join(o.get("text", "") for o in cell.outputs if o.get("output_type") == "stream")
            if "correct" not in text:
                wrong.append(f"{notebook.name}: {meta.get('grade_id')} printed {text!r}")
    return wrong


WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def explorers_rendered(executed: Path, saved: Path) -> list[str]:
    """Every cell whose saved output (ipywidgets 8) shows a widget shows one on the twin too."""
    import nbformat

    def widget_cells(path: Path) -> list[int]:
        cells = [c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]
        return [i for i, c in enumerate(cells) if any(WIDGET_VIEW in o.get("data", {}) for o in c.outputs)]

    expected, shown = widget_cells(saved), widget_cells(executed)
    if expected != shown:
        return [f"{executed.name}: code cells {expected} show an explorer when saved, {shown} on the twin"]
    return []


def course_validate_says_what_it_needs(venv: Path, notebook: Path) -> list[str]:
    done = subprocess.run([str(venv / "bin" / "course"), "validate", str(notebook)], capture_output=True,
                          text=True, env=env(), cwd=notebook.parent)
    text = done.stdout + done.stderr
    if done.returncode == 0:
        return []  # the grading stack is there: validate ran
    if "Traceback" in text or "course_utils[grade]" not in text:
        return [f"course validate on the twin should say what it needs, it said:\n{text[-2000:]}"]
    print(f"  {text.strip().splitlines()[0]}")
    return []


def test(venv: Path, jobs: int) -> int:
    py = venv / "bin" / "python"
    start = time.perf_counter()
    failures: list[str] = []
    with tempfile.TemporaryDirectory(prefix="colab-twin-") as tmp:
        work = Path(tmp)
        install_as_on_colab(py, work)
        pip = [py, "-m", "pip", "install", "-q", "--disable-pip-version-check"]
        run(pip + ["-c", venv / "colab-constraints.txt"] + TEST_TOOLS)
        versions = freeze(py)
        print("twin: Python", subprocess.run([str(py), "-c", "import platform; print(platform.python_version())"],
                                             capture_output=True, text=True).stdout.strip(),
              *(f"{n} {versions[n]}" for n in ("tensorflow-cpu", "keras", "ipykernel", "ipython", "ipywidgets",
                                                "jupyter-client", "numpy")))
        keras_home = work / "keras"
        subprocess.run([str(venv / "bin" / "course"), "setup"], env=env(KERAS_HOME=str(keras_home)), check=True)

        lectures = []
        for notebook in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
            folder = work / "content" / notebook.stem  # alone in its folder, as on Colab
            folder.mkdir(parents=True)
            lectures.append(Path(shutil.copy2(notebook, folder)))
        releases = assignment_notebooks(work)
        print(f"running {len(lectures)} lecture notebooks and {len(releases)} assignment releases "
              f"in quick mode on the twin's kernel ({jobs} at a time)", flush=True)
        failures += run_notebooks(py, lectures + releases, jobs, keras_home)
        for notebook in lectures:
            failures += explorers_rendered(notebook, ROOT / "notebooks" / notebook.name)
        print(f"  explorers rendered with ipywidgets {versions['ipywidgets']} where the saved notebooks show them")
        for notebook in releases:
            failures += checks_said_correct(notebook)
        failures += course_validate_says_what_it_needs(venv, releases[0])

        print("explorer tests with the twin's ipywidgets", flush=True)
        tests = sorted(str(p) for p in (ROOT / "tests").glob("test_widgets_*.py"))
        done = subprocess.run([str(py), "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "addopts=-ra", "--disable-warnings",
                               "--import-mode=importlib", "--rootdir", str(ROOT), *tests], cwd=work, env=env(KERAS_HOME=str(keras_home)))
        if done.returncode:
            failures.append("explorer tests failed on the twin (see above)")
    for msg in failures:
        print("FAILED", msg)
    print(f"Colab twin: {'FAILED' if failures else 'passed'} in {time.perf_counter() - start:.0f} s")
    return 1 if failures else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build")
    b.add_argument("--venv", type=Path, default=ROOT / ".venv-colab")
    b.add_argument("--python", required=True, help="a Python of the snapshot's minor version")
    t = sub.add_parser("test")
    t.add_argument("--venv", type=Path, default=ROOT / ".venv-colab")
    t.add_argument("--jobs", type=int, default=2)
    e = sub.add_parser("execute")
    e.add_argument("notebook", type=Path)
    args = parser.parse_args(argv)
    if args.command == "build":
        build(args.venv.resolve(), args.python)
        return 0
    if args.command == "execute":
        seconds, errors = execute(args.notebook)
        print(json.dumps({"seconds": seconds, "errors": errors}))
        return 0
    sys.path.insert(0, str(ROOT))
    return test(args.venv.resolve(), args.jobs)


if __name__ == "__main__":
    sys.exit(main())
