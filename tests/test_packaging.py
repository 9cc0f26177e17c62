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
    assert "--editable .[cpu,dev]" in env  # the same package, no second list of versions
    comments = "\n".join(line for line in env.splitlines() if line.lstrip().startswith("#"))
    names = _requirement_names(project["dependencies"])
    names |= _requirement_names(project["optional-dependencies"]["cpu"])
    names |= _requirement_names(project["optional-dependencies"]["dev"])
    undocumented = sorted(n for n in names if not re.search(rf"\b{re.escape(n)}\b", comments))
    assert not undocumented, f"environment.yml does not say where these are used: {undocumented}"


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in readme and "make lab" in readme
    commands = [line for line in ci.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    assert commands[-1].strip() == "exec make test"
