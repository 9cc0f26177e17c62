"""Assignment A3 graded for real: an honest submission, every bad submission and every
hostile one (tests/fixtures/a3_submissions.py), graded as one class by the shared batch.

A hostile submission is graded next to an honest twin with the same answers and must
score exactly what the twin scores; where no honest twin exists (a model that is not a
network of standard layers), it must earn nothing that depends on the model."""

from __future__ import annotations

import json
import time

import pytest

from course_utils.grading.batch import grade_batch
from course_utils.grading.isolation import Limits
from tests.fixtures import a3_submissions as a3s

# The first test of the module waits for the runs and the whole class (20 submissions).
pytestmark = pytest.mark.timeout(1800)


@pytest.fixture(scope="session")
def runs(tmp_path_factory):
    return a3s.make_runs(tmp_path_factory.mktemp("a3-runs"))


@pytest.fixture(scope="session")
def conv_runs(tmp_path_factory):
    return a3s.make_runs(tmp_path_factory.mktemp("a3-conv-runs"), a3s.conv_first())


#: The batch behind ``graded``: its report, what it logged, its limits and output folder.
BATCH: dict = {}


@pytest.fixture(scope="module")
def graded(tmp_path_factory, runs, conv_runs):
    root = tmp_path_factory.mktemp("a3-class")
    a3s.write_class(root / "class", runs, conv_runs)
    start = time.perf_counter()
    # 120 s a cell: the submission without separable weights trains one quick epoch in its
    # kernel (the grader hides NBGRADER_EXECUTION); on a loaded machine 60 s could cut it short
    limits = Limits(cell_timeout=120)
    said: list[str] = []
    report = grade_batch(a3s.A3, root / "class", root / "out", jobs=2, limits=limits,
                         feedback=False, progress=False, log=said.append)
    seconds = time.perf_counter() - start
    BATCH.update(report=report, log=said, limits=limits, out=root / "out")
    records = {r["student_id"]: r for r in report.records}
    print(f"\nA3 class of {len(records)} graded in {seconds:.0f} s (2 jobs)")
    for student, r in records.items():
        failed = [t["grade_id"] for t in r["tests"] if t["score"] < t["points"]]
        print(f"  {student:18s} {r['score']:4.0f}/{r['max_score']:.0f} {r['status']:6s} "
              f"{r.get('seconds', 0) or 0:5.1f}s failed: {', '.join(failed) or '-'}")
    return records


def failed(record) -> set[str]:
    return {t["grade_id"] for t in record["tests"] if t["score"] < t["points"]}


def failure(record, grade_id) -> str:
    return next(t.get("failure", "") for t in record["tests"] if t["grade_id"] == grade_id)


def test_a3_grades_no_reference_solution_and_budgets_each_submission_at_the_ceiling(graded):
    """A3's solution has no saved runs: graded, its training cells would only run into their time
    limit (minutes of a CPU slot) and its score could never set a budget. The batch skips it."""
    from course_utils.grading.batch import NO_REFERENCE_RUN

    assert a3s.A3.name in NO_REFERENCE_RUN
    report, limits = BATCH["report"], BATCH["limits"]
    n_cells = sum(len(json.loads((a3s.A3.source_dir / f"{nb}.ipynb").read_text())["cells"])
                  for nb in a3s.A3.notebooks)
    assert report.reference_seconds is None
    assert report.budget == limits.submission_timeout(n_cells)
    assert not any("reference solution" in line for line in BATCH["log"]), BATCH["log"]
    assert not (BATCH["out"] / "reference.json").exists()


def test_honest_submission_gets_full_marks(graded):
    r = graded["honest"]
    assert r["status"] == "ok" and r["score"] == r["max_score"] == 20, r


def scores(record) -> dict[str, float]:
    return {t["grade_id"]: t["score"] for t in record["tests"]}


def test_no_bad_submission_crashes_the_batch_or_beats_the_honest_one(graded):
    assert set(graded) >= {"honest", "conv2d_plain", "weights_missing", "forged_history", "nn_lookup"}
    for student, r in graded.items():
        assert r["status"] == "ok", (student, r["message"])
        if student != "honest":
            assert r["score"] < graded["honest"]["score"], student


@pytest.mark.parametrize("student", ["conv2d_plain", "conv2d_nested"])
def test_conv2d_in_any_disguise_fails_the_rule(graded, student):
    r = graded[student]
    assert "test_separable_only" in failed(r)
    assert "are not SeparableConv2D or DepthwiseConv2D" in failure(r, "test_separable_only")


def test_the_subclassed_conv2d_is_named_and_cannot_load(graded):
    text = failure(graded["conv2d_aliased"], "test_separable_only")
    assert "layer 'sep1b' is of the class DepthwiseSeparable, not a standard Keras class" in text
    assert graded["conv2d_aliased"]["score"] == 0


def test_too_many_parameters(graded):
    r = graded["too_many_params"]
    assert "test_params" in failed(r) and "test_separable_only" not in failed(r)
    assert "the limit is fewer than 100,000" in failure(r, "test_params")


def test_no_batch_normalisation(graded):
    r = graded["no_bn"]
    assert "test_bn_dropout" in failed(r)
    assert "no BatchNormalization" in failure(r, "test_bn_dropout")


