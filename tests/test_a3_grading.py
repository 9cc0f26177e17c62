"""Assignment A3 graded for real: an honest submission and every bad submission of the
issue (tests/fixtures/a3_submissions.py), graded as one class by the shared batch."""

from __future__ import annotations

import time

import pytest

from course_utils.grading.batch import grade_batch
from course_utils.grading.isolation import Limits
from tests.fixtures import a3_submissions as a3s


@pytest.fixture(scope="session")
def runs(tmp_path_factory):
    return a3s.make_runs(tmp_path_factory.mktemp("a3-runs"))


@pytest.fixture(scope="module")
def graded(tmp_path_factory, runs):
    root = tmp_path_factory.mktemp("a3-class")
    a3s.write_class(root / "class", runs)
    start = time.perf_counter()
    report = grade_batch(a3s.A3, root / "class", root / "out", jobs=2, limits=Limits(cell_timeout=60),
                         feedback=False, progress=False, log=lambda m: None)
    seconds = time.perf_counter() - start
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


def test_honest_submission_gets_full_marks(graded):
    r = graded["honest"]
    assert r["status"] == "ok" and r["score"] == r["max_score"] == 20, r


def test_no_bad_submission_crashes_the_batch_or_beats_the_honest_one(graded):
    assert set(graded) >= {"honest", "conv2d_plain", "weights_missing", "forged_history"}
    for student, r in graded.items():
        assert r["status"] == "ok", (student, r["message"])
        if student != "honest":
            assert r["score"] < graded["honest"]["score"], student


@pytest.mark.parametrize("student", ["conv2d_plain", "conv2d_aliased", "conv2d_nested"])
def test_conv2d_in_any_disguise_fails_the_rule(graded, student):
    r = graded[student]
    assert "test_separable_only" in failed(r)
    assert "are not SeparableConv2D or DepthwiseConv2D" in failure(r, "test_separable_only")


def test_the_aliased_and_subclassed_conv2d_are_named(graded):
    text = failure(graded["conv2d_aliased"], "test_separable_only")
    assert "DepthwiseSeparable, a Conv2D" in text and "(Conv2D" in text


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
    ("weights_missing", "the saved run 'separable' was not submitted"),
    ("weights_other_arch", "does not fit the model the notebook builds"),
    ("forged_history", "the history claims a best validation accuracy of 0.9700"),
    ("too_many_epochs", "the history has 60 epochs"),
])
def test_runs_are_judged_by_their_weights(graded, student, message):
    r = graded[student]
    assert {"test_separable_run", "test_beats_base"} & failed(r)
    assert message in failure(r, "test_separable_run")
    assert not failed(r) - {"test_separable_run", "test_beats_base"}
