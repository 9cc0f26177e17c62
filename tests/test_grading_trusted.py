"""Verdicts no student's code can reach (issue 13, A1 and A2).

Each attack of tests/fixtures/hostile_submissions.py ("forged results") is graded next to
the honest submission that carries the same answers without it, and must score exactly
what that one scores. Below them: the plain-data codec, the proxy of a student function,
the test cell's free names, and the probes of what the sandboxed kernel can still see.
"""

from __future__ import annotations

import math
import os
import pickle

import nbformat
import numpy as np
import pytest

from course_utils import checks
from course_utils.grading import absent, isolation, plain, samples
from course_utils.grading.batch import grade_batch
from course_utils.grading.course import get_assignment
from course_utils.grading.isolation import Limits
from course_utils.grading.trusted import TRUSTED_TESTS, StudentFunction, free_names
from tests.fixtures import bad_submissions as bad
from tests.fixtures import hostile_submissions as hostile
from tests.test_grading_hostile import write_files

A2 = get_assignment("a2_numpy_layers")

#: Probes (honest answers plus a print of what the kernel can see), per assignment.
PROBE_A1 = '''import os, sys, course_utils
sys.meta_path[:] = [f for f in sys.meta_path if type(f).__name__ != "Refuse"]
here = os.path.dirname(course_utils.__file__)
cached = os.listdir(os.path.join(here, "__pycache__")) if os.path.isdir(os.path.join(here, "__pycache__")) else []
print("PRESENT", sorted(n for n in os.listdir(here) + cached if n.startswith(("arithmetic", "params", "receptive_field"))))
try:
    import course_utils.arithmetic
    print("IMPORTED")
except ImportError as exc:
    print("ABSENT", type(exc).__name__)
'''
HISTORY_PROBE = ('marker = "### BEGIN " + "HIDDEN"\n'
                 'print("HIDDEN IN HISTORY", any(marker in str(cell) for cell in In + [_ih]))\n')
PROBE_A2 = '''import importlib.util, sys
sys.meta_path[:] = [f for f in sys.meta_path if type(f).__name__ != "Refuse"]
print("FOUND", [m for m in ("tensorflow", "scipy", "course_utils.ops") if importlib.util.find_spec(m)])
'''
NOT_PLAIN = '''class Cache:
    pass

def conv_forward(x, w, b, stride=1, pad=0):
    out, cache = _conv_forward(x, w, b, stride, pad)
    kept = Cache()
    kept.values = cache
    return out, kept
'''


def _a1_probe():
    nb = samples.answered(bad.A1)
    samples.edit_cell(nb, hostile.FIRST, lambda src: PROBE_A1 + src)
    samples.edit_cell(nb, "param_counts_p", lambda src: HISTORY_PROBE + src)
    return {bad.NOTEBOOK: nb}


def _a2_probe():
    nb = samples.answered(A2)
    samples.edit_cell(nb, "conv_forward", lambda src: PROBE_A2 + src)
    return {hostile.A2_NOTEBOOK: nb}


def _a2_not_plain():
    nb = samples.answered(A2)
    samples.edit_cell(nb, "conv_forward", lambda src: src.replace("def conv_forward(", "def _conv_forward(")
                      + "\n\n" + NOT_PLAIN)
    return {hostile.A2_NOTEBOOK: nb}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """Every attack and its honest twin, plus the probes, graded per assignment."""
    root = tmp_path_factory.mktemp("trusted")
    classes = {"a1_arithmetic": {"probe": _a1_probe(), "honest": bad.honest()},
               "a2_numpy_layers": {"probe": _a2_probe(), "not_plain": _a2_not_plain(),
                                   "honest": {hostile.A2_NOTEBOOK: samples.answered(A2)}}}
    for name, (assignment, pair) in hostile.forged_results().items():
        for kind, files in pair.items():
            classes[assignment][f"{name}-{kind}"] = files
    records, outs = {}, {}
    for assignment, students in classes.items():
        for student, files in students.items():
            write_files(root / assignment / "class" / student, files)
        outs[assignment] = root / assignment / "out"
        report = grade_batch(get_assignment(assignment), root / assignment / "class", outs[assignment], jobs=2,
                             limits=Limits(cell_timeout=60, budget_seconds=900), feedback=False, progress=False,
                             log=lambda m: None)
        records[assignment] = {r["student_id"]: r for r in report.records}
    return {"records": records, "out": outs}


