"""`course grade --cluster` (issue 17) on a real Dask cluster: a `dask scheduler` and two
`dask worker` processes on localhost, separate processes talking TCP, shared by the module.

The class is three students of A1's example class (one of each status); the tests run in order, the destructive ones (a worker killed, Ctrl-C,
the scheduler killed) last."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import types
from pathlib import Path

import pytest

from course_utils.cli import main as course
from course_utils.grading import cluster as cluster_mod
from course_utils.grading.batch import UsageError, grade_batch
from course_utils.grading.course import get_assignment
from course_utils.grading.isolation import Limits

distributed = pytest.importorskip("distributed")

A1 = get_assignment("a1_arithmetic")
STUDENTS = ["ada", "ben", "dev"]  # full marks, failed tests, not attempted
FAST = ["--timeout", "10", "--budget", "600", "--quiet"]
LIMITS = Limits(cell_timeout=10, budget_seconds=600)
DASK = str(Path(sys.executable).parent / "dask")
#: upper bounds on waits for the cluster's processes (a loaded CI machine), never asserted on
START_S, SETTLE_S = 120, 120


def _class(root: Path, students=STUDENTS) -> Path:
    folder = root / "class"
    for name in students:
        shutil.copytree(A1.examples_dir / name, folder / name)
    return folder


def _rows(out: Path) -> list[str]:
    return (out / "grades.csv").read_text().splitlines()


def _eventually(predicate, what: str, timeout: float = SETTLE_S):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"gave up waiting for {what}")


class Cluster:
    """A scheduler and its workers, each `dask` process in its own process group."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.file = root / "scheduler.json"
        self.procs: dict[str, subprocess.Popen] = {}
        self.logs = []
        self._start("scheduler", [DASK, "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                                  "--scheduler-file", str(self.file)])
        _eventually(lambda: self.file.exists() and self.file.stat().st_size, "the scheduler file", START_S)
        self.address = json.loads(self.file.read_text())["address"]
        for name in ("w1", "w2"):
            self._start(name, [DASK, "worker", self.address, "--nthreads", "1", "--nworkers", "1", "--name", name,
                               "--no-dashboard", "--local-directory", str(root / name)])
        self.client = distributed.Client(self.address, set_as_default=False, timeout=START_S)
        self.client.wait_for_workers(2, timeout=START_S)

    def _start(self, name: str, cmd: list[str]) -> None:
        log = open(self.root / f"{name}.log", "wb")
        self.logs.append(log)
        self.procs[name] = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                            start_new_session=True, cwd=self.root)

    def workers(self) -> dict[str, str]:
        """name -> address of the live workers."""
        info = self.client.scheduler_info(n_workers=-1)["workers"]
        return {w["name"]: address for address, w in info.items()}

    def kill(self, name: str) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.procs[name].pid, signal.SIGKILL)
        self.procs[name].wait()

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.client.close(timeout=5)
        for name in list(self.procs):
            self.kill(name)
        for log in self.logs:
            log.close()


@pytest.fixture(scope="module")
def dask_cluster(tmp_path_factory):
    cluster = Cluster(tmp_path_factory.mktemp("dask"))
    yield cluster
    cluster.close()


@pytest.fixture(scope="module")
def graded(dask_cluster, tmp_path_factory):
    """The class graded here (--jobs 2) and on the cluster, through the command line."""
    root = tmp_path_factory.mktemp("graded")
    klass = _class(root)
    # the LMS export rides along: the roster lacks dev and has zoe, who handed nothing in
    (root / "roster.csv").write_text("folder,Student,ID,SIS User ID,SIS Login ID,Section\n"
                                     "ada,Ada L,11,S11,ada,A\nben,Ben B,12,S12,ben,A\nzoe,Zoe Z,13,S13,zoe,B\n")
    printed, said = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(said):
        local = course(["grade", A1.name, str(klass), "--out", str(root / "local"), "--jobs", "2", *FAST])
        remote = course(["grade", A1.name, str(klass), "--out", str(root / "cluster"), "--cluster",
                         dask_cluster.address, "--export", "canvas", "--roster", str(root / "roster.csv"), *FAST])
    (root / "said.txt").write_text(said.getvalue())
    return local, remote, root, klass


def _records(out: Path) -> dict[str, dict]:
    return {p.stem: json.loads(p.read_text()) for p in (out / "results").glob("*.json")}


