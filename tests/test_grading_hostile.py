"""A hostile class (issue 12): every attack graded next to the honest answers it carries.

The attacks are built by tests/fixtures/hostile_submissions.py. Each one must score exactly
what the same answers score without it, leave every host file it aims at untouched (canary
files: same bytes, mode and modification time; files that must not appear do not), and
never stop the batch.
"""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
import uuid
import zipfile
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pytest

from course_utils.cli import main as course
from course_utils.grading import isolation, samples
from course_utils.grading.batch import _error_record, grade_batch, grader_fingerprint, Student
from course_utils.grading.isolation import KERNEL_UID_BASE, Limits, SandboxUnavailable, detect_sandbox
from course_utils.grading.preprocessors import restore_grader_cells
from course_utils.grading.validate import report, validate
from tests.fixtures import bad_submissions as bad
from tests.fixtures import hostile_submissions as hostile

ROOT = os.geteuid() == 0
A1 = bad.A1


HOSTILE_LIMITS = Limits(cell_timeout=10, budget_floor=25)


def write_files(folder: Path, files: dict) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        target = folder / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, tuple) and content[0] == "link":
            os.symlink(content[1], target)
        elif isinstance(content, bytes):
            target.write_bytes(content)
        else:
            nbformat.write(content, target)


class Canary:
    """A host file that an attack aims at; remembers what it was."""

    def __init__(self, path: Path, mode: int = 0o644):
        self.path = path
        self.secret = f"CANARY-{uuid.uuid4().hex}"
        path.write_text(self.secret)
        os.chmod(path, mode)
        self.stat = path.stat()

    def untouched(self) -> bool:
        now = self.path.lstat()
        return (self.path.read_text() == self.secret and now.st_mode == self.stat.st_mode
                and now.st_mtime_ns == self.stat.st_mtime_ns and now.st_ino == self.stat.st_ino)


def everything_under(folder: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file() and not p.is_symlink())


@pytest.fixture(scope="module")
def hostile_class(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    host = root / "host"
    host.mkdir()
    os.chmod(host, 0o755)
    canaries = {name: Canary(host / f"{name}.txt") for name in ("notebook_target", "handed_in", "root_owned")}
    created = host / "created-by-the-grader.html"
    marker = Path("/tmp") / f"course-daemon-{uuid.uuid4().hex}"
    all_answers = list(samples.solutions(A1, A1.notebooks[0]))
    cases = {
        "honest": bad.honest(),
        "honest_wrong": bad.honest(wrong=bad.WRONG),
        "honest_skipped": bad.honest(wrong=bad.WRONG, blank=[bad.ANSWER]),
        "unmodified": bad.unmodified(),
        "link_over_notebook": hostile.link_over_notebook(str(canaries["notebook_target"].path), str(created)),
        "leak_links": hostile.leak_links(str(A1.source_dir / bad.NOTEBOOK)),
        "handed_in_links": hostile.handed_in_links(str(canaries["handed_in"].path)),
        "skip_execution": hostile.skip_execution(),
        "skip_execution_blank": hostile.skip_execution(wrong=(), blank=all_answers),
        "shadow_package": hostile.shadow_package(),
        "privileged": hostile.privileged(str(canaries["root_owned"].path), str(marker)),
        "script_payloads": hostile.script_payloads(),
        "fill_tmp": hostile.fill_tmp(),
        "many_processes": hostile.many_processes(),
        # second in the class's order: sent at once, beside the reference solution, under the
        # ceiling; its budget comes down while it runs
        "early_slow_hook": hostile.slow_hook(),
        "deleted_answer_and_test": hostile.deleted_answer_and_test(),
        "flipped_grade": hostile.flipped_flags(grade=False, points=0),
        "flipped_solution": hostile.flipped_flags(solution=True),
    }
    for student, files in cases.items():
        write_files(root / "class" / student, files)
    out = root / "out"
    started = time.monotonic()
    # the floor of the budget lowered from 60 s: the slow hook runs into it twice (graded early
    # under the ceiling, then again under the budget), a minute of the test's time otherwise
    report_ = grade_batch(A1, root / "class", out, jobs=2, limits=HOSTILE_LIMITS,
                          progress=False, log=lambda m: None)
    seconds = time.monotonic() - started
    time.sleep(10)  # past the daemon's wake-up time
    return {"records": {r["student_id"]: r for r in report_.records}, "out": out, "canaries": canaries,
            "created": created, "marker": marker, "report": report_, "seconds": seconds, "cases": cases}


@pytest.fixture(scope="module")
def results(hostile_class):
    return hostile_class["records"]


def score(results, student):
    return results[student]["score"]


def printed(out: Path, student: str) -> str:
    nb = nbformat.read(out / "autograded" / student / bad.NOTEBOOK, as_version=4)
    return "".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []))