def _scores(graded, attack: str) -> tuple[float, float]:
    assignment = hostile.forged_results()[attack][0]
    records = graded["records"][assignment]
    for kind in ("attack", "honest"):
        record = records[f"{attack}-{kind}"]
        assert record["status"] in ("ok", "not_attempted"), record["message"]
    return records[f"{attack}-attack"]["score"], records[f"{attack}-honest"]["score"]


def _printed(graded, assignment: str, student: str) -> str:
    notebook = get_assignment(assignment).notebooks[0]
    nb = nbformat.read(graded["out"][assignment] / "autograded" / student / f"{notebook}.ipynb", as_version=4)
    return "".join(str(o.get("text", "")) for c in nb.cells for o in c.get("outputs", []))


def _outputs(graded, assignment: str, student: str, grade_id: str) -> list:
    notebook = get_assignment(assignment).notebooks[0]
    nb = nbformat.read(graded["out"][assignment] / "autograded" / student / f"{notebook}.ipynb", as_version=4)
    return samples.find_cell(nb, grade_id).outputs


# ----------------------------------------------------------------------------- the attacks
def test_reading_the_checks_frames_scores_what_its_answers_earn(graded):
    attack, honest = _scores(graded, "frame_reader")
    assert attack == honest == 13  # before: 24


def test_replacing_the_checks_from_an_answer_cell_scores_what_its_answers_earn(graded):
    attack, honest = _scores(graded, "replaced_checks")
    assert attack == honest == 22  # before: 24


def test_an_input_transformer_cannot_skip_the_tests(graded):
    attack, honest = _scores(graded, "input_transformer")
    assert attack == honest == 0  # before: 24 from a blank notebook


def test_a1_answered_by_the_reference_code_scores_what_its_answers_earn(graded):
    attack, honest = _scores(graded, "a1_reference_code")
    assert attack == honest == 4  # before: 24
    failure = _outputs(graded, "a1_arithmetic", "a1_reference_code-attack", "conv_output_size")[0]
    assert failure["ename"] == "ModuleNotFoundError"
    assert failure["evalue"].startswith("A1 asks you to write conv_output_size")


def test_a2_reference_layers_as_a_default_argument(graded):
    attack, honest = _scores(graded, "ops_default_argument")
    assert attack == honest == 9  # before: 21


def test_a2_reference_layers_through_importlib(graded):
    attack, honest = _scores(graded, "ops_importlib")
    assert attack == honest == 15  # before: 21


def test_a2_reference_layers_in_a_dict_of_functions(graded):
    attack, honest = _scores(graded, "ops_dict_of_functions")
    assert attack == honest == 17  # before: 21
    (error,) = [o for o in _outputs(graded, "a2_numpy_layers", "ops_dict_of_functions-attack", "test_maxpool")
                if o["output_type"] == "error"]
    assert error["ename"] == "NameError" and "A2 asks you to write" in error["evalue"]


def test_a2_tensorflow_under_a_computed_name(graded):
    attack, honest = _scores(graded, "tensorflow_dunder_import")
    assert attack == honest == 16  # before: 21


# ----------------------------------------------------------------------------- what the kernel sees
def test_the_sandbox_holds_no_a1_reference_code_and_no_hidden_test(graded):
    records = graded["records"]["a1_arithmetic"]
    assert records["probe"]["score"] == records["honest"]["score"] == records["honest"]["max_score"]
    text = _printed(graded, "a1_arithmetic", "probe")
    assert "PRESENT []" in text and "ABSENT ModuleNotFoundError" in text and "IMPORTED" not in text
    assert "HIDDEN IN HISTORY False" in text


def test_the_sandbox_holds_no_tensorflow_scipy_or_reference_layers_for_a2(graded):
    records = graded["records"]["a2_numpy_layers"]
    assert records["probe"]["score"] == records["honest"]["score"] == 21
    assert "FOUND []" in _printed(graded, "a2_numpy_layers", "probe")