# ----------------------------------------------------------------------------- the same grades
def test_the_cluster_gradebook_is_the_local_one(graded, dask_cluster):
    local, remote, root, _ = graded
    assert (local, remote) == (0, 0)
    assert _rows(root / "cluster") == _rows(root / "local")
    assert [r.split(",")[0] for r in _rows(root / "cluster")[1:]] == STUDENTS
    here, there = _records(root / "local"), _records(root / "cluster")
    # the same fingerprints: a result of either is reused by the other
    assert {s: r["fingerprint"] for s, r in there.items()} == {s: r["fingerprint"] for s, r in here.items()}
    assert {r["worker"] for r in there.values()} <= set(dask_cluster.workers().values())
    assert all("worker" not in r for r in here.values())
    for student in STUDENTS:  # every test alike; the feedback and logs came back, and only to this machine
        assert there[student]["tests"] == here[student]["tests"]
        html = (root / "cluster" / "feedback" / student / "a1_arithmetic.html").read_text()
        assert "test_conv_output_size" in html and html.rstrip().endswith("</html>")
        assert (root / "cluster" / "logs" / f"{student}.log").stat().st_size > 0
    assert not list(dask_cluster.root.glob("w*/**/grades.csv"))


def test_the_cluster_batch_writes_the_canvas_import(graded):
    _, _, root, _ = graded
    with open(root / "cluster" / "canvas.csv", newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "a1_arithmetic"]
    assert rows[1][0].strip() == "Points Possible" and rows[1][-1] == "24"
    assert rows[2:] == [["Ada L", "11", "S11", "ada", "A", "24"], ["Ben B", "12", "S12", "ben", "A", "20"],
                        ["Zoe Z", "13", "S13", "zoe", "B", ""]]
    said = (root / "said.txt").read_text()
    assert "have no submission (left empty in the export): zoe" in said
    assert "are not in the roster" in said and "add them to the roster): dev" in said
    assert (root / "cluster" / "tests.csv").exists() and not (root / "local" / "canvas.csv").exists()


def test_a_rerun_on_the_cluster_reuses_what_local_grading_left(graded, dask_cluster):
    _, _, root, klass = graded
    before = _rows(root / "local")
    report = grade_batch(A1, klass, root / "local", limits=LIMITS, progress=False, cluster=dask_cluster.address,
                         log=lambda m: None)
    assert (report.graded, report.reused) == ([], STUDENTS)
    assert _rows(root / "local") == before


# ----------------------------------------------------------------------------- failures
def _portable(function, **names):
    """``function`` as one of no importable module: it travels to the cluster by value (the
    scheduler and the workers cannot import tests/)."""
    return types.FunctionType(function.__code__, {"__name__": "__main__", **names}, function.__name__)


def _deaths(cluster: Cluster) -> int:
    return sum((cluster.root / f"{name}.log").read_text().count("exited with status 17") for name in ("w1", "w2"))


def dies_on_ben(parcel, *args):
    """A task that kills whichever worker runs it for ben (as a crash of the worker would)."""
    if parcel.student_id == "ben":
        os._exit(17)
    return cluster_mod.grade_on_worker(parcel, *args)


def test_a_submission_whose_worker_dies_twice_is_an_error_naming_the_worker(dask_cluster, tmp_path, monkeypatch):
    deaths_before = _deaths(dask_cluster)
    monkeypatch.setattr(cluster_mod, "grade_on_worker", _portable(dies_on_ben, os=os, cluster_mod=cluster_mod))
    report = grade_batch(A1, _class(tmp_path, ["ada", "ben"]), tmp_path / "out", limits=LIMITS, feedback=False,
                         progress=False, cluster=dask_cluster.address, log=lambda m: None)
    by_id = {r["student_id"]: r for r in report.records}
    assert by_id["ada"]["status"] == "ok"
    ben = by_id["ben"]
    assert ben["status"] == "error" and ben["score"] == 0
    assert "died twice (it was re-queued once)" in ben["message"] and "tcp://127.0.0.1:" in ben["message"]
    assert ben.get("transient")  # a crash is not the student's: the next run grades ben again
    # re-queued once: two workers died (their nannies say so), not the scheduler's default four
    _eventually(lambda: _deaths(dask_cluster) - deaths_before >= 2, "the nannies' logs")
    assert _deaths(dask_cluster) - deaths_before == 2
    dask_cluster.client.wait_for_workers(2, timeout=START_S)  # the nannies restart them


