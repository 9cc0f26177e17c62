"""The set-up files agree with each other."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _requirement_names(requirements):
    return {re.split(r"[<>=!~ \[;]", req, maxsplit=1)[0].lower() for req in requirements}


def test_environment_yml_installs_the_package_and_documents_every_dependency():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    env = (ROOT / "environment.yml").read_text()
    assert "--editable .[cpu,dev,book]" in env  # the same package, no second list of versions
    comments = "\n".join(line for line in env.splitlines() if line.lstrip().startswith("#"))
    names = _requirement_names(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        names |= _requirement_names(extra)
    undocumented = sorted(n for n in names if not re.search(rf"\b{re.escape(n)}\b", comments))
    assert not undocumented, f"environment.yml does not say where these are used: {undocumented}"


def test_the_student_install_leaves_the_grading_lab_and_test_tools_to_extras():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    core = _requirement_names(project["dependencies"])
    extras = project["optional-dependencies"]
    assert not core & {"nbgrader", "nbval", "nbclient", "jupyterlab", "jupytext", "hypothesis", "pytest"}
    assert {"nbgrader", "nbclient"} <= _requirement_names(extras["grade"])
    assert "jupyterlab" in _requirement_names(extras["lab"])
    assert "course_utils[grade,lab]" in extras["dev"]  # make test installs cpu,dev: everything


def test_the_student_install_is_satisfied_by_colabs_runtime():
    """Each core requirement's lower bound is met by the version in Colab's published list."""
    from packaging.requirements import Requirement

    colab = {}
    for line in (ROOT / "tests" / "colab" / "pip-freeze.gpu.txt").read_text().splitlines():
        if re.fullmatch(r"[A-Za-z0-9._-]+==\S+", line.strip()):
            name, version = line.strip().split("==")
            colab[re.sub(r"[-_.]+", "-", name).lower()] = version
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    for text in project["dependencies"] + project["optional-dependencies"]["gpu"]:
        req = Requirement(text)
        version = colab.get(re.sub(r"[-_.]+", "-", req.name).lower())
        assert version is not None, f"Colab lacks {req.name}: the install cell would add it"
        assert req.specifier.contains(version, prereleases=True), f"Colab's {req.name} {version} fails {req}"


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in readme and "make lab" in readme
    commands = [line for line in ci.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    assert commands[-1].strip() == "exec make test"
    assert "make test-colab" in commands  # the Colab twin (tests/colab/)
