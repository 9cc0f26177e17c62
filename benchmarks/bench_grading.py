"""Speed of ``course grade``: one job against two, and against plain ``nbgrader autograde``.

A class of ``--size`` (default 20) A1 submissions is made from the assignment's
source (:func:`course_utils.grading.samples.random_class`: every student makes
0-2 typical mistakes and leaves 0-1 answer blank). In the same run the class is

* graded by ``course grade`` with ``--jobs 1`` and with ``--jobs 2`` (every
  submission in its own process and sandbox, HTML feedback included), the two
  taking turns over ``--repeats`` rounds (so that load from other processes hits
  both alike) and each timed from a fresh output folder; the best round of each
  is the headline, as for the other benchmarks (the least disturbed run);
* graded by ``nbgrader autograde a1_arithmetic`` itself, in one process, on an
  nbgrader course directory holding the same submissions (no sandbox, no
  feedback), timed once per round as well (the issue's reference);
* as the machine's own ceiling for this work, ``nbgrader autograde`` twice at once, each
  process on a course directory holding half of the class (the same work as the plain
  run, split in two with nothing shared): how much faster two processes are than one on
  these CPUs for this workload, the bound that ``--jobs 2`` is measured against;
* for a like-for-like comparison, also ``course grade --jobs 1 --feedback none``
  (no HTML feedback, as plain ``autograde``) and ``nbgrader autograde`` followed by
  ``nbgrader generate_feedback`` (the HTML feedback ``course grade`` writes by default);
* with ``--baseline DIR`` (a checkout of an earlier version of the repository,
  set up with its own ``make setup``), graded by that version's ``course grade
  --jobs 2`` (``DIR/.venv``) too, in the same rounds, so
  that a change of the grader is measured against its predecessor on the same
  machine at the same time.

Every ``course grade`` run is the command itself (a fresh process, a fresh output
folder: the reference run that sets the submission budget is included). The
scores of all graders are compared student by student.

    python benchmarks/bench_grading.py              # prints and writes results/grading.md
    python benchmarks/bench_grading.py --quick      # 6 submissions, one round, no file
    python benchmarks/bench_grading.py --baseline ../old-checkout

Targets (issue 13): ``--jobs 1`` at most 1.5x the time of plain ``nbgrader autograde``
in the same round; ``--jobs 2`` at least 1.8x faster than ``--jobs 1``. With
``--baseline``: ``--jobs 2`` within 1.25x of the baseline's (issue 12).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from course_utils.grading import samples
from course_utils.grading.course import COURSE_ID, build_course, get_assignment
from course_utils.grading.isolation import detect_sandbox
from results_file import write_results

RESULTS = Path(__file__).parent / "results" / "grading.md"
TARGET = 1.8
NBGRADER_TARGET = 1.5
BASELINE_TARGET = 1.25
ASSIGNMENT = "a1_arithmetic"


CPU: dict[str, list[float]] = {}  # label: busy CPU seconds of the whole machine during each run
#: label: (seconds before the first submission started, seconds after the last one ended) of each run
PHASES: dict[str, list[tuple[float, float]]] = {}


def _busy_seconds() -> float:
    """CPU seconds this machine has spent busy (every process, not only ours) since boot,
    from /proc/stat: the grader's workers and kernels are not all children a process can
    account for (the fork server's workers, the sandboxed kernels)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def run_timed(cmd: list[str], **kwargs) -> tuple[float, float]:
    """Run ``cmd``; (wall seconds, busy CPU seconds of the machine meanwhile)."""
    before = _busy_seconds()
    start = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True, **kwargs)
    elapsed = time.perf_counter() - start
    return elapsed, _busy_seconds() - before


def phases(started: float, elapsed: float, paths: list[Path], records: list[dict]) -> tuple[float, float]:
    """(seconds from the command's start to the first submission's, seconds from the last
    submission's end to the command's): the serial parts of a run. A result file is written
    when its submission ends (its modification time); ``seconds`` in it is how long the
    submission took, from its fork to its verdict."""
    ends = [p.stat().st_mtime - started for p in paths]
    starts = [end - (r.get("seconds") or 0) for end, r in zip(ends, records)]
    return (min(starts), elapsed - max(ends)) if paths else (elapsed, 0.0)


