"""The predict-then-check and find-the-bug exercises: one per notebook at least, and each notebook
ends with what to remember."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import numpy as np
import pytest

from course_utils.exercises import Exercise
from course_utils.exercises import nb01, nb02, nb03, nb04, nb05, nb06, nb07, nb08

NOTEBOOKS = sorted(Path(__file__).resolve().parents[1].joinpath("notebooks").glob("0*_*.py"))


# ----------------------------------------------------------------------------- the repaired functions
def output_size(n, k, s=1, p=0):
    return (n + 2 * p - k) // s + 1


def receptive_field(layers):
    r, j = 1, 1
    for k, s in layers:
        r = r + (k - 1) * j
        j = j * s
    return r


def transposed_size(n, k, s=1, p=0):
    return (n - 1) * s + k - 2 * p


def separable_params(c_in, c_out, k):
    return k * k * c_in + c_in * c_out


def batchnorm(x, gamma, beta, eps=1e-3):
    mean = x.mean(axis=(0, 1, 2))
    var = x.var(axis=(0, 1, 2))
    return gamma * (x - mean) / np.sqrt(var + eps) + beta


def window_backward(window, g):
    window = np.asarray(window, dtype=float)
    out = np.zeros_like(window)
    out[np.unravel_index(np.argmax(window), window.shape)] = g
    return out


def iou(y_true, y_pred, c):
    true, pred = np.asarray(y_true) == c, np.asarray(y_pred) == c
    return (true & pred).sum() / (true | pred).sum()


CASES = [
    (nb01.fix_output_size, output_size, nb01.buggy_output_size, "padding surrounds"),
    (nb02.fix_receptive_field, receptive_field, nb02.buggy_receptive_field, "Which jump"),
    (nb04.fix_transposed_size, transposed_size, nb04.buggy_transposed_size, "last input pixel"),
    (nb05.fix_separable_params, separable_params, nb05.buggy_separable_params, "one per what"),
    (nb06.fix_batchnorm, batchnorm, nb06.buggy_batchnorm, "every position"),
    (nb07.fix_window_backward, window_backward, nb07.buggy_window_backward, "compare with g"),
    (nb08.fix_iou, iou, nb08.buggy_iou, "|A| + |B|"),
]


@pytest.mark.parametrize("exercise, fixed, buggy, hint", CASES, ids=[c[0].key for c in CASES])
def test_find_the_bug_accepts_the_fix_and_explains_the_bug(exercise, fixed, buggy, hint):
    assert exercise.style == "find-the-bug"
    assert exercise.check(fixed, quiet=True)
    result = exercise.check(buggy, quiet=True)
    assert not result and "buggy result" in result.message and hint in result.message
    assert not exercise.check(lambda *args: 0, quiet=True)
    assert "not attempted" in exercise.check(None, quiet=True).message


def test_the_bugs_are_bugs():
    # each buggy function gives a wrong result on the case its exercise names
    assert nb01.buggy_output_size(5, 3, 2, 1) != output_size(5, 3, 2, 1)
    assert nb02.buggy_receptive_field([(3, 2), (3, 1)]) != receptive_field([(3, 2), (3, 1)])
    assert nb02.buggy_receptive_field([(3, 1)] * 3) == receptive_field([(3, 1)] * 3)
    assert nb04.buggy_transposed_size(2, 2, 2) == 6 and transposed_size(2, 2, 2) == 4
    assert nb05.buggy_separable_params(32, 32, 3) == separable_params(32, 32, 3)
    assert nb05.buggy_separable_params(16, 32, 3) != separable_params(16, 32, 3) == 656
    tie = np.array([[4., 4.], [1., 2.]])
    assert nb07.buggy_window_backward(tie, 1.0).sum() == 2 and window_backward(tie, 1.0).sum() == 1
    same = np.arange(16).reshape(4, 4) % 3
    assert nb08.buggy_iou(same, same, 1) == 0.5 and iou(same, same, 1) == 1


def test_near_misses_get_their_own_hint():
    one_short = nb01.fix_output_size.check(lambda n, k, s=1, p=0: (n + 2 * p - k) // s, quiet=True)
    assert "one short" in one_short.message
    unbiased = nb06.fix_batchnorm.check(
        lambda x, g, b, eps=1e-3: g * (x - x.mean((0, 1, 2))) / np.sqrt(x.var((0, 1, 2), ddof=1) + eps) + b, quiet=True)
    assert "biased" in unbiased.message
    last_tie = nb07.fix_window_backward.check(
        lambda w, g: np.where(np.arange(w.size).reshape(w.shape) == w.size - 1 - np.argmax(w.ravel()[::-1]), g, 0.0),
        quiet=True)
    assert "first maximum" in last_tie.message


def test_predict_which_layers_the_broken_backprop_gets_right():
    ex = nb07.broken_right_layers
    assert ex.style == "predict"
    # the notebook's table shows it: the d = 1 layers above the last dilated one (ctx6, d = 16)
    assert ex.check({"ctx7", "ctx8"}, quiet=True)
    every_d1 = ex.check({"front_end", "ctx1", "ctx2", "ctx7", "ctx8"}, quiet=True)
    assert not every_d1 and "Follow the gradient" in every_d1.message
    assert "before the backward pass meets" in ex.check({"ctx8"}, quiet=True).message
    assert "not layers" in ex.check({"ctx9"}, quiet=True).message


def test_broken_right_layers_agree_with_the_numpy_network():
    """The prediction's answer is what the broken backprop really gives (kernel gradients vs the correct one)."""
    from course_utils import numpy_net, ops

    net = numpy_net.NumpyContextNet((12, 12, 1), 3, channels=2, init="random_normal", seed=0)
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((4, 12, 12, 1)), rng.integers(0, 3, 4)
    _, right = net.loss_and_grads(x, y, ops.dilated_conv2d_backward)
    _, broken = net.loss_and_grads(x, y, ops.dilated_conv2d_backward_broken)
    agree = {name for name, _ in net.conv_layers if np.allclose(right[name][0], broken[name][0], rtol=1e-10, atol=1e-12)}
    assert agree == {"ctx7", "ctx8"}
    assert nb07.broken_right_layers.check(agree, quiet=True)


