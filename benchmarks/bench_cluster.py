"""Throughput of ``course grade --cluster``: a Dask cluster against ``--jobs``, and a projection.

On this machine, in the same run:

* a class of ``--size`` (default 40) A1 submissions
  (:func:`course_utils.grading.samples.random_class`) is graded by ``course grade
  --jobs 2`` and by ``course grade --cluster ADDRESS`` on a ``dask scheduler`` and two
  single-threaded ``dask worker`` processes (separate processes, TCP on localhost),
  the two taking turns over ``--repeats`` rounds, each from a fresh output folder
  (the reference run that sets the budget included); the best round of each is the
  headline (the least disturbed by other load), and the overhead of the cluster is
  ``best cluster / best local - 1`` (target: at most 15 %);
* ``--a3`` (default 4) honest A3 submissions with their saved runs
  (``tests/fixtures/a3_submissions.py``) are graded on the same cluster, for the
  seconds one A3 submission takes on one worker.

The projection: an A3 class of n submissions on N single-threaded workers takes
about ``startup + ceil(n / N) * t_A3 * (1 + overhead)``, with ``t_A3`` the measured
median seconds of an A3 submission on a worker, ``overhead`` the measured cluster
overhead, and ``startup`` the measured seconds before the first submission is sent
(template, reference run). It assumes the workers are as fast as this machine's
cores and the scheduler keeps up (Dask's scheduler handles thousands of tasks a
second; a submission here is a task of seconds), and it leaves out the instructor's
machine reading the submissions (a few MB each for A3; measured separately below).

    COURSE_QUICK=1 COURSE_OFFLINE=1 python benchmarks/bench_cluster.py   # prints, writes results/cluster.md
    python benchmarks/bench_cluster.py --quick    # 6 A1 submissions, one round, 2 A3, no file
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from course_utils.grading import samples  # noqa: E402
from course_utils.grading.course import get_assignment  # noqa: E402
from course_utils.grading.isolation import detect_sandbox  # noqa: E402
from tests.fixtures import a3_submissions as a3s  # noqa: E402
from results_file import write_results  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "cluster.md"
TARGET = 0.15
DASK = str(Path(sys.executable).parent / "dask")
WORKERS_PROJECTED = (10, 50, 100, 500)


class Cluster:
    """A scheduler and two single-threaded workers, each its own process."""

    def __init__(self, root: Path, workers: int = 2) -> None:
        self.procs = []
        root.mkdir(parents=True, exist_ok=True)
        file = root / "scheduler.json"
        self._start(root / "scheduler.log", [DASK, "scheduler", "--host", "127.0.0.1", "--port", "0",
                                             "--no-dashboard", "--scheduler-file", str(file)])
        deadline = time.monotonic() + 120
        while not (file.exists() and file.stat().st_size) and time.monotonic() < deadline:
            time.sleep(0.2)
        self.address = json.loads(file.read_text())["address"]
        for i in range(workers):
            self._start(root / f"w{i}.log", [DASK, "worker", self.address, "--nthreads", "1", "--no-dashboard",
                                             "--local-directory", str(root / f"w{i}")])
        from distributed import Client

        with Client(self.address, timeout=120) as client:
            client.wait_for_workers(workers, timeout=120)

    def _start(self, log: Path, cmd: list[str]) -> None:
        self.procs.append(subprocess.Popen(cmd, stdout=open(log, "wb"), stderr=subprocess.STDOUT,
                                           start_new_session=True))

    def close(self) -> None:
        for proc in reversed(self.procs):
            try:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(timeout=20)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                os.killpg(proc.pid, signal.SIGKILL)


def course_grade(assignment: str, klass: Path, out: Path, *where: str) -> tuple[float, list[dict], float]:
    """``course grade`` as a command; (seconds, records, seconds until the grading started)."""
    shutil.rmtree(out, ignore_errors=True)
    cmd = [sys.executable, "-m", "course_utils.cli", "grade", assignment, str(klass), "--out", str(out),
           "--quiet", *where]
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    started = None
    for line in proc.stdout:
        if started is None and "to grade" in line:  # the batch's first line: after template and reference run
            started = time.perf_counter() - start
    if proc.wait() != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed")
    elapsed = time.perf_counter() - start
    records = [json.loads(p.read_text()) for p in sorted((out / "results").glob("*.json"))]
    bad = [r for r in records if r["status"] == "error"]
    if bad:
        raise RuntimeError(f"course grade failed on {[r['student_id'] for r in bad]}: {bad[0]['message']}")
    return elapsed, records, started or 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=40, help="A1 submissions (default 40)")
    parser.add_argument("--repeats", type=int, default=2, help="rounds of (--jobs 2, --cluster)")
    parser.add_argument("--a3", type=int, default=4, help="A3 submissions graded on the cluster (default 4)")
    parser.add_argument("--quick", action="store_true", help="6 A1 submissions, one round, 2 A3, no results file")
    args = parser.parse_args()
    size, repeats, a3_size = (6, 1, 2) if args.quick else (args.size, args.repeats, args.a3)

    sandbox = detect_sandbox()
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bench-cluster-") as tmp:
        tmp = Path(tmp)
        a1 = get_assignment("a1_arithmetic")
        samples.write_class(a1, tmp / "a1", samples.random_class(a1, size, seed=0))
        cluster = Cluster(tmp / "dask")
        try:
            times: dict[str, list[float]] = {"local": [], "cluster": []}
            scores: dict[str, dict] = {}
            for round_ in range(repeats):
                for label, where in (("local", ("--jobs", "2")), ("cluster", ("--cluster", cluster.address))):
                    elapsed, records, _ = course_grade(a1.name, tmp / "a1", tmp / f"out-{label}", *where)
                    times[label].append(elapsed)
                    scores[label] = {r["student_id"]: r["score"] for r in records}
                    print(f"round {round_ + 1}: {label:8s} {elapsed:7.1f} s", flush=True)
                    if label == "local":
                        local_records = records
            a1_seconds = statistics.median(r["seconds"] for r in records)
            a1_local_seconds = statistics.median(r["seconds"] for r in local_records)
            klass = a3s.honest_class(tmp / "a3", a3_size)
            read_start = time.perf_counter()
            for path in klass.rglob("*"):
                if path.is_file():
                    path.read_bytes()
            read_seconds = (time.perf_counter() - read_start) / a3_size
            a3_wall, a3_records, a3_startup = course_grade("a3_depthwise", klass, tmp / "out-a3",
                                                           "--cluster", cluster.address)
        finally:
            cluster.close()
    load_after = os.getloadavg()

    best = {label: min(values) for label, values in times.items()}
    overhead = best["cluster"] / best["local"] - 1
    per_round = [c / l_ - 1 for l_, c in zip(times["local"], times["cluster"])]
    same = scores["local"] == scores["cluster"]
    t_a3 = statistics.median(r["seconds"] for r in a3_records)
    a3_ok = all(r["score"] == r["max_score"] for r in a3_records)
    for r in a3_records:
        if r["score"] != r["max_score"]:
            print(f"A3 {r['student_id']}: {r['score']:g} / {r['max_score']:g}: {r['message']}")
    lines = [
        "# Grading on a Dask cluster (benchmarks/bench_cluster.py)",
        "",
        f"{size} submissions of `a1_arithmetic` (a random class), {repeats} round(s), `course grade --jobs 2` "
        "and `course grade --cluster` taking turns; the cluster is a `dask scheduler` and two `dask worker "
        "--nthreads 1` processes on this machine (TCP on localhost). Each run is the command itself from a "
        "fresh output folder (the reference run included). The CPUs are shared with other work, so the best "
        "run of each is the headline.",
        "",
        "| grader | best (s) | s per submission (best) | median (s) | all runs (s) |",
        "|---|---|---|---|---|",
    ]
    names = {"local": "`course grade --jobs 2`", "cluster": "`course grade --cluster` (2 workers x 1 thread)"}
    for label, values in times.items():
        lines.append(f"| {names[label]} | {best[label]:.1f} | {best[label] / size:.2f} | "
                     f"{statistics.median(values):.1f} | " + ", ".join(f"{v:.1f}" for v in values) + " |")
    lines += [
        "",
        f"* Cluster overhead: **{overhead:+.1%}** on the best runs (target at most +{TARGET:.0%}: "
        f"{'met' if overhead <= TARGET else 'NOT met'}); round by round: "
        + ", ".join(f"{r:+.1%}" for r in per_round) + ".",
        f"* Scores identical local and on the cluster: {'yes' if same else 'NO'}.",
        f"* One A1 submission on a worker: {a1_seconds:.1f} s (median of the last cluster run, the worker's "
        "own time: files written, worker process, sandboxed kernel, feedback); in a `--jobs 2` slot: "
        f"{a1_local_seconds:.1f} s (the last local run).",
        f"* One A3 submission with its saved runs on a worker: **{t_a3:.1f} s** (median of {a3_size}, "
        f"graded on the same two workers in {a3_wall:.1f} s, {a3_startup:.1f} s of it before the first was "
        f"sent; all full marks: {'yes' if a3_ok else 'NO'}); reading one on the instructor's machine: "
        f"{read_seconds * 1000:.0f} ms.",
        f"* Sandbox `{sandbox}`; machine: {os.cpu_count()} CPUs, {platform.processor() or platform.machine()}, "
        f"Python {platform.python_version()}; load average {load_before[0]:.1f} before, {load_after[0]:.1f} after.",
        "",
        "## Projection: A3 classes on N single-threaded workers",
        "",
        f"`startup + ceil(n / N) x {t_a3:.1f} s x (1 + {max(overhead, 0.0):.2f})` (a negative overhead counted as 0), "
        f"startup {a3_startup:.0f} s (measured above); workers as fast as one core of this machine. "
        f"For comparison, one 2-core machine with `--jobs 2`: {1000 * t_a3 / 2 / 3600:.1f} h for 1,000.",
        "",
        "| workers N | 1,000 submissions | 10,000 submissions |",
        "|---|---|---|",
    ]

    def wall(n: int, workers: int) -> str:
        seconds = a3_startup + math.ceil(n / workers) * t_a3 * (1 + max(overhead, 0.0))
        return f"{seconds / 60:.0f} min" if seconds < 5400 else f"{seconds / 3600:.1f} h"

    for workers in WORKERS_PROJECTED:
        lines.append(f"| {workers} | {wall(1000, workers)} | {wall(10000, workers)} |")
    env = " ".join(f"{k}={os.environ[k]}" for k in ("COURSE_QUICK", "COURSE_OFFLINE") if k in os.environ)
    lines += ["", f"Command: `{env + ' ' if env else ''}.venv/bin/python benchmarks/bench_cluster.py --size {size} "
                  f"--repeats {repeats} --a3 {a3_size}`"]
    text = "\n".join(lines) + "\n"
    print(text)
    if not args.quick:
        write_results(RESULTS, text)
    if not same:
        sys.exit("scores differ between local and cluster grading")


if __name__ == "__main__":
    main()