def test_a_value_that_is_not_plain_data_fails_with_what_to_return(graded):
    record = graded["records"]["a2_numpy_layers"]["not_plain"]
    failed = {t["grade_id"]: t.get("failure", "") for t in record["tests"] if t["score"] < t["points"]}
    assert "test_conv_forward" in failed and "test_maxpool" not in failed
    (error,) = [o for o in _outputs(graded, "a2_numpy_layers", "not_plain", "test_conv_forward")
                if o["output_type"] == "error"]
    assert "Cache" in error["evalue"] and plain.WHAT_TO_RETURN in error["evalue"]


# ----------------------------------------------------------------------------- the codec
ROUND_TRIPS = [
    None, True, False, 0, -7, 10 ** 30, 2.5, "text ü", [], (), {},
    [1, (2, [3, {"a": (4,)}])], {1: "one", (1, 2): [None], "x": {"y": 1.5}, False: 0},
    np.arange(12, dtype=np.int32).reshape(3, 4), np.zeros((0, 3)), np.array(3.5), np.array([[True, False]]),
    np.array([1 + 2j]), np.float32(1.25), np.int64(-3), np.bool_(True),
    np.arange(6.0).reshape(2, 3).T,  # not contiguous
]


@pytest.mark.parametrize("value", ROUND_TRIPS, ids=lambda v: type(v).__name__)
def test_plain_data_round_trips_exactly(value):
    back = plain.decode(plain.encode(value))
    assert type(back) is type(value)
    if isinstance(value, (np.ndarray, np.generic)):
        assert back.dtype == value.dtype and np.shape(back) == np.shape(value)
        assert np.array_equal(back, value)
    else:
        assert back == value and repr(back) == repr(value)


def test_nan_and_infinities_cross_as_floats_and_in_arrays():
    back = plain.decode(plain.encode([math.nan, math.inf, -math.inf, np.array([math.nan, 1.0])]))
    assert math.isnan(back[0]) and back[1] == math.inf and back[2] == -math.inf
    assert np.isnan(back[3][0]) and back[3][1] == 1.0
    with pytest.raises(plain.NotPlainData, match="NaN"):
        plain.decode("[NaN]")  # JSON's non-standard constant is refused, not parsed
    with pytest.raises(plain.NotPlainData):
        plain.decode('{"$": "float", "v": "1e999"}')


class Sneaky(int):
    def __eq__(self, other):
        return True

    __hash__ = int.__hash__


@pytest.mark.parametrize("value", [object(), Sneaky(3), [1, {2: lambda: 3}], np.array([object()]),
                                   np.zeros(2, dtype=[("a", "f8")]), (x for x in ()), b"bytes", {1, 2},
                                   np.datetime64("2026-01-01")],
                         ids=["object", "int_subclass", "nested_function", "object_array", "record_array",
                              "generator", "bytes", "set", "datetime"])
def test_objects_are_refused_with_what_to_return(value):
    with pytest.raises(plain.NotPlainData) as refused:
        plain.encode(value, "what f(...) returned")
    assert str(refused.value).startswith("what f(...) returned ")
    assert str(refused.value).endswith(plain.WHAT_TO_RETURN)


@pytest.mark.parametrize("text", [
    pickle.dumps({"a": 1}), pickle.dumps(np.arange(3)).decode("latin-1"),
    '{"a": 1}', '{"$": "pickle", "v": "gASV"}', '{"$": "ndarray", "dtype": "|O", "shape": [1], "data": "AAAAAAAAAAA="}',
    '{"$": "ndarray", "dtype": "<f8", "shape": [2], "data": "AAAAAAAAAAA="}',  # 8 bytes for 2 floats
    '{"$": "ndarray", "dtype": "<f8", "shape": [1], "data": "not base64!"}',
    '{"$": "tuple", "v": [1], "extra": 2}', '{"$": "dict", "v": [[[1], 2]]}', "[" * 100_000,
], ids=["pickle_bytes", "pickle_text", "bare_object", "pickle_tag", "object_dtype", "short_data", "bad_base64",
        "extra_key", "unhashable_key", "deep"])
def test_anything_but_the_codecs_own_json_is_refused(text):
    with pytest.raises(plain.NotPlainData):
        plain.decode(text)


