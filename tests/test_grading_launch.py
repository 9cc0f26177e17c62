"""The worker launcher (course_utils/grading/launch.py): a worker forked from the warm
server starts in the same process state as one started as a new interpreter under
``prlimit`` (the independent reference), and dies with its group."""

from __future__ import annotations

import json
import os
import resource
import signal
import sys
import time
from pathlib import Path

import pytest

from course_utils.grading import launch
from course_utils.grading.isolation import Limits

PROBE = "tests.fixtures.launch_probe"
LIMITS = {resource.RLIMIT_AS: 3 * 1024 ** 3, resource.RLIMIT_CPU: 77, resource.RLIMIT_FSIZE: 5 * 1024 ** 2,
          resource.RLIMIT_CORE: 0}


def _gone(pid: int, timeout: float = 10.0) -> bool:
    """True once ``pid`` no longer runs (absent, or a zombie nobody reaped yet)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            return True
        if state in ("Z", "X"):
            return True
        time.sleep(0.05)
    return False


def _run(tmp_path: Path, launcher: launch.Launcher, name: str, preload: tuple[str, ...] = (), **job):
    folder = tmp_path / name
    folder.mkdir()
    job_path = folder / "job.json"
    job_path.write_text(json.dumps(dict(job, report=str(folder / "report.json"))))
    env = {"PATH": os.environ["PATH"], "COURSE_TEST_MARK": name, "PYTHONPATH": os.getcwd()}
    worker = launcher.start(job_path, folder, env, folder / "worker.log", LIMITS, module=PROBE, preload=preload)
    return worker, folder, env


def _report(folder: Path, timeout: float = 30.0) -> dict:
    path = folder / "report.json"
    end = time.monotonic() + timeout
    while not path.exists() or not path.read_text():
        assert time.monotonic() < end, "the worker wrote no report"
        time.sleep(0.05)
    return json.loads(path.read_text())


@pytest.mark.parametrize("fork", [True, False], ids=["forked", "new-interpreter"])
def test_a_worker_gets_its_limits_folder_environment_session_and_log(tmp_path, monkeypatch, fork):
    monkeypatch.setenv("COURSE_GRADER_FORK", "1" if fork else "0")
    worker, folder, env = _run(tmp_path, launch.Launcher(), "w", code=3)
    assert worker.wait(60) == 3
    report = _report(folder)
    names = {getattr(resource, n): n for n in report["limits"]}
    expected = {n: resource.getrlimit(getattr(resource, n))[0] for n in report["limits"]}
    expected.update({names[k]: v for k, v in LIMITS.items()})
    assert report["limits"] == expected
    assert report["cwd"] == str(folder)
    assert {k: v for k, v in report["env"].items() if k not in ("PWD", "SHLVL", "_", "LC_CTYPE")} == env
    assert report["session_leader"] and report["group_leader"]
    assert report["stdin"] == os.devnull
    assert (folder / "worker.log").read_text().split() == ["to", "the", "log", "to", "stderr"]


def test_forked_workers_come_from_the_server_and_new_interpreters_from_the_grader(tmp_path, monkeypatch):
    launcher = launch.Launcher()
    worker, folder, _ = _run(tmp_path, launcher, "forked", sleep=30)
    server = launcher._servers[(PROBE,)].proc.pid
    assert Path(f"/proc/{worker.pid}/stat").read_text().rsplit(")", 1)[1].split()[1] == str(server)
    # the server froze what it had imported before forking: the worker's collections skip it
    assert _report(folder)["frozen"] > 1000
    worker.kill()
    monkeypatch.setattr(launch, "_Server", lambda module, preload=(): (_ for _ in ()).throw(OSError("no server")))
    fallback = launch.Launcher()
    worker, folder, _ = _run(tmp_path, fallback, "spawned", sleep=30)
    assert Path(f"/proc/{worker.pid}/stat").read_text().rsplit(")", 1)[1].split()[1] == str(os.getpid())
    assert _report(folder)["frozen"] == 0
    worker.kill()


@pytest.mark.parametrize("fork", [True, False], ids=["forked", "new-interpreter"])
def test_a_worker_past_its_deadline_is_killed_with_its_group(tmp_path, monkeypatch, fork):
    monkeypatch.setenv("COURSE_GRADER_FORK", "1" if fork else "0")
    worker, folder, _ = _run(tmp_path, launch.Launcher(), "w", sleep=600, child=True)
    child = _report(folder)["child"]
    with pytest.raises(TimeoutError):
        worker.wait(0.5)
    worker.kill()
    assert worker.code == -signal.SIGKILL
    assert _gone(worker.pid) and _gone(child)


def test_workers_die_with_their_server(tmp_path):
    """The grading process gone (the server's stdin closed), the server kills the workers it
    forked and their children, and exits 0 (without the interpreter's teardown)."""
    launcher = launch.Launcher()
    worker, folder, _ = _run(tmp_path, launcher, "w", sleep=600, child=True)
    child = _report(folder)["child"]
    server = launcher._servers[(PROBE,)].proc
    server.stdin.close()   # what the grading process's death looks like
    assert worker.wait(30) == -signal.SIGKILL
    assert _gone(worker.pid) and _gone(child)
    assert server.wait(30) == 0
    again, folder, _ = _run(tmp_path, launcher, "again", code=0)  # a new server takes over
    assert again.wait(60) == 0


def test_the_process_count_is_limited_only_for_a_kernel_uid_of_its_own():
    limits = Limits(memory_bytes=2 * 1024 ** 3, max_file_bytes=123, max_processes=99)
    own = launch.worker_rlimits(limits, 40, kernel_uid=61001)
    assert own == {resource.RLIMIT_AS: limits.process_bytes, resource.RLIMIT_CPU: 40,
                   resource.RLIMIT_FSIZE: 123, resource.RLIMIT_CORE: 0, resource.RLIMIT_NPROC: 99}
    shared = launch.worker_rlimits(limits, 40, kernel_uid=None)
    assert resource.RLIMIT_NPROC not in shared and shared.items() <= own.items()


def test_every_thread_waiting_for_a_worker_learns_its_end(tmp_path):
    """The batch's interrupt kills (and waits for) a worker that its own thread waits for too."""
    import threading

    worker, folder, _ = _run(tmp_path, launch.Launcher(), "w", sleep=600)
    _report(folder)
    codes = []

    def wait():
        try:
            codes.append(worker._wait(60))
        except TimeoutError:
            codes.append("still waiting after 60 s")

    waiters = [threading.Thread(target=wait) for _ in range(2)]
    for waiter in waiters:
        waiter.start()
    worker.kill()
    for waiter in waiters:
        waiter.join()
    assert codes == [-signal.SIGKILL] * 2 and worker.code == -signal.SIGKILL


def _threads(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/task"))


def test_a_preloading_server_forks_workers_with_its_modules_imported_and_keras_starts_no_thread(tmp_path):
    """A3's fork server imports Keras and A3's trusted side once (``trusted.PRELOAD``): its
    workers start with them imported, and the import started no thread beyond numpy's
    (OpenBLAS' pool, which handles a fork itself): TensorFlow's pools start with its
    first operation, in the worker."""
    from course_utils.grading.trusted import PRELOAD

    preload = PRELOAD["a3_depthwise"]
    launcher = launch.Launcher()
    plain, folder, _ = _run(tmp_path, launcher, "plain", imported=list(preload))
    assert plain.wait(60) == 0 and _report(folder)["imported"] == []
    warm, folder, _ = _run(tmp_path, launcher, "warm", preload=preload, imported=list(preload))
    assert warm.wait(120) == 0 and _report(folder)["imported"] == list(preload)
    numpy_only, folder, _ = _run(tmp_path, launcher, "numpy", preload=("numpy",))
    assert numpy_only.wait(60) == 0
    servers = launcher._servers
    assert set(servers) == {(PROBE,), (PROBE, *preload), (PROBE, "numpy")}
    assert _threads(servers[(PROBE, *preload)].proc.pid) == _threads(servers[(PROBE, "numpy")].proc.pid)


def test_the_server_runs_each_warm_up_once_before_forking_and_a_failing_one_costs_nothing(tmp_path):
    """A preloaded module's ``warm_fork_server`` runs in the server, once, before the first
    fork: A3's loads the grader's evaluation images (the key ``a3.validation_subset``
    looks up, for the grader's dataset and mode); one that raises leaves the server
    forking as before."""
    from course_utils import config
    from course_utils.grading import a3

    launcher = launch.Launcher()
    preload = ("course_utils.grading.a3", "tests.fixtures.launch_warm")
    reports = []
    for name in ("first", "second"):
        worker, folder, _ = _run(tmp_path, launcher, name, preload=preload)
        assert worker.wait(120) == 0
        reports.append(_report(folder))
    server = launcher._servers[(PROBE, *preload)].proc.pid
    assert [r["warmed_in"] for r in reports] == [[server], [server]]
    size = a3.QUICK_VAL_SIZE if config.quick() else a3.VAL_SIZE
    assert reports[0]["a3_images"] == [[config.dataset(), size]]
    # A3's server alone (the warm-up that fails is not in it) has warmed the images all the same
    alone, folder, _ = _run(tmp_path, launcher, "alone", preload=("course_utils.grading.a3",))
    assert alone.wait(120) == 0 and _report(folder)["a3_images"] == [[config.dataset(), size]]


def test_a_cap_lowered_while_a_worker_runs_stops_it_at_the_new_budget(tmp_path):
    """The budget of a submission sent before the reference solution was graded comes down
    while it runs (parcel.Cap): its worker is stopped at the new budget, counted from its start."""
    import threading

    from course_utils.grading import parcel

    worker, folder, _ = _run(tmp_path, launch.Launcher(), "w", sleep=600)
    _report(folder)
    cap = parcel.Cap(10 ** 6)
    started = time.monotonic()
    threading.Timer(0.5, cap.lower, args=(3,)).start()
    try:
        assert parcel._wait(worker, 10, cap) == (None, 3)
        assert 2.9 < time.monotonic() - started < 6
        assert parcel._wait(worker, 1, None) == (None, 1)  # without a cap: the deadline alone
    finally:
        worker.kill()