def test_references(results):
    full = results["honest"]["max_score"]
    assert (score(results, "honest"), results["honest"]["status"]) == (full, "ok")
    assert score(results, "honest_wrong") == full - 2
    assert score(results, "honest_skipped") == full - 4
    assert score(results, "unmodified") == 0


def test_every_student_has_one_row_and_none_beats_the_honest_answers(hostile_class, results):
    assert set(results) == set(hostile_class["cases"])
    rows = list(csv.DictReader(open(hostile_class["out"] / "grades.csv", newline="")))
    assert sorted(r["student_id"] for r in rows) == sorted(hostile_class["cases"])


# ----------------------------------------------------------------------------- 1. links
def test_links_planted_by_the_kernel_are_never_followed(hostile_class, results):
    canary = hostile_class["canaries"]["notebook_target"]
    assert canary.untouched(), "the grader wrote through the student's link"
    assert not hostile_class["created"].exists(), "the grader created a host file through a link"
    assert score(results, "link_over_notebook") == score(results, "honest")


def test_feedback_holds_only_the_students_own_pages(hostile_class, results):
    out = hostile_class["out"]
    assert score(results, "leak_links") == score(results, "honest")
    for kind in ("feedback", "autograded"):
        assert sorted(p.name for p in (out / kind / "leak_links").iterdir()) == \
            [bad.NOTEBOOK.replace(".ipynb", ".html" if kind == "feedback" else ".ipynb")]
    everything = everything_under(out)
    assert b"SQLite format" not in everything                      # the gradebook
    assert b"### BEGIN SOLUTION" not in everything                  # the source notebook, with solutions
    for canary in hostile_class["canaries"].values():
        assert canary.secret.encode() not in everything
    assert sum(p.stat().st_size for p in out.rglob("*") if p.is_file()) < 50 * 1024 ** 2  # no /dev/zero copy


def test_links_handed_in_are_left_out_with_a_note(hostile_class, results):
    r = results["handed_in_links"]
    assert r["score"] == score(results, "honest_wrong")
    assert "notes.txt (a link)" in r["message"] and "a1_arithmetic (2).ipynb (a link)" in r["message"]
    assert hostile_class["canaries"]["handed_in"].untouched()


# ----------------------------------------------------------------------------- 2. tags
def test_execution_tags_are_stripped(results):
    assert score(results, "skip_execution") == score(results, "honest_wrong")
    assert score(results, "skip_execution_blank") == score(results, "unmodified") == 0
    assert "cell tags are ignored" in results["skip_execution"]["message"]
    assert "skip-execution" in results["skip_execution"]["message"]


def test_validate_warns_about_tags_and_runs_the_tests(tmp_path):
    path = tmp_path / bad.NOTEBOOK
    nbformat.write(hostile.skip_execution(wrong=(), blank=list(samples.solutions(A1, A1.notebooks[0])))[bad.NOTEBOOK],
                   path)
    result = validate(path)
    assert not result.ok and not result.passed and len(result.failed) == 8
    assert "cell tags are ignored (every cell runs and is graded as released): nbval-skip, raises-exception, " \
           "skip-execution" in report(result)


# ----------------------------------------------------------------------------- 3. shadowing
def test_a_folder_named_like_the_package_is_ignored(results):
    r = results["shadow_package"]
    assert r["score"] == score(results, "honest_wrong")
    assert "course_utils, numpy.py (named like a module the tests import: the installed one is used)" in r["message"]


