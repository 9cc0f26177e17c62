"""TensorFlow references for the tests of ``course_utils.ops``, and tests of the references.

TensorFlow's CPU kernels compute forward convolutions with any dilation and
groups, but refuse their *gradients* ("dilation rates larger than 1" and
"grouped convolutions" are unsupported in Conv2DBackpropInput on CPU). The
gradient references are therefore built from ops TensorFlow can differentiate,
with the same maths:

* a dilated kernel is an ordinary kernel with zeros inserted between the taps
  (built with ``tf.einsum`` against 0/1 placement matrices, so the tape sees it);
* a grouped convolution is the concatenation of one convolution per group.

The tests at the bottom check that these composites equal TensorFlow's own
forward ops, so the references rest on TensorFlow, not on the code under test.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests._hypothesis import examples

FLOAT32_TOL = 1e-5  # TensorFlow vs ours, float32
NUMERIC_TOL = 1e-7  # analytic vs centred differences, float64


def tf_padding(padding):
    """Our padding argument in TensorFlow's form ('SAME', 'VALID' or explicit NHWC pairs)."""
    if isinstance(padding, str):
        return padding.upper()
    if isinstance(padding, int):
        padding = ((padding, padding), (padding, padding))
    elif isinstance(padding[0], int):
        padding = ((padding[0],) * 2, (padding[1],) * 2)
    return [[0, 0], list(padding[0]), list(padding[1]), [0, 0]]


def _placement(k: int, d: int) -> np.ndarray:
    """0/1 matrix ``(k_eff, k)`` putting tap ``i`` at row ``i * d``."""
    matrix = np.zeros(((k - 1) * d + 1, k), dtype=np.float32)
    matrix[np.arange(k) * d, np.arange(k)] = 1
    return matrix


def tf_dilate_kernel(tf, w, dilation):
    """Zero-inserted kernel ``(k_eff_h, k_eff_w, ...)``, differentiable by the tape."""
    d_h, d_w = (dilation, dilation) if isinstance(dilation, int) else dilation
    place_h = tf.constant(_placement(w.shape[0], d_h), dtype=w.dtype)
    place_w = tf.constant(_placement(w.shape[1], d_w), dtype=w.dtype)
    return tf.einsum("ai,bj,ijcf->abcf", place_h, place_w, w)


def tf_conv2d(tf, x, w, stride=1, padding=0, dilation=1, groups=1):
    """``tf.nn.conv2d`` written so that ``GradientTape`` works on CPU for any dilation/groups."""
    kernel = tf_dilate_kernel(tf, w, dilation)
    parts_x = tf.split(x, groups, axis=3)
    parts_w = tf.split(kernel, groups, axis=3)
    outs = [tf.nn.conv2d(xg, wg, stride, tf_padding(padding)) for xg, wg in zip(parts_x, parts_w)]
    return tf.concat(outs, axis=3)


def tf_value_and_grads(tf, fn, inputs, dout):
    """``fn(*inputs)`` and the gradients of ``sum(fn * dout)`` w.r.t. every input, as numpy."""
    tensors = [tf.constant(v) for v in inputs]
    with tf.GradientTape() as tape:
        tape.watch(tensors)
        out = fn(*tensors)
    grads = tape.gradient(out, tensors, output_gradients=tf.constant(dout, dtype=out.dtype))
    return out.numpy(), [g.numpy() for g in grads]


def assert_close(ours, reference, tol, what="", floor=1.0):
    """``max|ours - reference| / max(max|ours|, max|reference|, floor) < tol``.

    That is :func:`course_utils.ops.rel_error`, except that the scale never drops
    below ``floor``. The test data are O(1), so every result entry is a sum of O(1)
    terms and float32 rounding is relative to those terms: an entry whose terms
    happen to cancel (a bias gradient of 0.001 summed from a dozen O(1) values,
    say) is right to about 1e-7 in absolute terms, not relative to its own size.
    """
    a, b = np.asarray(ours, np.float64), np.asarray(reference, np.float64)
    assert a.shape == b.shape, f"{what}: shape {a.shape} != {b.shape}"
    scale = max(np.max(np.abs(a), initial=0.0), np.max(np.abs(b), initial=0.0), floor)
    error = float(np.max(np.abs(a - b), initial=0.0)) / scale
    assert error < tol, f"{what}: relative error {error:.2e} >= {tol:g} (scale {scale:.3g})"


# ------------------------------------------------------------- tests of the references


@settings(max_examples=examples(15), deadline=None)
@given(
    data=st.data(),
    groups=st.sampled_from([1, 2]),
    stride=st.integers(1, 3),
    dilation=st.integers(1, 3),
    padding=st.sampled_from(["valid", "same", 1, ((0, 2), (1, 0))]),
)
def test_composite_conv_reference_equals_tensorflow_forward(tf, data, groups, stride, dilation, padding):
    """tf_conv2d (zero-inserted kernel, split groups) == tf.nn.conv2d with dilations and groups."""
    rng = np.random.default_rng(data.draw(st.integers(0, 2**16)))
    k = data.draw(st.integers(1, 3))
    x = rng.standard_normal((2, 9, 8, 2 * groups)).astype(np.float32)
    w = rng.standard_normal((k, k, 2, 2 * groups)).astype(np.float32)
    ours = tf_conv2d(tf, x, w, stride, padding, dilation, groups).numpy()
    native = tf.nn.conv2d(x, w, stride, tf_padding(padding), dilations=dilation).numpy()
    assert_close(ours, native, FLOAT32_TOL, "composite vs tf.nn.conv2d")


def test_dilated_kernel_reference_puts_taps_apart(tf):
    w = tf.reshape(tf.range(1.0, 5.0), (2, 2, 1, 1))
    inflated = tf_dilate_kernel(tf, w, 3).numpy()[:, :, 0, 0]
    assert inflated.shape == (4, 4)
    assert inflated[0, 0] == 1 and inflated[0, 3] == 2 and inflated[3, 0] == 3 and inflated[3, 3] == 4
    assert np.count_nonzero(inflated) == 4


@pytest.mark.parametrize("padding", ["same", 2, (1, 0), ((0, 1), (2, 0))])
def test_tf_padding_matches_explicit_padding(tf, padding):
    x = np.arange(2 * 5 * 6 * 1, dtype=np.float32).reshape(2, 5, 6, 1)
    w = np.ones((3, 3, 1, 1), np.float32)
    out = tf.nn.conv2d(x, w, 1, tf_padding(padding)).numpy()
    if padding == "same":
        assert out.shape == (2, 5, 6, 1)
    else:
        pads = tf_padding(padding)
        padded = np.pad(x, pads)
        assert_close(out, tf.nn.conv2d(padded, w, 1, "VALID").numpy(), 1e-6)