# ----------------------------------------------------------------------------- every notebook
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_every_notebook_has_a_predict_or_find_the_bug_exercise_it_checks(path):
    module = importlib.import_module(f"course_utils.exercises.nb{path.name[:2]}")
    active = [name for name in module.__all__ if isinstance(getattr(module, name), Exercise)
              and getattr(module, name).style in ("predict", "find-the-bug")]
    assert active, f"{module.__name__} has no predict-then-check or find-the-bug exercise"
    source = path.read_text()
    for name in active:
        assert f"nb{path.name[:2]}.{name}.check(answer)" in source, f"{path.name} never checks {name}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_every_notebook_ends_with_what_to_remember(path):
    lines = path.read_text().rstrip().splitlines()
    headings = [i for i, line in enumerate(lines) if line.startswith("# ## ")]
    assert lines[headings[-1]] == "# ## What to remember", f"{path.name} ends with {lines[headings[-1]]!r}"
    tail = lines[headings[-1] + 1:]
    assert not any(line.startswith("# %%") for line in tail), f"{path.name}: a cell after what to remember"
    bullets = [line for line in tail if line.startswith("# * ")]
    assert 3 <= len(bullets) <= 5, f"{path.name}: {len(bullets)} points to remember"


def test_average_pool_gradient_exercise():
    ex = nb07.avgpool_gradient
    assert ex.check(np.kron(nb07.POOL_UPSTREAM, np.ones((2, 2))) / 4, quiet=True)
    undivided = ex.check(np.kron(nb07.POOL_UPSTREAM, np.ones((2, 2))), quiet=True)
    assert not undivided and "mean" in undivided.message
    from course_utils import ops

    _, cache = ops.max_pool_forward(nb07.POOL_INPUT[None, :, :, None], 2)
    routed = ops.max_pool_backward(nb07.POOL_UPSTREAM[None, :, :, None], cache)[0, :, :, 0]
    assert "max pooling" in ex.check(routed, quiet=True).message
    assert "4, 4" in ex.check(np.zeros((2, 2)), quiet=True).message


# ----------------------------------------------------------------------------- pooling's home
_POOLING_FORWARD = re.compile(r"MaxPooling2D|AveragePooling2D|GlobalAveragePooling2D|GlobalMaxPooling2D|"
                              r"max_pool_forward|avg_pool_forward|max_pool2d|avg_pool2d|[\"'](?:max|avg)?pool\d|"
                              r"[\"']gap[\"']")
_POOLING_BACKWARD = re.compile(r"max_pool_backward|avg_pool_backward")


def _code_and_headings(path):
    code, headings = [], []
    for cell in re.split(r"^# %%", path.read_text(), flags=re.M)[1:]:
        kind, _, body = cell.partition("\n")
        (headings if "[markdown]" in kind else code).append(body)
    return "\n".join(code), "\n".join(headings)


def test_pooling_is_taught_before_any_notebook_uses_it():
    """The first notebook whose code pools teaches pooling (max, average, global average) in a section
    of its own; the first that back-propagates through pooling teaches both backward passes."""
    sources = {p.name: _code_and_headings(p) for p in NOTEBOOKS}
    first_forward = next(name for name, (code, _) in sources.items() if _POOLING_FORWARD.search(code))
    first_backward = next(name for name, (code, _) in sources.items() if _POOLING_BACKWARD.search(code))
    forward_md, backward_md = sources[first_forward][1], sources[first_backward][1]
    assert re.search(r"^# #+ .*Pooling", forward_md, flags=re.M | re.I), first_forward
    assert all(word in forward_md for word in ("max pooling", "average pooling", "Global average pooling"))
    assert re.search(r"^# #+ .*max-pooling", backward_md, flags=re.M | re.I), first_backward
    assert re.search(r"^# #+ .*average pooling", backward_md, flags=re.M | re.I), first_backward
    assert first_forward <= first_backward