# ----------------------------------------------------------------------------- 4. privileges
@pytest.mark.skipif(not ROOT, reason="a grader that is not root cannot run kernels as other users")
def test_student_code_never_runs_as_root_nor_outlives_its_submission(hostile_class, results):
    text = printed(hostile_class["out"], "privileged")
    uid = int(text.split("UID ")[1].split()[0])
    assert uid != 0
    assert "WROTE CANARY" not in text
    assert hostile_class["canaries"]["root_owned"].untouched()
    assert score(results, "privileged") == score(results, "honest")
    assert not hostile_class["marker"].exists()
    uids = {r["kernel_uid"] for r in results.values()}
    # one uid per job slot, taken from the kernel range: two at most (one slot may grade every
    # other submission while the slow hook holds the other, whose early record is replaced)
    assert uid in uids and 1 <= len(uids) <= 2
    assert all(KERNEL_UID_BASE <= u < KERNEL_UID_BASE + isolation.UID_RANGE for u in uids)
    # (the uids are free again: another batch may be using them now; kill_user is tested below)


@pytest.mark.skipif(not ROOT, reason="the unshare sandbox needs root")
@pytest.mark.parametrize("sandbox", ["unshare", "none"])
def test_weaker_sandboxes_keep_the_student_unprivileged_and_short_lived(tmp_path, sandbox):
    canary = Canary(tmp_path / "canary.txt")
    marker = Path("/tmp") / f"course-daemon-{uuid.uuid4().hex}"
    write_files(tmp_path / "class" / "mallory", hostile.privileged(str(canary.path), str(marker)))
    report_ = grade_batch(A1, tmp_path / "class", tmp_path / "out", jobs=1, limits=Limits(cell_timeout=10),
                          sandbox=sandbox, feedback=False, progress=False, log=lambda m: None)
    (record,) = report_.records
    assert (record["score"], record["sandbox"]) == (record["max_score"], sandbox)
    text = printed(tmp_path / "out", "mallory")
    uid = int(text.split("UID ")[1].split()[0])
    assert uid == record["kernel_uid"] >= KERNEL_UID_BASE and "NO WRITE PermissionError" in text
    assert canary.untouched()
    time.sleep(9)
    assert not marker.exists(), "a daemon outlived its submission"


@pytest.mark.skipif(not ROOT, reason="kernel uids exist for root graders only")
def test_a_released_uid_has_no_process_left():
    """What the batch does when a worker is gone: every process of the kernel's uid dies,
    daemons in their own sessions included. The uid stays held, so nobody else uses it."""
    with isolation.UIDS.one() as uid:
        script = "sleep 60 & (setsid sleep 60 &) ; (trap '' TERM; sleep 60) & sleep 60"
        launcher = subprocess.Popen(["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--",
                                     "sh", "-c", script], start_new_session=True)
        deadline = time.monotonic() + 10
        while len(isolation.processes_of(uid)) < 4 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(isolation.processes_of(uid)) >= 4
        assert isolation.kill_user(uid) >= 4
        assert isolation.processes_of(uid) == []
        launcher.wait(timeout=5)


def test_without_a_sandbox_the_grader_refuses_unless_told_none(monkeypatch, capsys):
    monkeypatch.setattr(isolation, "_bwrap_works", lambda: False)
    monkeypatch.setattr(isolation, "_unshare_works", lambda: False)
    with pytest.raises(SandboxUnavailable, match="pass --sandbox none"):
        detect_sandbox("auto", install=False, log=lambda m: None)
    with pytest.raises(SandboxUnavailable, match="bubblewrap is missing"):
        detect_sandbox("bwrap", install=False, log=lambda m: None)
    said = []
    assert detect_sandbox("none", install=False, log=said.append) == "none"
    assert "can read every file you can read (the solutions included)" in said[0]
    assert course(["grade", A1.name, "--quiet", "--out", "/nonexistent-out"]) == 2
    assert "no sandbox works on this machine" in capsys.readouterr().err


def test_auto_falls_back_to_unshare_only_with_its_warning(monkeypatch):
    monkeypatch.setattr(isolation, "_bwrap_works", lambda: False)
    monkeypatch.setattr(isolation, "_unshare_works", lambda: True)
    said = []
    assert detect_sandbox("auto", install=False, log=said.append) == "unshare"
    assert "student code can read any file that any user may read" in said[0]


# ----------------------------------------------------------------------------- 6. feedback
class ActiveContent(HTMLParser):
    """What a browser would run in a page: scripts (by their text), event handlers and
    ``javascript:`` links."""

    def __init__(self):
        super().__init__()
        self.found: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        self._in_script = tag == "script"
        for name, value in attrs:
            if name.startswith("on") or (value or "").strip().lower().startswith("javascript:"):
                self.found.append(f"<{tag} {name}={value!r}>")

    def handle_endtag(self, tag):
        self._in_script = False

    def handle_data(self, data):
        if self._in_script and "PWNED" in data:
            self.found.append(f"<script>{data.strip()[:60]}")


