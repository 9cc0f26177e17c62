"""The course as a static website: ``make book`` (``course book``).

Sphinx with MyST-NB and the book theme renders what the repository already holds,
executing nothing:

* the landing page from ``README.md`` (plus the pages it links to),
* the lecture notebooks ``notebooks/NN_*.ipynb`` in syllabus order, with their saved
  outputs and their explorers drawn from the widget state saved in each notebook,
* the assignments' student releases from ``assignments/`` (never ``solutions/``),
* a page for the ``course`` command, generated from its argument parser.

The sources are staged in ``build/site/src`` (only files whose content changed are
rewritten, so a rebuild re-reads only what changed) and the site is written to
``_site/``: a folder of static files that any web server can host. Every asset the
pages load is in the folder: MathJax and the Jupyter widgets' HTML manager come from
the npm registry at build time (pinned versions, checked against their sha512), and
the theme's scripts, styles and fonts come with its Python package.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

from course_utils import authoring
from course_utils.config import REPO_ROOT

CONF_DIR = REPO_ROOT / "docs" / "site"
WORK_DIR = REPO_ROOT / "build" / "site"
OUT_DIR = REPO_ROOT / "_site"
#: Folder of the vendored packages inside the site's ``_static``.
VENDOR_DIR = "vendor"

#: npm packages served by the site: name -> (version, sha512 integrity of the tarball).
NPM_PACKAGES = {
    "mathjax": ("3.2.2", "sha512-Bt+SSVU8eBG27zChVewOicYs7Xsdt40qm4+UpHyX7k0/O9NliPc+x77k1/FEsPsjKPZGJvtRZM1vO+geW0OhGw=="),
    "@jupyter-widgets/html-manager": (
        "1.0.15", "sha512-5thBIV6ymNgmPVOHvzx+gGy8ZSKmSazhtGw4/c4xJDVzRhG9PTeQsRjF3FUTopvFi//SABeNz1yp47bCrJ3CQA=="),
}

#: Shown above every explorer: the site draws it from its saved state.
WIDGET_NOTE = ("This explorer is shown as it was saved when the notebook ran: its controls do "
               "not recompute here. It is live on Colab (the rocket button at the top, then "
               "\"Colab\") or locally in `make lab`.")

#: Pages besides the notebooks: repository file -> page in the site (the README's links).
EXTRA_PAGES = {"README.md": "index.md", "CONTRIBUTING.md": "CONTRIBUTING.md",
               "docs/grading.md": "docs/grading.md"}
COMMAND_PAGE = "course.md"


class SiteError(RuntimeError):
    """The site could not be built (missing tool, failed download, Sphinx error)."""


# ----------------------------------------------------------------------------- what goes in
def lectures() -> list[Path]:
    """The lecture notebooks, in syllabus order."""
    return [twin.ipynb for twin in authoring.twins()]


def assignment_releases() -> list[Path]:
    """The student release of every assignment (``assignments/``, never ``solutions/``)."""
    from course_utils.grading.course import Assignment, list_assignments

    return [Assignment(name).release_dir / f"{nb}.ipynb"
            for name in list_assignments() for nb in Assignment(name).notebooks]


# ----------------------------------------------------------------------------- vendored assets
def vendor_root(work: Path = WORK_DIR) -> Path:
    """Folder added to the site's static files; it holds ``vendor/``."""
    return work / "static"


def _npm_tarball(name: str, version: str, integrity: str, cache: Path, log=print) -> Path:
    """The package's tarball from the npm registry (`npm pack`), kept in ``cache``."""
    cache.mkdir(parents=True, exist_ok=True)
    tarball = cache / f"{name.lstrip('@').replace('/', '-')}-{version}.tgz"
    if not tarball.exists():
        npm = shutil.which("npm")
        if npm is None:
            from course_utils import system

            system.apt_install("npm", log=log)
            npm = shutil.which("npm")
        if npm is None:
            raise SiteError("npm is missing and could not be installed (needs root and apt): the site "
                            "vendors MathJax and the widget manager from the npm registry")
        done = subprocess.run([npm, "pack", f"{name}@{version}", "--pack-destination", str(cache), "--silent"],
                              capture_output=True, text=True)
        if done.returncode or not tarball.exists():
            raise SiteError(f"npm pack {name}@{version} failed:\n{done.stdout}{done.stderr}")
    digest = "sha512-" + base64.b64encode(hashlib.sha512(tarball.read_bytes()).digest()).decode()
    if digest != integrity:
        tarball.unlink()
        raise SiteError(f"{tarball.name}: sha512 {digest} differs from the pinned {integrity}")
    return tarball


