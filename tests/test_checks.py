"""The student-facing checks: right answers pass quietly, wrong ones explain without
giving the answer away, and odd objects are refused rather than believed."""

from __future__ import annotations

import types

import numpy as np
import pytest

from course_utils import checks
from course_utils.checks import CheckFailed, NotAttempted


class EqualsEverything:
    def __eq__(self, other):
        return True

    def __int__(self):
        return 17


class SneakyInt(int):
    def __eq__(self, other):
        return True

    __hash__ = int.__hash__


# ----------------------------------------------------------------------------- core
def test_check_equal_accepts_plain_and_numpy_numbers():
    for value in (4, 4.0, np.int64(4), np.float32(4.0), np.array(4)):
        checks.check_equal(value, 4, "n")
    checks.check_equal([1, (2, 2.5)], [1, (2, 2.5)], "nested")
    checks.check_equal({"a": 1}, {"a": 1.0}, "d")


@pytest.mark.parametrize("cheat", [EqualsEverything(), SneakyInt(3), True, "4", None])
def test_check_equal_refuses_objects_that_claim_equality(cheat):
    with pytest.raises(CheckFailed):
        checks.check_equal(cheat, 4, "n")


def test_failures_name_the_answer_and_hint_but_not_the_expected_value():
    with pytest.raises(CheckFailed) as info:
        checks.check_equal([1, 99], [1, 7], "sizes", hint="divide by the stride")
    text = str(info.value)
    assert text.startswith("[sizes[1]] 99 is not right.") and "Hint: divide by the stride" in text
    assert "7" not in text


def test_not_attempted():
    with pytest.raises(NotAttempted, match=r"\[x\] is not answered yet"):
        checks.check_equal(None, 1, "x")

    def todo(n, k, s=1, p=0, d=1):
        raise NotImplementedError()

    with pytest.raises(NotAttempted, match="is not implemented yet"):
        checks.check_output_size_fn(todo, [dict(n=5, k=3)])


def test_a_crashing_answer_is_reported_with_the_call():
    with pytest.raises(CheckFailed, match=r"conv_output_size\(n=5, k=3\) raised ZeroDivisionError"):
        checks.check_output_size_fn(lambda n, k, s=1, p=0, d=1: 1 / 0, [dict(n=5, k=3)])


@pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")  # np.matrix, on purpose
def test_check_array_and_shape():
    ref = np.arange(6.0).reshape(2, 3)
    assert checks.check_array(ref + 1e-12, ref, "a") < 1e-7
    with pytest.raises(CheckFailed, match=r"has shape \(3, 2\), expected \(2, 3\)"):
        checks.check_array(ref.T, ref, "a")
    with pytest.raises(CheckFailed, match="largest difference at index \\(1, 2\\)"):
        bad = ref.copy()
        bad[1, 2] = 50
        checks.check_array(bad, ref, "a")
    with pytest.raises(CheckFailed, match="NaN"):
        checks.check_array(np.full((2, 3), np.nan), ref, "a")
    with pytest.raises(CheckFailed, match="expected a numpy array, got list"):
        checks.check_shape([[1, 2, 3]], (1, 3), "a")
    with pytest.raises(CheckFailed, match="expected a numpy array, got matrix"):
        checks.check_shape(np.matrix(ref), (2, 3), "a")


def test_checks_return_none_so_nbgrader_never_reads_a_partial_score(capsys):
    assert checks.check_output_size_fn(lambda n, k, s=1, p=0, d=1: (n + 2 * p - d * (k - 1) - 1) // s + 1,
                                       [dict(n=5, k=3, s=2, p=1)]) is None
    assert capsys.readouterr().out == "[conv_output_size] correct: 1 case\n"


# ----------------------------------------------------------------------------- A1
def right_size(n, k, s=1, p=0, d=1):
    return (n + 2 * p - d * (k - 1) - 1) // s + 1


def test_size_hints_point_at_the_unusual_parameter():
    def no_dilation(n, k, s=1, p=0, d=1):
        return (n + 2 * p - k) // s + 1

    checks.check_output_size_fn(no_dilation, [dict(n=32, k=5, s=2, p=1)])
    with pytest.raises(CheckFailed, match="dilated kernel spans"):
        checks.check_output_size_fn(no_dilation, [dict(n=15, k=3, d=2)])