def active_content(html: str) -> list[str]:
    parser = ActiveContent()
    parser.feed(html)
    return parser.found


def test_feedback_is_sanitised(hostile_class, results):
    html = (hostile_class["out"] / "feedback" / "script_payloads" / "a1_arithmetic.html").read_text()
    assert score(results, "script_payloads") == score(results, "honest_wrong")
    assert active_content(html) == []
    # the check sees the payloads when they are there
    unsafe = '<script>window.PWNED_HTML = 1</script><img src="x" onerror="window.PWNED_MD = 1">'
    assert len(active_content(unsafe)) == 2
    # and the sanitiser keeps what Markdown makes: the notebook's headings render as headings
    honest = (hostile_class["out"] / "feedback" / "honest" / "a1_arithmetic.html").read_text()
    assert "<h1" in honest and "<h2" in honest and "<p>" in honest
    assert "&lt;h2" not in honest and "&lt;p&gt;" not in honest


# ----------------------------------------------------------------------------- 7. resources
def test_tmp_and_the_working_folder_are_size_limited(hostile_class, results):
    if detect_sandbox() != "bwrap":
        pytest.skip("size-limited folders are a property of the bubblewrap sandbox")
    text = printed(hostile_class["out"], "fill_tmp")
    tmp_mb, cwd_mb = int(text.split("TMP MB ")[1].split()[0]), int(text.split("CWD MB ")[1].split()[0])
    limit_mb = Limits().scratch_bytes >> 20
    assert 0 < tmp_mb <= limit_mb and 0 < cwd_mb <= limit_mb
    assert score(results, "fill_tmp") == score(results, "honest")


def test_the_scratch_space_counts_in_the_memory_limit():
    one_gb = Limits(memory_bytes=1024 ** 3)
    assert one_gb.scratch_bytes == 128 * 1024 ** 2
    assert one_gb.process_bytes + 2 * one_gb.scratch_bytes == one_gb.memory_bytes


@pytest.mark.skipif(not ROOT, reason="the process count is limited per kernel uid (root graders)")
def test_the_number_of_processes_is_limited(hostile_class, results):
    started = int(printed(hostile_class["out"], "many_processes").split("PROCESSES ")[1].split()[0])
    assert 0 < started < Limits().max_processes
    assert score(results, "many_processes") == score(results, "honest")


def test_a_submission_past_its_budget_is_stopped_and_marked(hostile_class, results):
    r = results["early_slow_hook"]
    budget = hostile_class["report"].budget
    assert (r["status"], r["score"]) == ("error", 0)
    assert f"ran past its budget of {budget} s" in r["message"]
    assert r["seconds"] < budget + 20
    reference = hostile_class["report"].reference_seconds
    assert reference is not None
    assert budget == max(HOSTILE_LIMITS.budget_floor, int(isolation.BUDGET_FACTOR * reference) + 1)


# ----------------------------------------------------------------------------- 8. honest zeros
def test_a_skipped_exercise_scores_what_the_answers_earn(results):
    r = results["deleted_answer_and_test"]
    assert (r["score"], r["status"]) == (score(results, "honest_skipped"), "ok")
    assert f"cell '{bad.ANSWER}' was deleted (restored from the assignment)" in r["message"]


@pytest.mark.parametrize("student", ["flipped_grade", "flipped_solution"])
def test_flipped_nbgrader_flags_are_restored(results, student):
    r = results[student]
    assert (r["score"], r["status"]) == (score(results, "honest_wrong"), "ok")
    assert f"the nbgrader settings of cell '{bad.HIDDEN_TEST}' were changed" in r["message"]


def test_restoring_keeps_answers_and_reinserts_deleted_cells_in_place():
    release = samples.release_notebook(A1)
    nb = hostile.deleted_answer_and_test()[bad.NOTEBOOK]
    restored = restore_grader_cells(nb, release)
    assert [samples.grade_id(c) for c in restored.cells] == [samples.grade_id(c) for c in release.cells]
    answered = samples.answered(A1, wrong=bad.WRONG)
    for ours, theirs in zip(restored.cells, answered.cells):
        if samples.grade_id(ours) == bad.ANSWER:
            assert ours.source == samples.find_cell(release, bad.ANSWER).source  # the stub
        else:
            assert ours.source == theirs.source


