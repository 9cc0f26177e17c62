"""Output-size formulas of course_utils.arithmetic against what TensorFlow really does.

Every property test draws a random configuration, runs the TensorFlow op (or the
Keras layer) on a tensor of that size, and compares shapes; the padding tests
also compare values (padding by hand, then a "valid" op, equals the "same" op).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from course_utils import arithmetic as ar
from tests._hypothesis import examples

SETTINGS = settings(max_examples=examples(40), deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _rand(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype("float32")


# ----------------------------------------------------------------------------- course notes
@pytest.mark.parametrize("n, k, p, s, expected", [
    # the three worked lines of the course notes: n_out = (n_in + 2p - k)/s + 1
    (3, 3, 0, 1, 1),
    (3, 3, 1, 1, 3),
    (5, 3, 1, 2, 3),
])
def test_worked_examples_of_the_notes(n, k, p, s, expected):
    assert ar.conv_output_size(n, k, s=s, p=p) == expected


def test_walk_through_sizes():
    # 10x10 -> 8x8 -> 6x6, 2x2 max-pool -> 3x3, 3x3 conv -> 1x1 (seed 001)
    sizes = [10]
    sizes.append(ar.conv_output_size(sizes[-1], 3))
    sizes.append(ar.conv_output_size(sizes[-1], 3))
    sizes.append(ar.pool_output_size(sizes[-1], 2))
    sizes.append(ar.conv_output_size(sizes[-1], 3))
    assert sizes == [10, 8, 6, 3, 1]


def test_effective_kernel_of_dilated_kernels(tf):
    """The span TensorFlow's dilated convolution really covers: a unit impulse shows up in
    exactly that many outputs of a "valid" correlation with a kernel of ones."""
    width = 40
    for k in range(1, 6):
        for d in range(1, 5):
            x = np.zeros((1, 1, width, 1), "float32")
            x[0, 0, width // 2, 0] = 1
            y = tf.nn.conv2d(x, np.ones((1, k, 1, 1), "float32"), strides=1, padding="VALID", dilations=(1, d))
            touched = np.flatnonzero(y.numpy()[0, 0, :, 0])
            span = width - y.shape[2] + 1
            assert ar.effective_kernel(k, d) == span, (k, d)
            # the impulse reaches k outputs, d apart: the kernel's taps
            assert len(touched) == k and set(np.diff(touched)) <= {d}, (k, d, touched)


# ----------------------------------------------------------------------------- convolution
@SETTINGS
@given(n=st.integers(1, 40), k=st.integers(1, 7), s=st.integers(1, 4), d=st.integers(1, 4),
       padding=st.sampled_from(["same", "valid"]), seed=st.integers(0, 3))
def test_conv_output_size_matches_tensorflow(tf, n, k, s, d, padding, seed):
    m = n + seed  # non-square input: height n, width n + seed
    k_eff = ar.effective_kernel(k, d)
    assume(padding == "same" or k_eff <= n)
    x = tf.constant(_rand((1, n, m, 2)))
    if s > 1 and d > 1:
        # TensorFlow refuses stride and dilation together on CPU: use the inflated kernel,
        # which is what a dilated kernel is.
        w = np.zeros((k_eff, k_eff, 2, 3), "float32")
        w[::d, ::d] = _rand((k, k, 2, 3))
        y = tf.nn.conv2d(x, w, strides=s, padding=padding.upper())
    else:
        y = tf.nn.conv2d(x, _rand((k, k, 2, 3)), strides=s, padding=padding.upper(), dilations=d)
    assert y.shape[1] == ar.conv_output_size(n, k, s, padding, d)
    assert y.shape[2] == ar.conv_output_size(m, k, s, padding, d)


@SETTINGS
@given(n=st.integers(1, 30), k=st.integers(1, 6), s=st.integers(1, 3), p=st.integers(0, 3),
       p_right=st.integers(0, 3))
def test_explicit_padding_matches_tensorflow(tf, n, k, s, p, p_right):
    assume(n + 2 * p >= k and n + p + p_right >= k)
    x = tf.constant(_rand((1, n, n, 1)))
    y = tf.nn.conv2d(x, _rand((k, k, 1, 1)), strides=s, padding=[[0, 0], [p, p], [p, p_right], [0, 0]])
    assert y.shape[1] == ar.conv_output_size(n, k, s, p)
    assert y.shape[2] == ar.conv_output_size(n, k, s, (p, p_right))


@SETTINGS
@given(n=st.integers(1, 24), k=st.integers(1, 6), s=st.integers(1, 3), d=st.integers(1, 3))
def test_same_padding_is_what_tensorflow_applies(tf, n, k, s, d):
    """Padding by hand with same_padding(), then a 'valid' conv, equals the 'same' conv, values included."""
    assume(s == 1 or d == 1)
    x = tf.constant(_rand((1, n, n + 1, 2)))
    w = tf.constant(_rand((k, k, 2, 2), seed=1))
    same = tf.nn.conv2d(x, w, strides=s, padding="SAME", dilations=d)
    top, bottom = ar.same_padding(n, k, s, d)
    left, right = ar.same_padding(n + 1, k, s, d)
    padded = tf.pad(x, [[0, 0], [top, bottom], [left, right], [0, 0]])
    valid = tf.nn.conv2d(padded, w, strides=s, padding="VALID", dilations=d)
    np.testing.assert_allclose(valid.numpy(), same.numpy(), rtol=1e-5, atol=1e-5)
    assert ar.padding_pair(n, k, s, "same", d) == (top, bottom)


def test_same_padding_is_asymmetric_for_even_totals():
    # 4x4 kernel: 3 zeros, the extra one after; stride 2 on an even input: one zero, after
    assert ar.same_padding(7, 4) == (1, 2)
    assert ar.same_padding(8, 3, 2) == (0, 1)
    assert ar.same_padding(7, 3, 2) == (1, 1)


# ----------------------------------------------------------------------------- pooling
@SETTINGS
@given(n=st.integers(1, 30), k=st.integers(1, 5), s=st.one_of(st.none(), st.integers(1, 4)),
       padding=st.sampled_from(["same", "valid"]))
def test_pool_output_size_matches_tensorflow(tf, n, k, s, padding):
    assume(padding == "same" or k <= n)
    x = tf.constant(_rand((1, n, n, 1)))
    stride = k if s is None else s
    for op in (tf.nn.max_pool2d, tf.nn.avg_pool2d):
        y = op(x, ksize=k, strides=stride, padding=padding.upper())
        assert y.shape[1] == ar.pool_output_size(n, k, s, padding)


@SETTINGS
@given(n=st.integers(1, 20), k=st.integers(1, 5), s=st.integers(1, 3))
def test_same_max_pool_pads_like_same_conv(tf, n, k, s):
    """TensorFlow's 'same' max-pooling pads (with -inf) exactly as same_padding() says."""
    x = tf.constant(_rand((1, n, n, 1)))
    same = tf.nn.max_pool2d(x, k, s, "SAME")
    top, bottom = ar.same_padding(n, k, s)
    padded = tf.pad(x, [[0, 0], [top, bottom], [top, bottom], [0, 0]], constant_values=-np.inf)
    valid = tf.nn.max_pool2d(padded, k, s, "VALID")
    np.testing.assert_array_equal(valid.numpy(), same.numpy())


