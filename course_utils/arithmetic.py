"""Convolution arithmetic: output sizes and the padding TensorFlow applies.

All functions work on ONE spatial axis (a length ``n``); apply them to the
height and the width separately for non-square inputs or kernels.

Notation (as in the course notes and Dumoulin & Visin, "A guide to convolution
arithmetic for deep learning"):

``n``  input length, ``k`` kernel size, ``s`` stride, ``p`` padding,
``d``  dilation. A dilated kernel covers ``k_eff = d*(k-1) + 1`` input pixels.

Padding ``p`` may be

* an ``int``: that many zeros on *both* sides (the textbook ``p``);
* a pair ``(left, right)``: explicit, possibly asymmetric padding;
* ``"valid"``: no padding (Keras' default);
* ``"same"``: what TensorFlow / Keras do for ``padding="same"``. The output
  length is ``ceil(n / s)`` and TensorFlow pads
  ``total = max((ceil(n/s) - 1)*s + k_eff - n, 0)`` zeros, ``total // 2`` on the
  left (top) and the rest on the right (bottom). The padding is therefore
  asymmetric whenever ``total`` is odd, e.g. for even kernels or for a stride-2
  layer on an even input (see :func:`same_padding`).

Every function raises a ``ValueError`` that names the offending numbers when a
configuration is impossible (non-positive sizes or strides, negative padding,
an output that would be empty, ...).
"""

from __future__ import annotations

from typing import Union

#: A padding argument: ``int``, ``(left, right)``, ``"same"`` or ``"valid"``.
Padding = Union[int, tuple[int, int], str]

__all__ = [
    "Padding",
    "conv_output_size",
    "effective_kernel",
    "padding_pair",
    "pool_output_size",
    "same_padding",
    "transposed_as_conv",
    "transposed_conv_output_size",
    "transposed_output_padding",
    "transposed_padding",
]


# ----------------------------------------------------------------------------- checks
def _check_positive(**values: int) -> None:
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if value <= 0:
            hint = " (a stride of 0 would never move the kernel)" if name == "stride" else ""
            raise ValueError(f"{name} must be a positive integer, got {value}{hint}")


def _check_padding(p: Padding) -> None:
    if isinstance(p, str):
        if p.lower() not in ("same", "valid"):
            raise ValueError(f"padding must be an int, a (left, right) pair, 'same' or 'valid'; got {p!r}")
        return
    values = p if isinstance(p, tuple) else (p,)
    if isinstance(p, tuple) and len(p) != 2:
        raise ValueError(f"explicit padding must be a (left, right) pair, got {p!r}")
    for v in values:
        if isinstance(v, bool) or not isinstance(v, int):
            raise ValueError(f"padding must be an int, a (left, right) pair, 'same' or 'valid'; got {p!r}")
        if v < 0:
            raise ValueError(f"padding cannot be negative, got {p!r}")


# ----------------------------------------------------------------------------- kernels and padding
def effective_kernel(k: int, d: int = 1) -> int:
    """Number of input pixels a ``k``-tap kernel with dilation ``d`` spans: ``d*(k-1) + 1``.

    >>> effective_kernel(3, 2)   # a 3x3 kernel with dilation 2 covers 5x5 pixels
    5
    """
    _check_positive(kernel=k, dilation=d)
    return d * (k - 1) + 1