def test_transposed_sizes():
    checks.check_transposed_size_fn(lambda n, k, s=1, p=0, output_padding=0: (n - 1) * s + k - 2 * p + output_padding,
                                    [dict(n=2, k=3), dict(n=4, k=3, s=2, p=1, output_padding=1)])
    with pytest.raises(CheckFailed, match="output_padding adds"):
        checks.check_transposed_size_fn(lambda n, k, s=1, p=0, output_padding=0: (n - 1) * s + k - 2 * p,
                                        [dict(n=4, k=3, s=2, p=1, output_padding=1)])


def test_rf_table_and_sizes_by_hand():
    layers = ["conv3", "conv3", "pool2", "conv3"]
    checks.check_rf_table([(8, 1, 3, 1.0), (6, 1, 5, 2.0), (3, 2, 6, 2.5), (1, 2, 10, 4.5)], layers, 10)
    with pytest.raises(CheckFailed, match=r"(?s)\[rf_table\[3\] \(conv3\) rf\] 8 is not right.*jump \*before\*"):
        checks.check_rf_table([(8, 1, 3, 1.0), (6, 1, 5, 2.0), (3, 2, 6, 2.5), (1, 2, 8, 4.5)], layers, 10)
    with pytest.raises(CheckFailed, match="expected a list of 4 rows"):
        checks.check_rf_table([(8, 1, 3, 1.0)], layers, 10)
    checks.check_sizes([8, 6, 3, 1], layers, 10)
    with pytest.raises(CheckFailed, match="with stride s"):
        checks.check_sizes([8, 6, 6, 4], layers, 10)


def test_rf_step_against_the_table():
    def rf_step(previous, k, s=1, p=0, d=1):
        n, jump, rf, start = previous
        k_eff = d * (k - 1) + 1
        return right_size(n, k, s, p, d), jump * s, rf + (k_eff - 1) * jump, start + ((k_eff - 1) / 2 - p) * jump

    checks.check_rf_step_fn(rf_step, [(["conv3p1", "conv3d2p2", "pool2", "conv7s2p3"], 32)])

    def late_jump(previous, k, s=1, p=0, d=1):
        n, jump, rf, start = previous
        return right_size(n, k, s, p, d), jump * s, rf + (k - 1) * jump * s, start + ((k - 1) / 2 - p) * jump

    with pytest.raises(CheckFailed, match="returned rf = "):
        checks.check_rf_step_fn(late_jump, [(["conv3", "pool2", "conv3"], 10)])


def test_parameter_checks():
    checks.check_conv_params_fn(lambda k, c_in, c_out, bias=True: k * k * c_in * c_out + (c_out if bias else 0),
                                [dict(k=3, c_in=16, c_out=32, bias=False), dict(k=1, c_in=4, c_out=2)])
    checks.check_conv_params_fn(lambda k, c_in, c_out, bias=True: k * k * c_in + c_in * c_out + (c_out if bias else 0),
                                [dict(k=3, c_in=16, c_out=32, bias=False)], separable=True)
    layers = ["conv3-8", "bn", "pool2"]
    checks.check_param_counts([(224, 0), (16, 16), (0, 0)], layers, 16, 3)
    with pytest.raises(CheckFailed, match="moving mean and variance are not"):
        checks.check_param_counts([(224, 0), (32, 0), (0, 0)], layers, 16, 3)


# ----------------------------------------------------------------------------- A2
def test_a2_checks_accept_the_reference_layers_wrapped_as_a_student_would():
    from course_utils import ops

    def conv_forward(x, w, b, stride=1, pad=0):
        return ops.conv2d_forward_naive(x, w, b, stride=stride, padding=pad)

    with pytest.raises(CheckFailed, match="uses 'ops' from course_utils.ops"):
        checks.check_conv_forward(conv_forward, [dict(x=(1, 4, 4, 1), w=(2, 2, 1, 1), stride=1, pad=0)])


def test_numpy_only_follows_helper_functions():
    namespace: dict = {"sig": types.ModuleType("scipy.signal")}  # as if imported
    exec("import numpy as np\n"
         "def helper(x):\n    return sig.correlate(x, x)\n"
         "def forward(x):\n    return helper(x)\n"
         "def honest(x):\n    return np.sum(x)\n", namespace)
    checks.check_numpy_only(namespace["honest"], "honest")
    with pytest.raises(CheckFailed, match="uses 'sig' from scipy.signal"):
        checks.check_numpy_only(namespace["forward"], "forward")