def test_wrong_rf_rows_fail_the_table_only(graded):
    r = graded["wrong_rf_rows"]
    assert failed(r) == {"test_layer_table"}
    assert "2 row(s) wrong" in failure(r, "test_layer_table")


@pytest.mark.parametrize("student, message", [
    ("weights_missing", "the saved run is missing: separable.weights.h5"),
    ("weights_other_arch", "does not fit the model the notebook builds"),
    ("forged_history", "the history claims a best validation accuracy of 0.9700"),
    ("too_many_epochs", "the history has 60 epochs"),
])
def test_runs_are_judged_by_their_weights(graded, student, message):
    r = graded[student]
    assert {"test_separable_run", "test_beats_base"} & failed(r)
    assert message in failure(r, "test_separable_run")
    assert not failed(r) - {"test_separable_run", "test_beats_base"}


# ----------------------------------------------------------------------------- hostile submissions
MODEL_TESTS = {"test_separable_only", "test_params", "test_bn_dropout", "test_separable_run", "test_beats_base"}


def test_a_nearest_neighbour_lookup_in_a_lambda_earns_nothing_from_its_model(graded):
    r = graded["nn_lookup"]
    assert failed(r) == MODEL_TESTS  # the 32x32 network and its table are the honest ones
    assert scores(r)["test_layer_table"] == scores(graded["honest"])["test_layer_table"]
    assert "layer 'lookup' is a Lambda, which runs Python code of its own" in failure(r, "test_separable_only")


def test_a_builder_that_inspects_its_caller_scores_what_its_answers_earn(graded):
    # every test judges the one network the kernel returned for a shape: the separable one,
    # which the submitted (Conv2D) weights do not fit, exactly as for the honest twin
    assert scores(graded["caller_inspect"]) == scores(graded["twin_caller_inspect"])
    assert failed(graded["caller_inspect"]) == {"test_separable_run", "test_beats_base"}


@pytest.mark.parametrize("student, named", [
    ("custom_conv_layer", "layer 'sep1a' is of the class Stem, not a standard Keras class"),
    ("lambda_npz_kernels", "layer 'sep1a' is a Lambda, which runs Python code of its own"),
])
def test_a_convolution_hidden_in_a_custom_layer_or_a_lambda_cannot_load(graded, student, named):
    r = graded[student]
    assert named in failure(r, "test_separable_only")
    assert failed(r) >= MODEL_TESTS
    # no more than the honest student who wrote the Conv2D where everyone can see it
    assert r["score"] <= graded["conv2d_plain"]["score"]


def test_a_layer_registered_as_neutral_cannot_fake_the_receptive_fields(graded):
    r = graded["registered_neutral"]
    # the receptive-field tool is absent from the kernel, and a custom class cannot load here
    assert "course_utils.spec is not available while your answers are graded" in failure(r, "test_separable_only") \
        or "is of the class Squeeze, not a standard Keras class" in failure(r, "test_separable_only")
    assert failed(r) >= MODEL_TESTS | {"test_layer_table"}


@pytest.mark.parametrize("student", ["eq_always_true", "grader_table"])
def test_a_table_that_is_not_plain_numbers_or_the_graders_own_scores_what_no_table_does(graded, student):
    assert scores(graded[student]) == scores(graded["missing_table"])
    assert failed(graded[student]) == {"test_layer_table"}


def test_the_table_messages_say_what_went_wrong(graded):
    assert "is not plain data" in failure(graded["eq_always_true"], "test_layer_table") or \
        "a Anything, which the grader cannot receive" in failure(graded["eq_always_true"], "test_layer_table")
    assert "course_utils.grading.a3 is not available while your answers are graded" in \
        failure(graded["grader_table"], "test_layer_table")


@pytest.fixture(scope="module")
def graded_full(tmp_path_factory, runs):
    """The honest submission and one that claims quick mode and another dataset, graded in
    full mode (where the floor of FLOORS applies, which one-epoch runs do not reach, and the
    base must have run the rules' epochs: their history says so), and the honest one with
    the base's one-epoch history."""
    root = tmp_path_factory.mktemp("a3-full")
    short = {name: runs / name for name in a3s.RUN_FILES}
    files = {**short, "base_history.json": a3s.full_base_history(runs)}
    a3s.write_cases(root / "class", {"honest": (a3s.honest_notebook(), files),
                                     "grader_settings": (a3s.grader_settings(), files),
                                     "short_base": (a3s.honest_notebook(), short)})
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("COURSE_QUICK", raising=False)
        report = grade_batch(a3s.A3, root / "class", root / "out", jobs=2, limits=Limits(cell_timeout=120),
                             feedback=False, progress=False, log=lambda m: None)
    return {r["student_id"]: r for r in report.records}


def test_quick_mode_and_the_dataset_come_from_the_grader_not_the_notebook(graded_full):
    honest, hostile = graded_full["honest"], graded_full["grader_settings"]
    assert "test_beats_base" in failed(honest) and "the floor of 0.9000" in failure(honest, "test_beats_base")
    assert scores(hostile) == scores(honest)
    assert failure(hostile, "test_beats_base") == failure(honest, "test_beats_base")


def test_in_full_mode_the_base_must_have_run_the_rules_epochs(graded_full):
    r = graded_full["short_base"]
    assert failed(r) == {"test_beats_base"}
    assert "the base run has 1 epoch(s); Part 1 asks for 50" in failure(r, "test_beats_base")