def _extract(tarball: Path, keep, dest: Path) -> None:
    """Extract the members of an npm tarball whose path (below ``package/``) ``keep`` accepts."""
    with tarfile.open(tarball) as tar:
        for member in tar.getmembers():
            path = member.name.split("/", 1)[-1]
            if member.isfile() and keep(path):
                member.name = path
                if hasattr(tarfile, "data_filter"):  # Python >= 3.10.12 / 3.11.4: no links, no escapes
                    tar.extract(member, dest, filter="data")
                else:
                    tar.extract(member, dest)


def _mathjax_file(path: str) -> bool:
    # The CommonHTML TeX component and what it loads on demand (TeX extensions, fonts,
    # menu, accessibility); not the other combined components nor the SVG output.
    if path == "LICENSE":
        return True
    if not path.startswith("es5/"):
        return False
    path = path[4:]
    return path == "tex-chtml.js" or ("/" in path and not path.startswith("output/svg"))


def _widget_manager_file(path: str) -> bool:
    # The stand-alone bundle (ipywidgets' own widgets built in, no RequireJS) and the
    # fonts it loads from its own folder.
    # (woff2 and woff only: every browser that runs the bundle reads them).
    return (path.startswith("dist/") and "amd" not in path
            and not path.endswith((".map", ".eot", ".ttf", ".svg")))


def vendor(work: Path = WORK_DIR, log=print) -> Path:
    """Put MathJax and the widget manager under ``vendor_root(work)/vendor``; return that folder."""
    target = vendor_root(work) / VENDOR_DIR
    stamp = target / "packages.json"
    pinned = json.dumps({"layout": 2, "packages": NPM_PACKAGES}, sort_keys=True)  # layout: of target/
    if stamp.exists() and stamp.read_text() == pinned:
        return target
    shutil.rmtree(target, ignore_errors=True)
    for name, (version, integrity) in NPM_PACKAGES.items():
        log(f"vendoring {name}@{version} from the npm registry")
        tarball = _npm_tarball(name, version, integrity, work / "npm", log=log)
        # mathjax/ is the package's es5/ (plus its LICENSE), html-manager/ its dist/.
        folder, keep, inner = (("mathjax", _mathjax_file, "es5") if name == "mathjax"
                               else ("html-manager", _widget_manager_file, "dist"))
        package = target / f"{folder}-package"
        _extract(tarball, keep, package)
        (package / inner).rename(target / folder)
        for extra in package.iterdir():  # the licence
            extra.rename(target / folder / extra.name)
        shutil.rmtree(package)
    stamp.write_text(pinned)
    return target


# ----------------------------------------------------------------------------- staged sources
def _write(path: Path, content: bytes) -> None:
    """Write only when the content changes, so Sphinx re-reads only changed pages."""
    if path.exists() and path.read_bytes() == content:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)


def _landing_page(readme: str) -> str:
    """The README, with the notebooks' names linked to their pages and the site's table of contents."""
    for nb in lectures():
        readme = readme.replace(f"| `{nb.stem}` |", f"| [{nb.stem}](notebooks/{nb.name}) |")
    toc = ["", "```{toctree}", ":hidden:", ":caption: Lectures", ""]
    toc += [f"notebooks/{nb.stem}" for nb in lectures()]
    toc += ["```", "", "```{toctree}", ":hidden:", ":caption: Assignments", ""]
    toc += [p.relative_to(REPO_ROOT).with_suffix("").as_posix() for p in assignment_releases()]
    toc += ["```", "", "```{toctree}", ":hidden:", ":caption: Reference", "",
            Path(COMMAND_PAGE).stem, "docs/grading", "CONTRIBUTING", "```", ""]
    return readme + "\n".join(toc)