def test_messages_over_the_size_limit_are_refused_both_ways():
    big = np.zeros(1000)
    with pytest.raises(plain.NotPlainData, match="too large"):
        plain.encode(big, limit=4000)
    text = plain.encode(big)
    with pytest.raises(plain.NotPlainData, match="too large"):
        plain.decode(text, limit=len(text) - 1)
    assert plain.MAX_BYTES == 16 * 1024 ** 2


# ----------------------------------------------------------------------------- the proxy
class InProcessKernel:
    """The kernel's side (:func:`plain.serve`) in this process, on an IPython shell."""

    def __init__(self, namespace: dict):
        from IPython.core.interactiveshell import InteractiveShell

        self.shell = InteractiveShell.instance()
        self.shell.user_ns.update(namespace)

    def ask(self, request: dict) -> dict:
        return plain.decode(repr(plain.serve(plain.encode(request))))


def test_a_student_function_is_called_with_plain_data_and_its_value_comes_back():
    kernel = InProcessKernel({"double": lambda x, scale=2: (x * scale, [x])})
    double = StudentFunction(kernel, "double")
    out, rest = double(np.arange(3.0), scale=3)
    assert np.array_equal(out, [0.0, 3.0, 6.0]) and type(rest) is list and np.array_equal(rest[0], np.arange(3.0))


def test_a_value_that_is_not_plain_fails_the_check_with_what_to_return():
    class Cache:
        pass

    kernel = InProcessKernel({"forward": lambda x: (x, Cache())})
    forward = StudentFunction(kernel, "forward")
    with pytest.raises(checks.CheckFailed) as failed:
        checks.call_student(forward, "forward", np.ones(2))
    assert "what forward(...) returned holds, at [1], a" in str(failed.value)
    assert plain.WHAT_TO_RETURN in str(failed.value)


def test_the_students_exceptions_read_as_in_the_kernel():
    def broken(x):
        raise ValueError("bad shape")

    def placeholder(x):
        raise NotImplementedError()

    kernel = InProcessKernel({"broken": broken, "placeholder": placeholder})
    with pytest.raises(checks.CheckFailed, match=r"broken\(1\) raised ValueError: bad shape"):
        checks.call_student(StudentFunction(kernel, "broken"), "broken", 1)
    with pytest.raises(checks.NotAttempted):
        checks.call_student(StudentFunction(kernel, "placeholder"), "placeholder", 1)
    with pytest.raises(NameError, match="'gone'"):
        StudentFunction(kernel, "gone")(1)


def test_a_test_cells_free_names_are_what_it_reads_from_the_notebook():
    source = ("# hidden\nfrom course_utils import checks\nimport numpy as np\ncases = [dict(x=1)]\n"
              "checks.check_conv_backward(conv_forward, conv_backward, cases)\n"
              "print([f(c) for c in cases for f in (lambda v: v, sizes_c)], len(np.zeros(2)))\n")
    assert free_names(source) == ["conv_forward", "conv_backward", "sizes_c"]


def test_every_assignment_takes_the_trusted_path_and_hides_its_reference_code():
    import os

    from course_utils.grading.course import list_assignments

    assert set(TRUSTED_TESTS) == set(absent.REFERENCE_CODE) == set(list_assignments())
    cmd = ["python", "-m", "ipykernel_launcher", "-f", "k.json"]
    assert isolation.kernel_command(cmd, "a2_numpy_layers")[1:4] == ["-m", "course_utils.grading.absent",
                                                                     "a2_numpy_layers"]
    assert isolation.kernel_command(cmd, "a3_depthwise")[1:4] == ["-m", "course_utils.grading.absent", "a3_depthwise"]
    assert absent.message("a2_numpy_layers", "tensorflow").startswith("A2 asks you to write conv_forward")
    # A3's grader module sits one folder down: its folder gets a view without it
    views = dict(isolation.hidden_folders("a3_depthwise"))
    package = os.path.dirname(isolation._package_dir() + "/")
    assert views[os.path.join(package, "grading")] == {"a3.py"}
    assert {"receptive_field.py", "spec.py", "rf_probe.py", "arithmetic.py"} <= views[package]
    assert isolation.hidden_folders("no_such_assignment") == []


