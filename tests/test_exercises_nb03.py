"""The exercises of notebook 03 accept the solutions and give hints (never the answer) otherwise."""

from __future__ import annotations

import numpy as np
import pytest

from course_utils.exercises import Exercise, nb03

EXERCISES = [v for v in vars(nb03).values() if isinstance(v, Exercise)]


def test_solutions_pass():
    assert nb03.span.check(lambda k, d: k + (k - 1) * (d - 1), quiet=True)
    assert nb03.stack_rf.check(31, quiet=True)
    assert nb03.module_weights.check(lambda c: 64 * c * c, quiet=True)
    assert nb03.gridding.check({"A", "C", "E"}, quiet=True)
    assert nb03.gridding.check(["a", "c", "e"], quiet=True)
    assert nb03.mean_iou.check(_mean_iou_by_hand, quiet=True)


@pytest.mark.parametrize("exercise", EXERCISES, ids=lambda e: e.key)
def test_placeholders_are_not_attempted(exercise):
    assert len(EXERCISES) == 5
    assert "not attempted" in exercise.check(None, quiet=True).message


def _mean_iou_by_hand(truth, predicted, num_classes):
    """The solution of the notebook, written without the package."""
    ious = []
    for c in range(num_classes):
        a, b = predicted == c, truth == c
        union = (a | b).sum()
        if union:
            ious.append((a & b).sum() / union)
    return float(np.mean(ious))


def _dice(truth, predicted, num_classes):
    return float(np.mean([((predicted == c) & (truth == c)).sum() / ((predicted == c).sum() + (truth == c).sum())
                          for c in range(num_classes) if ((predicted == c) | (truth == c)).any()]))


def _absent_as_zero(truth, predicted, num_classes):
    return float(np.mean([((predicted == c) & (truth == c)).sum() / max(((predicted == c) | (truth == c)).sum(), 1)
                          for c in range(num_classes)]))


def _per_image(truth, predicted, num_classes):
    return float(np.mean([_mean_iou_by_hand(t, p, num_classes) for t, p in zip(truth, predicted)]))


def test_mean_iou_exercise_agrees_with_an_independent_count():
    # a 2x2 case by hand: truth [[0, 0], [1, 1]], prediction [[0, 1], [1, 1]]:
    # class 0: A = 1 pixel, B = 2, A and B = 1, union 2 -> 1/2; class 1: A = 3, B = 2, both 2, union 3 -> 2/3
    truth, predicted = np.array([[[0, 0], [1, 1]]]), np.array([[[0, 1], [1, 1]]])
    assert _mean_iou_by_hand(truth, predicted, 3) == pytest.approx((1 / 2 + 2 / 3) / 2)  # class 2: absent, left out
    assert not nb03.mean_iou.check(lambda t, p, c: 0.5, quiet=True)


MISTAKES = [
    (nb03.mean_iou, lambda t, p, c: float(np.mean(t == p)), "pixel accuracy", ()),
    (nb03.mean_iou, _dice, "counted once", ()),
    (nb03.mean_iou, _absent_as_zero, "leave it out", ()),
    (nb03.mean_iou, _per_image, "image by image", ()),
    (nb03.mean_iou, lambda t, p, c: [0.5], "one number", ()),
    (nb03.span, lambda k, d: k * d, "gaps", ()),
    (nb03.span, lambda k, d: 0, "ordinary", ()),
    (nb03.stack_rf, 9, "plain", ("31",)),
    (nb03.stack_rf, 3 + 5 + 9 + 17, "spans", ("31",)),
    (nb03.stack_rf, (31, 31), "one number", ()),
    (nb03.module_weights, lambda c: 64 * c * c + 8 * c, "biases", ("64",)),
    (nb03.module_weights, lambda c: 72 * c * c, "eighth", ("64",)),
    (nb03.gridding, {"A", "B", "C", "E"}, "holes", ()),
    (nb03.gridding, {"A", "C"}, "missed 1", ()),
    (nb03.gridding, {"Z"}, "not among", ()),
    (nb03.gridding, 3, "set of letters", ()),
]


@pytest.mark.parametrize("exercise,answer,hint,forbidden", MISTAKES)
def test_typical_mistakes_get_specific_hints(exercise, answer, hint, forbidden):
    result = exercise.check(answer, quiet=True)
    assert not result and hint in result.message
    assert not any(text in result.message for text in forbidden)
