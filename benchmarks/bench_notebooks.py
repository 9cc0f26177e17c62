"""How long each lecture notebook takes: quick mode (what CI runs) and the saved full run.

* quick: every notebook executed top to bottom with ``COURSE_QUICK=1`` in a fresh kernel,
  one after the other, in memory (the saved notebooks are not touched), the way nbval runs
  them in ``make test``;
* full: read from the saved notebooks themselves. ``course notebooks run`` executes them with
  the full budget and nbclient stamps every cell with its start and end time, so the span from
  the first cell's start to the last cell's end is what the saved outputs cost.

    python benchmarks/bench_notebooks.py            # writes results/notebooks.md
    python benchmarks/bench_notebooks.py 03 08      # some notebooks only, no file

The quick times share the CPUs with whatever else runs (see the load averages); the
quick-mode series must fit the CI budget (issue 15: record per-notebook times).
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import time
from pathlib import Path

from course_utils import authoring
from results_file import write_results

RESULTS = Path(__file__).parent / "results" / "notebooks.md"


def full_run_seconds(nb) -> float | None:
    """Seconds from the first cell's start to the last cell's end, from nbclient's stamps."""
    stamps = []
    for cell in nb.cells:
        timing = cell.get("metadata", {}).get("execution", {})
        stamps += [timing[k] for k in ("iopub.execute_input", "shell.execute_reply") if k in timing]
    if not stamps:
        return None
    parse = [datetime.datetime.fromisoformat(s.replace("Z", "+00:00")) for s in stamps]
    return (max(parse) - min(parse)).total_seconds()


def quick_run_seconds(twin: authoring.Twin) -> float:
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(twin.ipynb, as_version=4)
    start = time.perf_counter()
    NotebookClient(nb, timeout=1200, kernel_name="python3",
                   resources={"metadata": {"path": str(authoring.NOTEBOOK_DIR)}}).execute()
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="notebook number prefixes (default: all, and write the file)")
    args = parser.parse_args()
    os.environ.update(COURSE_QUICK="1", COURSE_OFFLINE="1", PYTHONHASHSEED="0")
    import nbformat

    load_before = os.getloadavg()
    rows = []
    for twin in authoring.twins(args.names or None):
        full = full_run_seconds(nbformat.read(twin.ipynb, as_version=4))
        quick = quick_run_seconds(twin)
        rows.append((twin.ipynb.name, quick, full))
        print(f"{twin.ipynb.name}: quick {quick:.0f} s, saved full run {full:.0f} s" if full is not None
              else f"{twin.ipynb.name}: quick {quick:.0f} s, no timing in the saved run", flush=True)
    load_after = os.getloadavg()
    quick_total = sum(r[1] for r in rows)
    full_total = sum(r[2] or 0 for r in rows)
    lines = [
        "# Notebook run times (benchmarks/bench_notebooks.py)", "",
        "Quick mode (`COURSE_QUICK=1`, what `make test` checks with nbval), measured here one notebook "
        "after the other in a fresh kernel each; the full run (the budget the saved outputs come from) "
        "read from the saved notebooks' own cell timestamps (the kernel's start, a few seconds, is in the "
        "quick column only).", "",
        "| notebook | quick (s) | saved full run (s) |", "|---|---|---|",
        *[f"| `{name}` | {quick:.0f} | {full:.0f} |" if full is not None else f"| `{name}` | {quick:.0f} | - |"
          for name, quick, full in rows],
        f"| **all** | **{quick_total:.0f}** | **{full_total:.0f}** |", "",
        f"* Machine: {os.cpu_count()} CPUs, {platform.machine()}, Python {platform.python_version()}; "
        f"load average {load_before[0]:.1f} before, {load_after[0]:.1f} after.",
        "* In `make test` the notebooks run under nbval on two test processes next to the unit tests, "
        "so their wall time there overlaps with the rest of the suite.", "",
        "Command: `.venv/bin/python benchmarks/bench_notebooks.py`", "",
    ]
    if not args.names:
        write_results(RESULTS, "\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