# ----------------------------------------------------------------------------- transposed convolution
@SETTINGS
@given(n=st.integers(1, 12), k=st.integers(1, 5), s=st.integers(1, 4), d=st.integers(1, 3),
       padding=st.sampled_from(["same", "valid"]), op=st.one_of(st.none(), st.integers(0, 3)))
def test_transposed_conv_output_size_matches_keras(keras, n, k, s, d, padding, op):
    assume(s == 1 or d == 1)  # Keras refuses both
    assume(op is None or op < s)
    layer = keras.layers.Conv2DTranspose(2, k, strides=s, padding=padding, output_padding=op, dilation_rate=d)
    try:
        y = layer(_rand((1, n, n + 1, 1)))
    except Exception:  # noqa: BLE001  (TensorFlow rejects a few 'same' + output_padding shapes)
        assume(False)
    assert y.shape[1] == ar.transposed_conv_output_size(n, k, s, padding, op, d)
    assert y.shape[2] == ar.transposed_conv_output_size(n + 1, k, s, padding, op, d)


@SETTINGS
@given(n=st.integers(1, 20), k=st.integers(1, 6), s=st.integers(1, 4), p=st.integers(0, 3),
       op=st.integers(0, 3))
def test_transposed_conv_inverts_the_shape_of_conv(n, k, s, p, op):
    """A transposed conv maps n to a length that the conv with the same k, s, p maps back to n."""
    assume(op < s)
    assume((n - 1) * s + k - 2 * p + op > 0)
    m = ar.transposed_conv_output_size(n, k, s, p, op)
    assume(m + 2 * p >= k)
    assert ar.conv_output_size(m, k, s, p) == n