@pytest.fixture
def background():
    """Start `course grade --cluster` as a command; whatever a failed test left running is killed."""
    started = []

    def start(klass: Path, out: Path, address: str, *extra: str):
        log = open(out.parent / f"{out.name}.log", "wb")
        proc = subprocess.Popen([sys.executable, "-m", "course_utils.cli", "grade", A1.name, str(klass), "--out",
                                 str(out), "--cluster", address, "--no-feedback", *FAST, *extra],
                                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        started.append((proc, log))
        return proc, log

    yield start
    for proc, log in started:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()


def test_a_worker_killed_mid_batch_leaves_exactly_one_row_per_student(dask_cluster, tmp_path, background):
    dask_cluster.client.wait_for_workers(2, timeout=START_S)
    klass = _class(tmp_path)
    proc, log = background(klass, tmp_path / "out", dask_cluster.address)
    victim = dask_cluster.workers()["w2"]
    _eventually(lambda: dask_cluster.client.processing(workers=[victim]).get(victim), "w2 to grade a submission")
    dask_cluster.kill("w2")
    assert proc.wait(timeout=600) == 0, (tmp_path / "out.log").read_text()
    log.close()
    rows = _rows(tmp_path / "out")
    assert [r.split(",")[0] for r in rows[1:]] == STUDENTS
    records = _records(tmp_path / "out")
    assert all(r["status"] in ("ok", "not_attempted") for r in records.values()), records
    assert {r["worker"] for r in records.values()} - {victim} == {dask_cluster.workers()["w1"]}


def _grading_processes(folder: Path) -> list[int]:
    """The worker processes (course_utils.grading.worker) grading a job under ``folder``."""
    found = []
    for entry in os.listdir("/proc"):
        with contextlib.suppress(OSError):
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
            if b"course_utils.grading.worker" in cmdline and any(str(folder).encode() in a for a in cmdline):
                found.append(int(entry))
    return found


def _our_tasks(dask_scheduler=None):
    return [str(key) for key in dask_scheduler.tasks if str(key).startswith("course-grade-")]


def test_ctrl_c_cancels_the_queued_tasks(dask_cluster, tmp_path, background):
    klass = _class(tmp_path)
    proc, log = background(klass, tmp_path / "out", dask_cluster.address)
    _eventually(lambda: list((tmp_path / "out" / "results").glob("*.json")) if (tmp_path / "out").exists() else [],
                "a first result")
    assert dask_cluster.client.run_on_scheduler(_portable(_our_tasks))  # the rest is queued or running
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=SETTLE_S) == 130
    log.close()
    # the submission that was being graded was killed on its worker, not left to finish
    assert not _grading_processes(dask_cluster.root / "w1")
    assert "interrupted: the submissions graded so far are in grades.csv" in (tmp_path / "out.log").read_text()
    _eventually(lambda: not dask_cluster.client.run_on_scheduler(_portable(_our_tasks)), "the tasks to be cancelled")
    kept = _rows(tmp_path / "out")[1:]
    assert 1 <= len(kept) < len(STUDENTS)


def test_the_scheduler_going_away_stops_the_batch_keeping_what_was_graded(dask_cluster, tmp_path, background):
    klass = _class(tmp_path)
    proc, log = background(klass, tmp_path / "out", dask_cluster.address)
    _eventually(lambda: list((tmp_path / "out" / "results").glob("*.json")) if (tmp_path / "out").exists() else [],
                "a first result")
    dask_cluster.kill("scheduler")
    assert proc.wait(timeout=SETTLE_S) == 2
    log.close()
    printed = (tmp_path / "out.log").read_text()
    assert f"the Dask scheduler at {dask_cluster.address} went away" in printed
    kept = _rows(tmp_path / "out")[1:]
    assert 1 <= len(kept) < len(STUDENTS)
    assert {r.split(",")[0] for r in kept} <= {p.stem for p in (tmp_path / "out" / "results").glob("*.json")}


# ----------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("address, says", [
    ("local:0", "local:N needs a number of worker processes, at least 1"),
    ("local:four", "local:N needs a number of worker processes"),
    ("local", "local:N needs a number of worker processes"),
    ("tcp://no such host", "is not a scheduler address"),
    ("tcp://127.0.0.1:9", "cannot reach the Dask scheduler at tcp://127.0.0.1:9"),
])
def test_an_unusable_cluster_address_exits_2_and_touches_nothing(address, says, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(cluster_mod, "CONNECT_TIMEOUT", 2)
    out = tmp_path / "out"
    assert course(["grade", A1.name, "--out", str(out), "--cluster", address, *FAST]) == 2
    err = capsys.readouterr().err
    assert says in err and "error:" in err
    assert not out.exists()


def test_local_n_addresses_parse():
    assert cluster_mod.parse_address("local:3") == ("local", 3)
    assert cluster_mod.parse_address(" tcp://10.0.0.5:8786 ") == ("tcp://10.0.0.5:8786", None)
    assert cluster_mod.parse_address("scheduler:8786") == ("scheduler:8786", None)
    with pytest.raises(UsageError):
        cluster_mod.parse_address("local:-1")