def time_course_grade(klass: Path, out: Path, jobs: int, checkout: Path | None = None,
                      feedback: str | None = None) -> tuple[float, dict[str, float]]:
    """``course grade`` of this repository (or of ``checkout``, with its own ``.venv``) as a
    command; (seconds, scores)."""
    shutil.rmtree(out, ignore_errors=True)
    python = sys.executable if checkout is None else str(checkout.resolve() / ".venv" / "bin" / "python")
    cmd = [python, "-m", "course_utils.cli", "grade", ASSIGNMENT, str(klass), "--out", str(out),
           "--jobs", str(jobs), "--quiet"] + (["--feedback", feedback] if feedback else [])
    # from the checkout's own folder: `python -m` puts the working directory first on sys.path
    started = time.time()
    elapsed, cpu = run_timed(cmd, cwd=checkout or Path(__file__).resolve().parents[1])
    label = f"jobs {jobs}" + (f" feedback {feedback}" if feedback else "") + (" baseline" if checkout else "")
    CPU.setdefault(label, []).append(cpu)
    paths = sorted((out / "results").glob("*.json"))
    records = [json.loads(p.read_text()) for p in paths]
    PHASES.setdefault(label, []).append(phases(started, elapsed, paths, records))
    bad = [r for r in records if r["status"] == "error"]
    if bad:
        raise RuntimeError(f"course grade failed on {[r['student_id'] for r in bad]}: {bad[0]['message']}")
    return elapsed, {r["student_id"]: r["score"] for r in records}


def nbgrader_course(root: Path, klass: Path, students: list[Path] | None = None) -> Path:
    """An nbgrader course directory (source, gradebook, submitted/) with the class in it
    (or only ``students`` of it)."""
    assignment = get_assignment(ASSIGNMENT)
    build_course(root, assignment)
    for student in sorted(klass.iterdir()) if students is None else students:
        shutil.copytree(student, root / "submitted" / student.name / ASSIGNMENT)
    return root


def _nbgrader_command(step: str, work: Path) -> tuple[list[str], dict[str, str]]:
    nbgrader = Path(sys.executable).parent / "nbgrader"
    env = dict(os.environ, PATH=f"{nbgrader.parent}{os.pathsep}{os.environ.get('PATH', '')}")
    return [str(nbgrader), step, ASSIGNMENT, f"--CourseDirectory.root={work}",
            f"--CourseDirectory.course_id={COURSE_ID}", "--force"], env


def _nbgrader_scores(work: Path) -> dict[str, float]:
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{work / 'gradebook.db'}", COURSE_ID) as gb:
        return {s.student.id: float(s.score) for s in gb.find_assignment(ASSIGNMENT).submissions}


def time_plain_nbgrader(template: Path, work: Path, feedback: bool = False) -> tuple[float, dict[str, float]]:
    """``nbgrader autograde`` (then ``nbgrader generate_feedback`` with ``feedback``) on a copy
    of the course directory ``template``; (seconds, scores)."""
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(template, work)
    elapsed = cpu = 0.0
    for step in ["autograde"] + (["generate_feedback"] if feedback else []):
        cmd, env = _nbgrader_command(step, work)
        wall, used = run_timed(cmd, cwd=work, env=env)
        elapsed, cpu = elapsed + wall, cpu + used
    CPU.setdefault("nbgrader" + (" + feedback" if feedback else ""), []).append(cpu)
    return elapsed, _nbgrader_scores(work)