def test_the_import_hook_refuses_every_form_of_import(monkeypatch):
    import importlib
    import sys

    hook = absent.Refuse("a2_numpy_layers")
    monkeypatch.setattr(sys, "meta_path", [hook] + sys.meta_path)
    for name in ("course_utils.ops", "course_utils.ops.conv", "scipy.signal", "tensorflow"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    for attempt in (lambda: importlib.import_module("course_utils.ops"),
                    lambda: __import__("tensor" + "flow"),
                    lambda: exec("from course_utils.ops import conv2d_forward", {}),
                    lambda: importlib.import_module("scipy.signal")):
        with pytest.raises(ModuleNotFoundError, match="A2 asks you to write"):
            attempt()
    importlib.import_module("json")  # everything else imports as before


def test_validate_runs_the_public_tests_on_the_trusted_side(tmp_path):
    """What a student sees before submitting is what the grader will see: the frame reader
    and the replaced checks fail the public tests they passed in the kernel."""
    from course_utils.grading.validate import validate

    for name, failing in (("frame_reader", {"test_conv_output_size", "test_transposed_output_size",
                                            "test_params_functions"}),
                          ("replaced_checks", set())):
        folder = tmp_path / name
        folder.mkdir()
        path = folder / bad.NOTEBOOK
        nbformat.write(hostile.forged_results()[name][1]["attack"][bad.NOTEBOOK], path)
        result = validate(path)
        assert result.error is None
        assert {grade_id for grade_id, _, _ in result.failed} == failing
        assert len(result.passed) + len(result.failed) == 8
    honest = tmp_path / "honest"
    honest.mkdir()
    nbformat.write(hostile.input_transformer()[bad.NOTEBOOK], honest / bad.NOTEBOOK)
    assert validate(honest / bad.NOTEBOOK).passed == []


@pytest.mark.skipif(os.geteuid() != 0, reason="the unshare sandbox needs root")
def test_the_unshare_sandbox_hides_the_reference_code_too(tmp_path):
    write_files(tmp_path / "class" / "probe", _a1_probe())
    report = grade_batch(bad.A1, tmp_path / "class", tmp_path / "out", jobs=1, limits=Limits(cell_timeout=30),
                         sandbox="unshare", feedback=False, progress=False, log=lambda m: None)
    (record,) = report.records
    assert (record["score"], record["sandbox"]) == (record["max_score"], "unshare")
    nb = nbformat.read(tmp_path / "out" / "autograded" / "probe" / bad.NOTEBOOK, as_version=4)
    text = "".join(str(o.get("text", "")) for c in nb.cells for o in c.get("outputs", []))
    assert "PRESENT []" in text and "ABSENT ModuleNotFoundError" in text


def test_a_student_function_that_hangs_or_kills_its_kernel_fails_only_that_test(tmp_path):
    """Called by a hidden test only (dilations): an endless loop is interrupted at the cell's
    limit and every other test scores as honestly; after ``os._exit`` the rest of the notebook
    runs in a fresh kernel, as after any cell that kills its kernel."""
    def with_body(body: str):
        nb = samples.answered(bad.A1)
        samples.edit_cell(nb, hostile.FIRST, lambda src: src.replace(
            '    """Output length of a convolution (or pooling) along one axis."""\n',
            '    """Output length of a convolution (or pooling) along one axis."""\n'
            f"    if d != 1:\n        {body}\n"))
        return {bad.NOTEBOOK: nb}

    for student, body in (("loops", "while True: pass"), ("dies", "import os; os._exit(1)")):
        write_files(tmp_path / "class" / student, with_body(body))
    write_files(tmp_path / "class" / "honest_wrong", bad.honest(wrong=bad.WRONG))
    report = grade_batch(bad.A1, tmp_path / "class", tmp_path / "out", jobs=2, limits=Limits(cell_timeout=5),
                         feedback=False, progress=False, log=lambda m: None)
    records = {r["student_id"]: r for r in report.records}
    honest = records["honest_wrong"]["score"]
    assert honest == records["honest_wrong"]["max_score"] - 2
    failed = {student: [t["grade_id"] for t in records[student]["tests"] if t["score"] < t["points"]]
              for student in ("loops", "dies")}
    assert failed["loops"] == [bad.HIDDEN_TEST] and records["loops"]["score"] == honest
    assert failed["dies"][0] == bad.HIDDEN_TEST and records["dies"]["status"] == "ok"
    assert "ran out of time" in records["loops"]["message"]
    assert "killed the kernel" in records["dies"]["message"]
