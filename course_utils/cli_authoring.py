"""Sub-commands for the people who write the course: ``course notebooks`` (the lecture
notebooks and their text twins, :mod:`course_utils.authoring`) and ``course book`` (the
website, :mod:`course_utils.book`)."""

from __future__ import annotations

import sys
from pathlib import Path

from course_utils import authoring, book
from course_utils.config import REPO_ROOT


def register(sub) -> None:
    """Add ``notebooks`` and ``book`` to the ``course`` command."""
    _register_notebooks(sub)
    _register_book(sub)


def _register_notebooks(sub) -> None:
    p = sub.add_parser("notebooks", help="sync, run and check the lecture notebooks (for authors)",
                       description="Maintain the notebooks: the .py twin is the source, the .ipynb "
                                   "carries the outputs.")
    actions = p.add_subparsers(dest="notebooks_command", metavar="ACTION")
    actions.required = True
    s = actions.add_parser("sync", help="write each .ipynb from its .py twin, keeping unchanged outputs",
                           description="Write each .ipynb from its .py twin, keeping unchanged outputs.")
    s.add_argument("names", nargs="*", help="notebook names or number prefixes (default: all)")
    s.set_defaults(func=_cmd_sync)
    r = actions.add_parser("run", help="execute notebooks and save their outputs",
                           description="Execute notebooks top to bottom and save their outputs.")
    r.add_argument("names", nargs="*", help="notebook names or number prefixes (default: all)")
    r.add_argument("--quick", action="store_true", help="quick budget (COURSE_QUICK=1) instead of the full one")
    r.set_defaults(func=_cmd_run)
    c = actions.add_parser("check", help="check twins are in sync, Colab cells, saved outputs",
                           description="Fail when a notebook and its .py twin differ, the Colab cell "
                                       "is missing, outputs are missing or too many cells are ignored.")
    c.add_argument("names", nargs="*", help="notebook names or number prefixes (default: all)")
    c.set_defaults(func=_cmd_check)
    cc = actions.add_parser("colab-cell", help="print the Colab set-up cell of a notebook",
                            description="Print the first cell (Colab set-up) and the badge of a notebook.")
    cc.add_argument("name", help="a notebook name or number prefix")
    cc.set_defaults(func=_cmd_colab_cell)


def _twins(names: list[str]) -> list[authoring.Twin]:
    """The selected notebooks; an unknown name ends the command with exit status 2."""
    try:
        return authoring.twins(names)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def _cmd_sync(args) -> int:
    for twin in _twins(args.names):
        print(f"{twin.ipynb.name}: {'updated' if authoring.sync(twin) else 'in sync'}")
    if not args.names:
        for path in authoring.assignment_sources():
            if authoring.sync_assignment(path):
                print(f"{path.relative_to(REPO_ROOT)}: Colab block updated (run `course release`)")
    return 0


def _cmd_run(args) -> int:
    for twin in _twins(args.names):
        seconds = authoring.execute(twin, quick=args.quick)
        print(f"{twin.ipynb.name}: executed in {seconds:.1f} s ({'quick' if args.quick else 'full'} budget)")
    return 0


def _cmd_colab_cell(args) -> int:
    for twin in _twins([args.name]):
        name = twin.ipynb.name
        print(authoring.colab_badge(name) + "\n\n" + authoring.colab_cell_source(name))
    return 0


def _cmd_check(args) -> int:
    failures = [msg for twin in _twins(args.names) for msg in authoring.problems(twin)]
    if not args.names:
        failures += [msg for path in authoring.assignment_sources() for msg in authoring.assignment_problems(path)]
    for msg in failures:
        print(msg)
    return 1 if failures else 0


def _register_book(sub) -> None:
    p = sub.add_parser("book", help="build the course website into _site/ (from the saved notebooks)",
                       description="Build the static website of the course from the saved, executed notebooks "
                                   "(nothing is executed): README, lectures, assignments' student releases and "
                                   "this command's reference. Any static web server can host the folder.")
    p.add_argument("--out", type=Path, default=book.OUT_DIR, help="output folder (default: _site/)")
    p.set_defaults(func=_cmd_book)


def _cmd_book(args) -> int:
    try:
        seconds = book.build(args.out, log=lambda m: print(m, file=sys.stderr))
    except book.SiteError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    pages = sum(1 for _ in args.out.rglob("*.html"))
    print(f"site: {args.out} ({pages} pages, {book.folder_size(args.out) / 2**20:.1f} MiB) built in {seconds:.1f} s")
    return 0