def same_padding(n: int, k: int, s: int = 1, d: int = 1) -> tuple[int, int]:
    """``(left, right)`` zeros TensorFlow adds for ``padding="same"``.

    ``total = max((ceil(n/s) - 1)*s + k_eff - n, 0)``, ``left = total // 2``,
    ``right = total - left``: the extra zero of an odd total goes to the right
    (bottom). This is the padding of ``tf.nn.conv2d``, ``tf.nn.max_pool2d``,
    ``tf.nn.avg_pool2d`` and of the Keras layers built on them.

    >>> same_padding(8, 3, 2)    # 8 -> 4 outputs needs one zero, on the right
    (0, 1)
    >>> same_padding(7, 4)       # even kernel: 3 zeros, 1 left and 2 right
    (1, 2)
    """
    _check_positive(input_size=n, kernel=k, stride=s, dilation=d)
    k_eff = effective_kernel(k, d)
    n_out = -(-n // s)  # ceil(n / s)
    total = max((n_out - 1) * s + k_eff - n, 0)
    return total // 2, total - total // 2


def padding_pair(n: int | None, k: int, s: int = 1, p: Padding = 0, d: int = 1) -> tuple[int, int] | None:
    """The ``(left, right)`` padding a layer really applies along one axis.

    ``None`` when it cannot be known: ``"same"`` with a stride > 1 on an input of
    unknown length ``n`` (the split then depends on ``n``).
    """
    _check_padding(p)
    if isinstance(p, str):
        if p.lower() == "valid":
            return (0, 0)
        if n is None:
            if s != 1:
                return None
            total = effective_kernel(k, d) - 1  # stride 1: independent of n
            return total // 2, total - total // 2
        return same_padding(n, k, s, d)
    if isinstance(p, tuple):
        return (p[0], p[1])
    return (p, p)


# ----------------------------------------------------------------------------- output sizes
def conv_output_size(n: int, k: int, s: int = 1, p: Padding = 0, d: int = 1) -> int:
    """Output length of a convolution: ``floor((n + p_left + p_right - k_eff) / s) + 1``.

    With ``p="same"`` this is ``ceil(n / s)`` and with ``p="valid"``
    ``floor((n - k_eff) / s) + 1``, as in TensorFlow.

    >>> conv_output_size(10, 3)             # 10x10 -> 8x8 (course notes)
    8
    >>> conv_output_size(5, 3, s=2, p=1)    # (5 + 2*1 - 3)/2 + 1
    3
    >>> conv_output_size(7, 3, d=2)         # dilation 2: the kernel covers 5 pixels
    3
    """
    _check_positive(input_size=n, kernel=k, stride=s, dilation=d)
    _check_padding(p)
    k_eff = effective_kernel(k, d)
    if isinstance(p, str) and p.lower() == "same":
        return -(-n // s)
    left, right = padding_pair(n, k, s, p, d)  # type: ignore[misc]
    padded = n + left + right
    if padded < k_eff:
        what = f"kernel {k}" if d == 1 else f"kernel {k} with dilation {d} (it spans {k_eff} pixels)"
        raise ValueError(
            f"the {what} does not fit in an input of length {n} padded to {padded}: "
            f"the output would be empty. Use a smaller kernel or dilation, more padding, or 'same'."
        )
    return (padded - k_eff) // s + 1


def pool_output_size(n: int, k: int, s: int | None = None, p: Padding = 0) -> int:
    """Output length of a pooling layer (stride defaults to the pool size, as in Keras).

    >>> pool_output_size(6, 2)   # 6x6 -> 3x3 with 2x2 max-pooling: floor((6 - 2)/2) + 1
    3
    """
    return conv_output_size(n, k, k if s is None else s, p, 1)


def transposed_padding(n_out: int, k: int, s: int = 1, p: Padding = 0, d: int = 1) -> tuple[int, int]:
    """``(left, right)`` padding of the convolution that a transposed convolution inverts.

    A transposed convolution with output length ``n_out`` is the gradient of a
    convolution from ``n_out`` pixels to its input; its output pixel ``o``
    receives input pixel ``i`` through kernel tap ``t`` when
    ``o = i*s - left + t*d``. TensorFlow's ``conv2d_transpose`` uses for
    ``"same"`` exactly the padding :func:`same_padding` gives for a convolution
    of length ``n_out`` (``"valid"``: none; an int: that many on both sides).
    """
    _check_padding(p)
    if isinstance(p, str):
        return same_padding(n_out, k, s, d) if p.lower() == "same" else (0, 0)
    return padding_pair(n_out, k, s, p, d)  # type: ignore[return-value]


def transposed_conv_output_size(
    n: int,
    k: int,
    s: int = 1,
    p: Padding = 0,
    output_padding: int | None = None,
    d: int = 1,
) -> int:
    """Output length of a transposed ("de-") convolution.

    * int ``p`` (the textbook / PyTorch convention):
      ``(n - 1)*s + k_eff - 2p + output_padding``;
    * ``"valid"``: ``(n - 1)*s + k_eff + output_padding``; when ``output_padding``
      is ``None`` Keras uses ``(n - 1)*s + max(k_eff, s)``;
    * ``"same"``: ``n*s`` when ``output_padding`` is ``None``, otherwise
      ``(n - 1)*s + k_eff % 2 + output_padding`` (Keras' rule).

    ``output_padding`` picks one of the ``s`` input lengths that a stride-``s``
    convolution maps to the same ``n``; it must be smaller than the stride (or
    than the dilation, as in PyTorch).

    >>> transposed_conv_output_size(2, 3, s=1, p="valid")   # 2x2 -> 4x4 (notebook 04)
    4
    >>> transposed_conv_output_size(3, 3, s=2, p=1, output_padding=1)
    6
    """
    _check_positive(input_size=n, kernel=k, stride=s, dilation=d)
    _check_padding(p)
    if output_padding is not None:
        if isinstance(output_padding, bool) or not isinstance(output_padding, int) or output_padding < 0:
            raise ValueError(f"output_padding must be a non-negative integer or None, got {output_padding!r}")
        if output_padding >= max(s, d):
            raise ValueError(
                f"output_padding={output_padding} must be smaller than the stride ({s})"
                + (f" or the dilation ({d})" if d > 1 else "")
                + ": larger values would add rows that no input pixel reaches."
            )
    k_eff = effective_kernel(k, d)
    if isinstance(p, str):
        if p.lower() == "valid":
            extra = max(k_eff, s) - k_eff if output_padding is None else output_padding
            return (n - 1) * s + k_eff + extra
        if output_padding is None:
            return n * s
        size = (n - 1) * s + k_eff % 2 + output_padding
    else:
        left, right = padding_pair(None, k, s, p, d)  # type: ignore[misc]
        size = (n - 1) * s + k_eff - left - right + (output_padding or 0)
    if size <= 0:
        raise ValueError(
            f"a transposed convolution with kernel {k} (spanning {k_eff}), stride {s} and padding {p!r} "
            f"on an input of length {n} would have output length {size}; reduce the padding."
        )
    return size


# ----------------------------------------------------------------------------- Dumoulin & Visin, section 4
def transposed_output_padding(n: int, k: int, s: int = 1, p: int | tuple[int, int] = 0, d: int = 1) -> int:
    """Dumoulin & Visin's ``a = (n + 2p - k_eff) mod s``: the ``output_padding`` that takes a
    transposed convolution back to the length ``n`` of the convolution it transposes.

    A stride-``s`` convolution maps ``s`` consecutive input lengths to the same output
    length (the floor of :func:`conv_output_size`); ``a`` says which one ``n`` was.

    >>> transposed_output_padding(5, 3, s=2, p=1)   # (5 + 2 - 3) mod 2
    0
    >>> transposed_output_padding(6, 3, s=2, p=1)   # (6 + 2 - 3) mod 2
    1
    """
    if isinstance(p, str):
        raise ValueError("transposed_output_padding needs explicit padding (an int or a pair), not a string")
    left, right = padding_pair(n, k, s, p, d)  # type: ignore[misc]
    conv_output_size(n, k, s, (left, right), d)  # raises when the convolution itself is impossible
    return (n + left + right - effective_kernel(k, d)) % s


def transposed_as_conv(n: int, k: int, s: int = 1, p: int = 0, a: int = 0) -> tuple[int, tuple[int, int]]:
    """The direct convolution (kernel ``k``, stride 1) that a transposed convolution equals.

    Dumoulin & Visin, relationship 14: the transposed convolution of an input of length
    ``n`` with kernel ``k``, stride ``s``, padding ``p`` and ``a = output_padding`` is a
    stride-1 convolution with the same kernel size over the input *stretched* by ``s - 1``
    zeros between neighbours (``n + (s-1)(n-1)`` pixels), padded by ``k - p - 1`` zeros
    on the left and ``k - p - 1 + a`` on the right. Returns ``(stretched length,
    (left, right))``; :func:`conv_output_size` of those gives the transposed output length.

    >>> transposed_as_conv(2, 3)                   # relationship 8: p' = k - 1 on both sides
    (2, (2, 2))
    >>> transposed_as_conv(3, 3, s=2, p=1, a=1)    # relationship 14
    (5, (1, 2))
    """
    _check_positive(input_size=n, kernel=k, stride=s)
    _check_padding(p)
    if not isinstance(p, int) or isinstance(p, bool):
        raise ValueError(f"transposed_as_conv needs an int padding, got {p!r}")
    if p > k - 1:
        raise ValueError(f"padding {p} is larger than k - 1 = {k - 1}: the equivalent convolution "
                         "would need negative padding")
    if isinstance(a, bool) or not isinstance(a, int) or not 0 <= a < s:
        raise ValueError(f"a (output_padding) must be an integer in [0, s) = [0, {s}), got {a!r}")
    pad = k - p - 1
    return n + (s - 1) * (n - 1), (pad, pad + a)