def test_validate_survives_a_duplicated_test_cell(tmp_path):
    nb = bad.duplicated_cells()[bad.NOTEBOOK]
    path = tmp_path / bad.NOTEBOOK
    nbformat.write(nb, path)
    result = validate(path)
    assert result.error is None
    assert any("appears 2 times" in n for n in result.notes)
    assert len(result.passed) + len(result.failed) == 8


@pytest.mark.parametrize("garble", ["not a dict", "points"])
def test_validate_survives_garbled_nbgrader_metadata(tmp_path, garble):
    """A test cell whose nbgrader metadata is garbled: repaired from the release when there is
    one (every visible test still runs), a clear error when there is none."""
    nb = samples.answered(A1)
    cell = samples.find_cell(nb, "test_conv_output_size")
    if garble == "points":
        cell.metadata["nbgrader"]["points"] = "many"
    else:
        cell.metadata["nbgrader"] = "garbage"
    nbformat.write(nb, tmp_path / f"{A1.name}.ipynb")
    result = validate(tmp_path / f"{A1.name}.ipynb")
    assert result.error is None and not result.failed and len(result.passed) == 8
    assert any("restored at grading" in n for n in result.notes)
    nbformat.write(nb, tmp_path / "renamed.ipynb")
    result = validate(tmp_path / "renamed.ipynb")
    assert "no release was found" in result.error
    assert any("nbgrader metadata problem" in n for n in result.notes)


def test_validate_and_grade_use_the_same_cell_timeout():
    from course_utils.grading import cli

    assert cli.CELL_TIMEOUT == Limits().cell_timeout
    assert validate.__defaults__ == (None,)  # None: the grader's Limits().cell_timeout


# ----------------------------------------------------------------------------- 9. re-runs
def test_failures_of_the_grader_are_regraded_and_the_students_own_are_kept(tmp_path):
    for student, files in {"ada": bad.honest(), "dev": bad.invalid_json()}.items():
        write_files(tmp_path / "class" / student, files)
    out = tmp_path / "out"
    kwargs = dict(jobs=2, limits=Limits(cell_timeout=10, budget_seconds=120), feedback=False, progress=False,
                  log=lambda m: None)
    first = {r["student_id"]: r for r in grade_batch(A1, tmp_path / "class", out, **kwargs).records}
    # what a worker crash left behind: an error with a valid fingerprint
    crash = _error_record(Student("ada", tmp_path), A1.name, first["ada"]["max_score"],
                          "the grader crashed (exit code -9)", transient=True)
    crash["fingerprint"] = first["ada"]["fingerprint"]
    (out / "results" / "ada.json").write_text(__import__("json").dumps(crash))
    again = grade_batch(A1, tmp_path / "class", out, **kwargs)
    assert again.graded == ["ada"] and again.reused == ["dev"]
    assert {r["student_id"]: r["score"] for r in again.records}["ada"] == first["ada"]["max_score"]


@pytest.mark.parametrize("variable", isolation.PASSED_ENV)
def test_the_fingerprint_covers_what_reaches_the_kernel(monkeypatch, variable):
    before = grader_fingerprint(A1, Limits(), "bwrap", True)
    monkeypatch.setenv(variable, os.environ.get(variable, "") + "-changed")
    assert grader_fingerprint(A1, Limits(), "bwrap", True) != before
    monkeypatch.delenv(variable)
    unset = grader_fingerprint(A1, Limits(), "bwrap", True)
    monkeypatch.setenv(variable, "")
    assert grader_fingerprint(A1, Limits(), "bwrap", True) != unset  # set but empty is not unset


def test_the_mirror_reaches_the_kernel():
    assert "COURSE_DATA_MIRROR" in isolation.PASSED_ENV


def test_the_fingerprint_covers_library_versions(monkeypatch):
    from course_utils.grading import batch

    before = grader_fingerprint(A1, Limits(), "bwrap", True)
    monkeypatch.setattr(batch, "_versions", lambda: "nbgrader=99.0")
    assert grader_fingerprint(A1, Limits(), "bwrap", True) != before