@SETTINGS
@given(n=st.integers(2, 10), k=st.integers(1, 5), s=st.integers(1, 3), op=st.integers(0, 2))
def test_transposed_padding_matches_tensorflow_values(tf, n, k, s, op):
    """conv2d_transpose with 'same' = gradient of the conv padded by transposed_padding()."""
    assume(op < s)
    m = ar.transposed_conv_output_size(n, k, s, "same", op)
    assume(-(-m // s) == n)  # TensorFlow's own consistency requirement for 'same'
    x = tf.constant(_rand((1, n, n, 1)))
    w = tf.constant(_rand((k, k, 1, 1), seed=2))
    y = tf.nn.conv2d_transpose(x, w, [1, m, m, 1], strides=s, padding="SAME")
    top, bottom = ar.transposed_padding(m, k, s, "same")
    # the transposed conv is the adjoint of the 'same' conv: <T x, z> = <x, C z> for every z
    z = tf.constant(_rand((1, m, m, 1), seed=3))
    padded = tf.pad(z, [[0, 0], [top, bottom], [top, bottom], [0, 0]])
    cz = tf.nn.conv2d(padded, w, strides=s, padding="VALID")
    assert cz.shape[1] == n
    np.testing.assert_allclose(float(tf.reduce_sum(y * z)), float(tf.reduce_sum(x * cz)), rtol=1e-4, atol=1e-4)


# ----------------------------------------------------------------------------- Dumoulin & Visin, section 4
@SETTINGS
@given(n=st.integers(1, 20), k=st.integers(1, 6), s=st.integers(1, 4), p=st.integers(0, 3))
def test_transposed_output_padding_restores_the_input_length(n, k, s, p):
    """With a = transposed_output_padding, conv then transposed conv gives back n, for every n."""
    assume(n + 2 * p >= k)
    a = ar.transposed_output_padding(n, k, s, p)
    assert 0 <= a < s
    n_conv = ar.conv_output_size(n, k, s, p)
    assert ar.transposed_conv_output_size(n_conv, k, s, p, a) == n
    # and a is the only output_padding in [0, s) that does
    others = [b for b in range(s) if b != a and (n_conv - 1) * s + k - 2 * p + b > 0]
    assert all(ar.transposed_conv_output_size(n_conv, k, s, p, b) != n for b in others)


@SETTINGS
@given(n=st.integers(1, 6), k=st.integers(1, 5), s=st.integers(1, 3), p=st.integers(0, 2), a=st.integers(0, 2))
def test_transposed_as_conv_matches_keras_values(keras, tf, n, k, s, p, a):
    """The stride-1 convolution of relationship 14 over the stretched, padded input, with the
    kernel rotated by 180 degrees, equals Keras' Conv2DTranspose ('valid', output_padding=a)
    cropped by p on each side, in shape and values."""
    assume(a < s and p <= k - 1)
    assume((n - 1) * s + k - 2 * p + a > 0)
    x, w = _rand((1, n, n, 1)), _rand((k, k, 1, 1), seed=1)
    layer = keras.layers.Conv2DTranspose(1, k, strides=s, padding="valid", output_padding=a, use_bias=False)
    layer.build(x.shape)
    layer.set_weights([w])
    y = layer(x).numpy()
    y = y[:, p:y.shape[1] - p, p:y.shape[2] - p]
    stretched, (left, right) = ar.transposed_as_conv(n, k, s, p, a)
    grid = np.zeros((1, stretched, stretched, 1), "float32")
    grid[:, ::s, ::s] = x
    z = tf.nn.conv2d(grid, w[::-1, ::-1], strides=1,
                     padding=[[0, 0], [left, right], [left, right], [0, 0]]).numpy()
    assert z.shape[1] == ar.conv_output_size(stretched, k, 1, (left, right))
    assert z.shape[1] == ar.transposed_conv_output_size(n, k, s, p, a)
    np.testing.assert_allclose(z, y, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("i, k, s, p", [
    # the direct convolutions whose transposes Dumoulin & Visin draw (relationships 8-14)
    (4, 3, 1, 0), (5, 4, 1, 2), (5, 3, 1, 1), (5, 3, 1, 2), (5, 3, 2, 0), (5, 3, 2, 1), (6, 3, 2, 1),
])
def test_dumoulin_transposed_examples_go_back_to_the_input_size(i, k, s, p):
    a = ar.transposed_output_padding(i, k, s, p)
    stretched, pair = ar.transposed_as_conv(ar.conv_output_size(i, k, s, p), k, s, p, a)
    assert ar.conv_output_size(stretched, k, 1, pair) == i


def test_transposed_as_conv_refuses_impossible_arguments():
    with pytest.raises(ValueError, match="negative padding"):
        ar.transposed_as_conv(3, 3, p=3)
    with pytest.raises(ValueError, match="output_padding"):
        ar.transposed_as_conv(3, 3, s=2, a=2)
    with pytest.raises(ValueError, match="explicit padding"):
        ar.transposed_output_padding(5, 3, 2, "same")


# ----------------------------------------------------------------------------- errors
@pytest.mark.parametrize("call, words", [
    (lambda: ar.conv_output_size(2, 3), ["kernel 3", "length 2", "empty"]),
    (lambda: ar.conv_output_size(4, 3, d=2), ["dilation 2", "spans 5"]),
    (lambda: ar.conv_output_size(10, 3, s=0), ["stride", "0"]),
    (lambda: ar.conv_output_size(10, 3, s=-1), ["stride", "-1"]),
    (lambda: ar.conv_output_size(0, 3), ["input_size", "0"]),
    (lambda: ar.conv_output_size(10, 0), ["kernel", "0"]),
    (lambda: ar.conv_output_size(10, 3, p=-1), ["negative", "-1"]),
    (lambda: ar.conv_output_size(10, 3, p="full"), ["'full'", "same", "valid"]),
    (lambda: ar.conv_output_size(10, 3, p=(1, 2, 3)), ["pair"]),
    (lambda: ar.conv_output_size(10.0, 3), ["input_size", "10.0"]),
    (lambda: ar.pool_output_size(1, 2), ["kernel 2", "length 1"]),
    (lambda: ar.transposed_conv_output_size(4, 3, s=2, output_padding=2), ["output_padding=2", "stride (2)"]),
    (lambda: ar.transposed_conv_output_size(1, 1, s=1, p=1), ["output length -1", "padding"]),
    (lambda: ar.transposed_conv_output_size(4, 3, output_padding=-1), ["output_padding", "-1"]),
])
def test_impossible_configurations_raise_clear_errors(call, words):
    with pytest.raises(ValueError) as info:
        call()
    for word in words:
        assert word in str(info.value)


def test_unknown_input_length():
    assert ar.padding_pair(None, 3, 1, "same") == (1, 1)
    assert ar.padding_pair(None, 4, 1, "same") == (1, 2)
    assert ar.padding_pair(None, 3, 2, "same") is None  # depends on n
    assert ar.padding_pair(None, 3, 2, "valid") == (0, 0)