def _subcommands(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()):
    yield path, parser
    for action in parser._actions:  # argparse keeps sub-parsers only there
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                yield from _subcommands(child, (*path, name))


def command_page() -> str:
    """The page of the ``course`` command: its help and that of every sub-command."""
    from course_utils import cli

    columns = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = "88"  # argparse wraps at the terminal's width: make the page stable
    try:
        helps = [(path, sub.format_help()) for path, sub in _subcommands(cli.build_parser())]
    finally:
        if columns is None:
            os.environ.pop("COLUMNS")
        else:
            os.environ["COLUMNS"] = columns
    lines = ["# The `course` command", "",
             "Installed with the package (`make lab` and `make test` install it in `.venv`): every "
             "sub-command below, with its options, as `course COMMAND --help` prints them.", ""]
    for path, text in helps:
        title = " ".join(("course", *path))
        lines += [f"{'#' * min(2 + max(len(path) - 1, 0), 4)} `{title}`", "", "```text", text.rstrip(), "```", ""]
    return "\n".join(lines)


_MD_LINK = re.compile(r"\]\((?!https?:|mailto:|#)([^)\s]+)\)")


def _link_repository_files(text: str, repo_path: str, pages: set[str]) -> str:
    """Markdown links to repository files that are not pages of the site go to the repository."""
    def repoint(match: re.Match) -> str:
        target, _, anchor = match.group(1).partition("#")
        path = os.path.normpath(os.path.join(os.path.dirname(repo_path), target)).replace(os.sep, "/")
        if path in pages:
            return match.group(0)
        return f"]({authoring.repository_url()}/blob/main/{path}{'#' + anchor if anchor else ''})"

    return _MD_LINK.sub(repoint, text)


def stage(src: Path) -> list[Path]:
    """Write the site's sources into ``src``; remove what no longer belongs. Returns the files."""
    files: dict[Path, bytes] = {}
    pages = {*EXTRA_PAGES, *(nb.relative_to(REPO_ROOT).as_posix() for nb in [*lectures(), *assignment_releases()])}
    for repo_path, page in EXTRA_PAGES.items():
        text = _link_repository_files((REPO_ROOT / repo_path).read_text(), repo_path, pages)
        files[src / page] = (_landing_page(text) if page == "index.md" else text).encode()
    for nb in [*lectures(), *assignment_releases()]:
        files[src / nb.relative_to(REPO_ROOT)] = nb.read_bytes()
    files[src / COMMAND_PAGE] = command_page().encode()
    for path, content in files.items():
        _write(path, content)
    if src.exists():
        for path in sorted(src.rglob("*"), reverse=True):
            if path.is_file() and path not in files:
                path.unlink()
            elif path.is_dir() and not any(path.iterdir()):
                path.rmdir()
    return sorted(files)


# ----------------------------------------------------------------------------- build
def build(out: Path = OUT_DIR, work: Path = WORK_DIR, log=print) -> float:
    """Build the site into ``out``; returns the seconds it took."""
    started = time.monotonic()
    vendor(work, log=log)
    src = work / "src"
    stage(src)
    # The site is written anew into work/html (MyST-NB puts its files beside it), then
    # replaces ``out``: nothing removed from the course lingers in it. The parsed pages
    # are kept in work/doctrees, so unchanged ones are not read again.
    if out.exists() and any(out.iterdir()) and not (out / ".buildinfo").exists():
        raise SiteError(f"{out} is not empty and holds no site built before: choose another --out")
    html = work / "html"
    shutil.rmtree(html, ignore_errors=True)
    cmd = [sys.executable, "-m", "sphinx", "-b", "html", "-c", str(CONF_DIR), "-d", str(work / "doctrees"),
           "-W", "--keep-going", "-q", "-j", "auto", str(src), str(html)]
    done = subprocess.run(cmd, env=dict(os.environ, COURSE_SITE_WORK=str(work)))
    if done.returncode:
        raise SiteError(f"sphinx-build failed (exit {done.returncode}): {' '.join(cmd)}")
    (html / ".nojekyll").touch()  # GitHub Pages: serve _static/ and _images/ as they are
    shutil.rmtree(out, ignore_errors=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(html, out)
    return time.monotonic() - started


def folder_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


# ----------------------------------------------------------------------------- CLI