# ----------------------------------------------------------------------------- 5. names
def test_odd_file_names_stop_nobody(tmp_path, capsys):
    classroom = tmp_path / "class"
    write_files(classroom / "ada", bad.honest())
    write_files(classroom / "ben", bad.honest(wrong=bad.WRONG))
    (classroom / "ben" / os.fsdecode(b"caf\xe9-notes.txt")).write_bytes(b"latin-1 name")
    os.mkdir(classroom / os.fsdecode(b"\xff\xfe-student"))
    write_files(classroom / "\x1b[31mred\x1b[0m", bad.honest())
    assert course(["grade", A1.name, str(classroom), "--out", str(tmp_path / "out"), "--budget", "120"]
                  + bad_fast()) == 0
    captured = capsys.readouterr()
    assert "\x1b[31m" not in captured.out + captured.err
    csv_text = (tmp_path / "out" / "grades.csv").read_text()
    assert "\x1b" not in csv_text
    rows = {r["student_id"]: r for r in csv.DictReader(open(tmp_path / "out" / "grades.csv", newline=""))}
    assert (rows["ada"]["status"], rows["ben"]["status"]) == ("ok", "ok")
    assert float(rows["ada"]["score"]) == float(rows["ada"]["max_score"])
    odd = [r for sid, r in rows.items() if sid not in ("ada", "ben")]
    assert len(odd) == 2 and all(r["status"] == "error" and "not a usable student id" in r["message"] for r in odd)
    assert "\\x1b[31mred" in csv_text and "\\xff\\xfe-student" in csv_text


def test_a_class_zip_with_impossible_members_grades_everyone_else(tmp_path, capsys):
    archive = tmp_path / "class.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("ada/a1_arithmetic.ipynb", nbformat.writes(samples.answered(A1)))
        zf.writestr("ben/a1_arithmetic.ipynb", nbformat.writes(samples.answered(A1)))
        zf.writestr("ben/" + "x" * 300 + ".txt", b"too long a name")
        zf.writestr("ben/clash", b"a file")
        zf.writestr("ben/clash/inside.txt", b"and a folder of the same name")
    assert course(["grade", A1.name, str(archive), "--out", str(tmp_path / "out"), "--budget", "120"]
                  + bad_fast()) == 0
    rows = {r["student_id"]: r for r in csv.DictReader(open(tmp_path / "out" / "grades.csv", newline=""))}
    assert sorted(rows) == ["ada", "ben"]
    assert all(float(r["score"]) == float(r["max_score"]) for r in rows.values())
    assert "not unpacked" in rows["ben"]["message"] and "clash/inside.txt" in rows["ben"]["message"]


def bad_fast() -> list[str]:
    return ["--timeout", "10", "--quiet", "--no-feedback", "--jobs", "2"]


# ----------------------------------------------------------------------------- 10. signals
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_ctrl_c_and_sigterm_stop_the_batch_and_clean_up(tmp_path, signum):
    classroom = tmp_path / "c"
    write_files(classroom / "aaa", bad.honest())
    for i in range(6):
        write_files(classroom / f"loop{i}", bad.infinite_loop())
    work = tmp_path / "t"
    work.mkdir()
    env = dict(os.environ, TMPDIR=str(work))
    proc = subprocess.Popen([sys.executable, "-m", "course_utils.cli", "grade", A1.name, str(classroom),
                             "--out", str(tmp_path / "out"), "--quiet", "--no-feedback", "--jobs", "2",
                             "--timeout", "60", "--budget", "300"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.monotonic() + 120
    while not (tmp_path / "out" / "results" / "aaa.json").exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert (tmp_path / "out" / "results" / "aaa.json").exists(), proc.stderr.read1().decode()
    time.sleep(1)
    sent = time.monotonic()
    proc.send_signal(signum)
    proc.wait(timeout=30)
    assert time.monotonic() - sent < 15
    assert proc.returncode == 130
    assert sorted(os.listdir(work)) == [], "temporary folders left behind"
    rows = list(csv.DictReader(open(tmp_path / "out" / "grades.csv", newline="")))
    assert [r["student_id"] for r in rows if r["status"] == "ok"] == ["aaa"]
    assert not _grading_processes(str(work)), "a worker or a kernel outlived the batch"


def _grading_processes(marker: str) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
            except OSError:
                continue
            if marker.encode() in cmdline:  # workers (job.json) and kernels (connection file)
                found.append(int(entry))
    return found
