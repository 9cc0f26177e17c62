"""Speed of grading A3: one honest submission with its saved runs, judged on its files.

A class of ``--size`` (default 6) honest A3 submissions, each with the same small saved
runs (``tests/fixtures/a3_submissions.py``), is graded by ``course grade`` with
``--jobs 1`` and with ``--jobs 2`` in the same run, taking turns over ``--repeats``
rounds. Each submission's own wall time is the worker's (``seconds`` in its result);
the log of each worker says how long each test cell took on the grader's side, and the
rest is the kernel (its start, the notebook's own cells) and nbgrader. The trusted side
evaluates the submitted weights of both networks on the whole test split of the
grader's dataset (10,000 Fashion-MNIST images here): the class is graded in full mode,
as an instructor grades it (quick mode evaluates a sample of the split), so the
one-epoch fixture run fails the instructor's floor, the one test it is expected to fail.

    python benchmarks/bench_a3_grading.py            # prints and writes results/a3-grading.md
    python benchmarks/bench_a3_grading.py --quick    # 2 submissions, one round, no file

Target (issue 13): the median per submission at most 12 s on this machine.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from course_utils.grading.batch import grade_batch  # noqa: E402
from course_utils.grading.isolation import Limits  # noqa: E402
from tests.fixtures import a3_submissions as a3s  # noqa: E402
from results_file import write_results  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "a3-grading.md"
TARGET = 12.0
CELL = re.compile(r"Cell \d+ \((\w+)\): tested on the trusted side in ([\d.]+) s")


EXPECTED_FAILURES = {"test_beats_base"}


def failed(record: dict) -> set[str]:
    return {t["grade_id"] for t in record["tests"] if t["score"] < t["points"]}


def grade(klass: Path, out: Path, jobs: int) -> tuple[float, list[dict], dict[str, list[float]]]:
    start = time.perf_counter()
    report = grade_batch(a3s.A3, klass, out, jobs=jobs, limits=Limits(cell_timeout=120), feedback=True,
                         progress=False, log=lambda m: None)
    wall = time.perf_counter() - start
    cells: dict[str, list[float]] = {}
    for log in sorted((out / "logs").glob("*.log")):
        for name, seconds in CELL.findall(log.read_text(errors="replace")):
            cells.setdefault(name, []).append(float(seconds))
    # Full mode: the fixture's one-epoch separable run cannot reach the instructor's floor
    # (a3.FLOORS), so "beats the base" is the one test an honest submission fails here.
    bad = [r for r in report.records if r["status"] != "ok" or failed(r) != EXPECTED_FAILURES]
    if bad:
        raise RuntimeError(f"an honest A3 submission was graded wrongly: {bad[0]['student_id']}: {bad[0]['message']}")
    return wall, report.records, cells


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=6)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    size, repeats = (2, 1) if args.quick else (args.size, args.repeats)
    # graded as a class is: not in quick mode, so that the whole test split is evaluated
    os.environ["COURSE_QUICK"] = "0"
    load = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bench-a3-") as tmp:
        klass = a3s.honest_class(Path(tmp), size)
        per: dict[int, list[float]] = {1: [], 2: []}
        walls: dict[int, list[float]] = {1: [], 2: []}
        cells: dict[int, dict[str, list[float]]] = {1: {}, 2: {}}
        for round_ in range(repeats):
            for jobs in (1, 2):
                wall, records, seen = grade(klass, Path(tmp) / f"out-{jobs}-{round_}", jobs)
                walls[jobs].append(wall)
                per[jobs] += [r["seconds"] for r in records]
                for name, values in seen.items():
                    cells[jobs].setdefault(name, []).extend(values)
                print(f"round {round_ + 1}, --jobs {jobs}: {wall:.1f} s for {size} "
                      f"(median {statistics.median(r['seconds'] for r in records):.1f} s a submission)", flush=True)
    median = {jobs: statistics.median(values) for jobs, values in per.items()}
    lines = [
        "# Grading A3 on the submitted files",
        "",
        f"Command: `.venv/bin/python benchmarks/bench_a3_grading.py --size {size} --repeats {repeats}` "
        f"({size} honest submissions with small saved runs; {platform.machine()}, {os.cpu_count()} cores, "
        f"load average {load[0]:.1f} before the run). Every submission: a sandboxed kernel runs the notebook, "
        "the network crosses as its .keras file, the trusted side evaluates the submitted base and "
        "separable weights on the whole test split (10,000 Fashion-MNIST images), HTML feedback included.",
        "",
        "| | --jobs 1 | --jobs 2 |",
        "|---|---:|---:|",
        f"| median per submission (the worker's wall time) | {median[1]:.1f} s | {median[2]:.1f} s |",
        f"| best class wall time / submission | {min(walls[1]) / size:.1f} s | {min(walls[2]) / size:.1f} s |",
    ]
    for name in sorted(set(cells[1]) | set(cells[2])):
        row = [f"{statistics.median(cells[j][name]):.1f} s" if cells[j].get(name) else "-" for j in (1, 2)]
        lines.append(f"| test cell `{name}` on the trusted side (median) | {row[0]} | {row[1]} |")
    lines += ["", f"Target: median at most {TARGET:.0f} s per submission: "
              f"{'met' if median[1] <= TARGET else 'NOT met'} with --jobs 1 ({median[1]:.1f} s), "
              f"{'met' if median[2] <= TARGET else 'NOT met'} with --jobs 2 ({median[2]:.1f} s).", ""]
    print("\n".join(lines))
    if not args.quick:
        write_results(RESULTS, "\n".join(lines))


if __name__ == "__main__":
    main()
