"""The ``course`` command: one entry point for students, instructors and CI.

Each sub-command is a small function here that calls the package; heavy
modules (TensorFlow, nbgrader) are imported only by the sub-command that needs
them, so ``course --help`` and ``course data status`` answer at once.
"""

from __future__ import annotations

import argparse
import importlib
import os
import subprocess
import sys
from pathlib import Path

import course_utils  # noqa: F401  (silences TensorFlow before any sub-command imports it)
from course_utils.config import REPO_ROOT


# ----------------------------------------------------------------------------- data
def _cmd_data_status(args) -> int:
    from course_utils import data

    rows = data.status()
    if args.format == "json":
        import json

        print(json.dumps(rows, indent=2))
        return 0
    print(f"Keras cache: {data.keras_home() / 'datasets'}")
    width = max(len(r["dataset"]) for r in rows)
    for r in rows:
        mark = "available" if r["available"] else "missing  "
        line = f"  {r['dataset']:<{width}}  {mark}  {r['where']}"
        if not r["available"]:
            line += f"\n  {'':<{width}}  how to get it: {r['how to get it']}"
        print(line)
    from course_utils import config

    print(f"Training notebooks will use: {config.dataset()} (set COURSE_DATASET to change)")
    return 0


def _cmd_data_prepare(args) -> int:
    from course_utils import data

    failed = 0
    for name in args.names:
        try:
            where = data.prepare(name, log=lambda m: print(m, file=sys.stderr))
            print(f"{data.info(name).title}: ready in {where}")
        except (data.DatasetUnavailable, ValueError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            failed += 1
    return 1 if failed else 0


def _cmd_setup(args) -> int:
    """What `make lab` / `make test` run after installing the package: data, and the test browser."""
    from course_utils import data, system

    try:
        data.prepare("fashion_mnist", log=lambda m: print(m, file=sys.stderr))
    except data.DatasetUnavailable as exc:
        print(f"warning: {exc}", file=sys.stderr)
    if args.browser and system.ensure_chromium(log=lambda m: print(m, file=sys.stderr)) is None:
        print("warning: Chromium is missing and could not be installed (needs root and apt); "
              "the browser test will fail until `apt-get install chromium` is run.", file=sys.stderr)
    if args.browser and system.ensure_bubblewrap(log=lambda m: print(m, file=sys.stderr)) is None:
        print("warning: bubblewrap is missing and could not be installed (needs root and apt); "
              "the grading tests use a weaker sandbox until `apt-get install bubblewrap` is run.", file=sys.stderr)
    return 0


# ----------------------------------------------------------------------------- lab
def lab_command(port: int | None = None, open_browser: bool = True, extra: list[str] | None = None,
                root: Path | None = None) -> list[str]:
    """The JupyterLab command line that ``make lab`` runs (the tests start the same one).

    ``root`` is the folder served (default: the repository); notebooks/ opens first.
    """
    cmd = [
        sys.executable, "-m", "jupyter", "lab",
        f"--ServerApp.root_dir={root or REPO_ROOT}",
        "--ServerApp.default_url=/lab/tree/notebooks",
    ]
    if port is not None:
        cmd += [f"--ServerApp.port={port}", "--ServerApp.port_retries=0"]
    if not open_browser:
        cmd.append("--no-browser")
    if hasattr(os, "geteuid") and os.geteuid() == 0:  # containers and CI machines run as root
        cmd.append("--allow-root")
    return cmd + list(extra or [])


def _cmd_lab(args) -> int:
    cmd = lab_command(args.port, open_browser=not args.no_browser, extra=args.jupyter_args, root=args.root)
    env = dict(os.environ)
    env.setdefault("PYTHONPATH", str(REPO_ROOT))
    return subprocess.call(cmd, env=env, cwd=REPO_ROOT)


# ----------------------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="course",
        description="Advanced Convolutions course: data, JupyterLab, receptive fields, "
                    "parameters, assignments and grading.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {course_utils.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    p_data = sub.add_parser("data", help="list or prepare the datasets",
                            description="List the course's datasets or make one available offline.")
    data_sub = p_data.add_subparsers(dest="data_command", metavar="ACTION")
    data_sub.required = True
    p_status = data_sub.add_parser("status", help="show which datasets are available and where",
                                   description="Show each dataset, whether it is available and from where.")
    p_status.add_argument("--format", choices=("table", "json"), default="table")
    p_status.set_defaults(func=_cmd_data_status)
    p_prep = data_sub.add_parser("prepare", help="make datasets available (mirror, Debian package or download)",
                                 description="Make each named dataset available in the Keras cache: from a "
                                             "local mirror, the Debian package (as root) or a download.")
    p_prep.add_argument("names", nargs="+", metavar="NAME", help="cifar10, mnist or fashion_mnist")
    p_prep.set_defaults(func=_cmd_data_prepare)

    p_setup = sub.add_parser("setup", help="make the offline data (and the test browser) available",
                             description="Link the offline datasets into the Keras cache (installing "
                                         "Debian's dataset-fashion-mnist as root) and, with --browser, "
                                         "install Debian's Chromium for the browser test. Never fails: "
                                         "it warns about what is missing.")
    p_setup.add_argument("--browser", action="store_true", help="also make Chromium and bubblewrap available (tests)")
    p_setup.set_defaults(func=_cmd_setup)

    p_lab = sub.add_parser("lab", help="open JupyterLab on the notebooks",
                           description="Start JupyterLab at the repository root, showing notebooks/.")
    p_lab.add_argument("--port", type=int, default=None, help="port to serve on (default: Jupyter's choice)")
    p_lab.add_argument("--no-browser", action="store_true", help="do not open a browser (headless use)")
    p_lab.add_argument("--root", type=Path, default=None,
                       help="folder to serve (default: the repository; it must hold notebooks/)")
    p_lab.add_argument("jupyter_args", nargs=argparse.REMAINDER,
                       help="further options passed to `jupyter lab` (after --)")
    p_lab.set_defaults(func=_cmd_lab)

    for module in COMMAND_MODULES:
        importlib.import_module(module).register(sub)
    return parser


#: Modules that add sub-commands: each has ``register(subparsers)``. Their heavy
#: imports (TensorFlow, nbgrader) happen inside the command functions.
COMMAND_MODULES: list[str] = ["course_utils.cli_authoring", "course_utils.cli_analysis", "course_utils.grading.cli"]


#: The extras of the package (pyproject.toml) and the modules only they bring: the student
#: install (Colab's) has none of them.
EXTRA_OF_MODULE = {"nbgrader": "grade", "nbclient": "grade", "nbformat": "grade", "tqdm": "grade",
                   "jupyterlab": "lab", "jupyter_server": "lab", "jupytext": "dev"}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "jupyter_args", None) and args.jupyter_args[0] == "--":
        args.jupyter_args = args.jupyter_args[1:]
    try:
        return args.func(args)
    except ModuleNotFoundError as error:
        extra = EXTRA_OF_MODULE.get((error.name or "").partition(".")[0])
        if extra is None:
            raise
        print(f"course {args.command}: needs {error.name}, which the student install leaves out: "
              f"pip install \"course_utils[{extra}]\" (make lab and make test install it). "
              "On Colab, check an assignment with its own test cells instead: each prints `correct`.",
              file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