def time_split_nbgrader(halves: list[Path], work: Path) -> tuple[float, dict[str, float]]:
    """``nbgrader autograde`` on each course directory of ``halves`` (copied under ``work``),
    all at once, one process each; (seconds until the last one ends, scores)."""
    shutil.rmtree(work, ignore_errors=True)
    copies = [shutil.copytree(half, work / half.name) for half in halves]
    before = _busy_seconds()
    start = time.perf_counter()
    procs = [subprocess.Popen(cmd, cwd=copy, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
             for copy in copies for cmd, env in [_nbgrader_command("autograde", copy)]]
    codes = [proc.wait() for proc in procs]
    elapsed = time.perf_counter() - start
    if any(codes):
        raise RuntimeError(f"nbgrader autograde failed on a half of the class (exit codes {codes})")
    CPU.setdefault("nbgrader halves", []).append(_busy_seconds() - before)
    return elapsed, {k: v for copy in copies for k, v in _nbgrader_scores(copy).items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=20, help="submissions in the class (default 20)")
    parser.add_argument("--repeats", type=int, default=3, help="rounds of (jobs 1, jobs 2, nbgrader)")
    parser.add_argument("--quick", action="store_true", help="6 submissions, one round, no results file")
    parser.add_argument("--baseline", type=Path, metavar="DIR",
                        help="a checkout of an earlier version, graded with --jobs 2 in the same rounds")
    args = parser.parse_args()
    size, repeats = (6, 1) if args.quick else (args.size, args.repeats)

    sandbox = detect_sandbox()
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bench-grading-") as tmp:
        tmp = Path(tmp)
        assignment = get_assignment(ASSIGNMENT)
        samples.write_class(assignment, tmp / "class", samples.random_class(assignment, size, seed=0))
        template = nbgrader_course(tmp / "nbgrader-template", tmp / "class")
        everyone = sorted((tmp / "class").iterdir())
        halves = [nbgrader_course(tmp / f"nbgrader-half{i}", tmp / "class", everyone[i::2]) for i in (0, 1)]
        runs = [("jobs 1", lambda: time_course_grade(tmp / "class", tmp / "out1", 1)),
                ("jobs 2", lambda: time_course_grade(tmp / "class", tmp / "out2", 2)),
                ("nbgrader", lambda: time_plain_nbgrader(template, tmp / "nbgrader")),
                ("nbgrader halves", lambda: time_split_nbgrader(halves, tmp / "nbgrader-halves")),
                ("jobs 1 no feedback", lambda: time_course_grade(tmp / "class", tmp / "out4", 1, feedback="none")),
                ("nbgrader + feedback", lambda: time_plain_nbgrader(template, tmp / "nbgrader-fb", feedback=True))]
        times: dict[str, list[float]] = {label: [] for label, _ in runs}
        if args.baseline:
            times["baseline"] = []
            runs.append(("baseline", lambda: time_course_grade(tmp / "class", tmp / "out3", 2, args.baseline)))
        scores: dict[str, dict[str, float]] = {}
        for round_ in range(repeats):
            for label, run in runs:
                elapsed, scores[label] = run()
                times[label].append(elapsed)
                print(f"round {round_ + 1}: {label:20s} {elapsed:7.1f} s", flush=True)
    load_after = os.getloadavg()

    best = {label: min(values) for label, values in times.items()}
    median = {label: statistics.median(values) for label, values in times.items()}
    speedup = best["jobs 1"] / best["jobs 2"]
    median_speedup = median["jobs 1"] / median["jobs 2"]
    ceiling = best["nbgrader"] / best["nbgrader halves"]
    median_ceiling = median["nbgrader"] / median["nbgrader halves"]

    def rounds(slow: str, fast: str) -> str:
        """The ratio of two graders' times, round by round."""
        return ", ".join(f"{one / two:.2f}x" for one, two in zip(times[slow], times[fast]))
    same = all(found == scores["nbgrader"] for found in scores.values())
    lines = [
        "# Grading speed (benchmarks/bench_grading.py)",
        "",
        f"{size} submissions of `{ASSIGNMENT}` (a random class: 0-2 typical mistakes, 0-1 blank answer "
        f"each), {repeats} round(s), the graders taking turns within each round. The CPUs are "
        "shared with other work, so the best time of each grader is the headline (the least disturbed "
        "run); the median and every run are listed too.",
        "",
        "| grader | best (s) | seconds per submission (best) | median (s) | all runs (s) |",
        "|---|---|---|---|---|",
    ]
    names = {"jobs 1": "`course grade --jobs 1`", "jobs 2": "`course grade --jobs 2`",
             "nbgrader": "`nbgrader autograde` (one process)",
             "nbgrader halves": "`nbgrader autograde` twice at once, half of the class each",
             "jobs 1 no feedback": "`course grade --jobs 1 --feedback none`",
             "nbgrader + feedback": "`nbgrader autograde` + `nbgrader generate_feedback`",
             "baseline": f"baseline `course grade --jobs 2` ({args.baseline})"}
    for label, values in times.items():
        lines.append(f"| {names[label]} | {best[label]:.1f} | {best[label] / size:.2f} | {median[label]:.1f} | "
                     + ", ".join(f"{v:.1f}" for v in values) + " |")
    lines += [
        "",
        f"* `--jobs 2` speed-up over `--jobs 1`: **{speedup:.2f}x** on the best times (target {TARGET}x: "
        f"{'met' if speedup >= TARGET else 'NOT met'}); {median_speedup:.2f}x on the "
        f"medians; round by round: {rounds('jobs 1', 'jobs 2')}.",
        f"* This machine's own ceiling: plain `nbgrader autograde` split in two halves run at once is "
        f"**{ceiling:.2f}x** faster than in one process on the best times ({median_ceiling:.2f}x on the "
        f"medians; round by round: {rounds('nbgrader', 'nbgrader halves')}): the same work on two "
        f"processes with nothing shared. `--jobs 2` over `--jobs 1` reaches {speedup / ceiling:.0%} of it "
        f"on the best times, {median_speedup / median_ceiling:.0%} on the medians.",
        f"* `--jobs 1` against plain nbgrader: **{best['jobs 1'] / best['nbgrader']:.2f}x** the time on the best "
        f"runs (target at most {NBGRADER_TARGET}x: "
        f"{'met' if best['jobs 1'] / best['nbgrader'] <= NBGRADER_TARGET else 'NOT met'}); "
        f"{median['jobs 1'] / median['nbgrader']:.2f}x on the medians; round by round: "
        f"{rounds('jobs 1', 'nbgrader')}.",
        "* Like for like: `course grade --jobs 1` against `nbgrader autograde` + `generate_feedback` "
        f"(both write HTML feedback): **{best['jobs 1'] / best['nbgrader + feedback']:.2f}x** on the best runs, "
        f"{median['jobs 1'] / median['nbgrader + feedback']:.2f}x on the medians; `course grade --jobs 1 "
        f"--feedback none` against plain `nbgrader autograde` (neither does): "
        f"**{best['jobs 1 no feedback'] / best['nbgrader']:.2f}x** on the best runs, "
        f"{median['jobs 1 no feedback'] / median['nbgrader']:.2f}x on the medians.",
        f"* `course grade` per submission: its own worker process, a kernel sandboxed with `{sandbox}`, "
        "the bad-submission checks and HTML feedback; plain `nbgrader autograde` runs every submission "
        "in one process, unsandboxed, without feedback.",
        "* CPU (busy seconds of the whole machine during the best round of each, from /proc/stat, so "
        "other processes' load is included: read it on a quiet machine): " + "; ".join(
            f"{label} {CPU[label][times[label].index(best[label])]:.1f} CPU-s in {best[label]:.1f} s "
            f"({CPU[label][times[label].index(best[label])] / best[label]:.2f} cores busy)"
            for label in ("jobs 1", "jobs 2", "nbgrader", "nbgrader halves") if CPU.get(label)) + ". "
        f"On {os.cpu_count()} cores, `--jobs 2` can be at most {os.cpu_count()} / (cores `--jobs 1` keeps busy) "
        "times faster than `--jobs 1` for the same CPU work: the more of the second core `--jobs 1` "
        "already uses (the reference solution graded beside the first submission, the fork server "
        "warming during the imports), the lower that bound.",
        "* Serial parts (best round of each): " + "; ".join(
            f"{label} {PHASES[label][times[label].index(best[label])][0]:.1f} s from the command's start to the "
            f"first submission's fork (the grading process's imports, finding the submissions, building the "
            f"template course) and {PHASES[label][times[label].index(best[label])][1]:.1f} s after the last "
            "verdict (gradebook, clean-up)" for label in ("jobs 1", "jobs 2") if PHASES.get(label)) + ". "
        "They are the same for both. The reference solution that sets the budget is graded beside the "
        "first submissions in both: with `--jobs 1` on the core its one submission leaves idle, with "
        "`--jobs 2` in the moments the two submissions leave a core idle (kernel start-up, waits on the "
        "kernel): measured separately, it adds nothing visible to `--jobs 2` (docs/grading.md, \"Speed\").",
        f"* Scores identical across the graders: {'yes' if same else 'NO'}.",
        f"* Machine: {os.cpu_count()} CPUs, {platform.processor() or platform.machine()}, Python "
        f"{platform.python_version()}; load average {load_before[0]:.1f} before, {load_after[0]:.1f} after "
        "(other processes share these CPUs).",
        "",
        f"Command: `.venv/bin/python benchmarks/bench_grading.py --size {size} --repeats {repeats}`",
    ]
    if args.baseline:
        ratio = best["jobs 2"] / best["baseline"]
        lines.insert(-2, f"* `--jobs 2` against the baseline's `--jobs 2`: **{ratio:.2f}x** the time on the best "
                     f"runs (target at most {BASELINE_TARGET}x: {'met' if ratio <= BASELINE_TARGET else 'NOT met'}); "
                     f"{median['jobs 2'] / median['baseline']:.2f}x on the medians; against plain nbgrader "
                     f"{best['jobs 2'] / best['nbgrader']:.2f}x (baseline {best['baseline'] / best['nbgrader']:.2f}x).")
        lines[-1] += f" --baseline {args.baseline}`"
        lines[-1] = lines[-1].replace("` --baseline", " --baseline")
    text = "\n".join(lines) + "\n"
    print(text)
    if not args.quick:
        write_results(RESULTS, text)
    if not same:
        sys.exit("scores differ between graders")


if __name__ == "__main__":
    main()
