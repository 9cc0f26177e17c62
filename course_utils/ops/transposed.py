r"""Transposed convolution ("deconvolution"), forward and backward, like Keras ``Conv2DTranspose``.

A convolution is a linear map ``x -> A x``. Its transpose ``y -> A^T y`` maps
the *output* shape back to the *input* shape: it is the backward pass of the
convolution with respect to its input. That is literally how it is computed
here (:func:`~course_utils.ops.conv.conv_input_grad`), and how TensorFlow does it.

As a scatter: every input pixel ``x[n, y, x, :]`` adds a copy of the kernel,
weighted by its value, to the output window at ``(y*s, x*s)``; overlapping
copies add up (the cause of checkerboard artifacts when ``k`` is not a
multiple of ``s``). Equivalently: insert ``s - 1`` zeros between input pixels,
pad, and run an ordinary convolution with the 180°-rotated kernel.

Kernel layout as in Keras: ``w`` is ``(kh, kw, C_out, C_in)`` (the in/out axes
are swapped with respect to ``Conv2D``, because ``w`` is the kernel of the
convolution being transposed, which maps ``C_out`` channels to ``C_in``).

Output size (Keras rules, :func:`course_utils.arithmetic.transposed_conv_output_size`),
for ``k_eff = (k - 1) * d + 1``:

* ``"valid"``: ``(n - 1) * s + k_eff + output_padding``, with
  ``output_padding`` defaulting to ``max(k_eff, s) - k_eff``;
* ``"same"``: ``n * s``, or ``(n - 1) * s + k_eff % 2 + output_padding`` when
  ``output_padding`` is given;
* an int ``p`` (PyTorch's ``ConvTranspose2d``): ``(n - 1) * s - 2p + k_eff + output_padding``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray

from course_utils.arithmetic import transposed_conv_output_size
from course_utils.ops._validate import (
    Pair,
    WindowGeometry,
    as_pair,
    check_rank,
    check_shape,
    float_dtype,
    window_geometry,
)
from course_utils.ops.conv import (
    conv_input_grad,
    conv_weight_grad,
    grouped_im2col,
    grouped_weights,
    pad_hw,
)

__all__ = [
    "TransposedConvCache",
    "conv2d_transpose_backward",
    "conv2d_transpose_forward",
]


@dataclass(frozen=True)
class TransposedConvCache:
    """``geometry`` describes the convolution being transposed (output -> input)."""

    x: NDArray  # (N, H, W, C_in)
    w: NDArray  # (kh, kw, C_out, C_in)
    geometry: WindowGeometry
    out_shape: tuple[int, int, int, int]


def _geometry(
    x_shape: tuple[int, ...],
    w_shape: tuple[int, ...],
    stride: int | Sequence[int],
    padding: str | int,
    output_padding: int | Sequence[int] | None,
    dilation: int | Sequence[int],
) -> tuple[WindowGeometry, Pair]:
    """Output size, and the geometry of the convolution that maps it back to ``x``."""
    where = "conv2d_transpose_forward"
    stride_hw = as_pair(stride, "stride", where)
    dilation_hw = as_pair(dilation, "dilation", where)
    if isinstance(padding, str):
        padding = padding.lower()
    elif isinstance(padding, (int, np.integer)) and padding >= 0:
        padding = int(padding)
    if padding not in ("valid", "same") and not isinstance(padding, int):
        raise ValueError(f"{where}: padding must be 'valid', 'same' or an int >= 0, got {padding!r}.")
    pad_hw_ = None if output_padding is None else as_pair(output_padding, "output_padding", where, minimum=0)
    if pad_hw_ is not None and any(p >= s for p, s in zip(pad_hw_, stride_hw)):
        raise ValueError(
            f"{where}: output_padding {pad_hw_} must be smaller than the stride {stride_hw}."
        )
    try:
        out_hw = tuple(
            transposed_conv_output_size(
                x_shape[1 + a], w_shape[a], stride_hw[a], padding,
                None if pad_hw_ is None else pad_hw_[a], dilation_hw[a],
            )
            for a in (0, 1)
        )
    except ValueError as error:
        raise ValueError(f"{where}: x {x_shape}, kernel {w_shape[:2]}: {error}") from None
    # The convolution being transposed maps an out_hw image back to x's size.
    geo = window_geometry(out_hw, w_shape[:2], stride_hw, padding, dilation_hw, where)
    if geo.out_hw != tuple(x_shape[1:3]):
        raise ValueError(
            f"{where}: output_padding={output_padding!r} gives an output of {out_hw}, but a "
            f"convolution of that size with padding {padding!r} returns {geo.out_hw}, not x's "
            f"{tuple(x_shape[1:3])}. Use output_padding=None or a value consistent with the stride."
        )
    return geo, out_hw  # type: ignore[return-value]


def conv2d_transpose_forward(
    x: ArrayLike,
    w: ArrayLike,
    b: ArrayLike | None,
    stride: int | Sequence[int] = 1,
    padding: str | int = "valid",
    output_padding: int | Sequence[int] | None = None,
    dilation: int | Sequence[int] = 1,
) -> tuple[NDArray, TransposedConvCache]:
    """Transposed convolution of ``x (N, H, W, C_in)`` with ``w (kh, kw, C_out, C_in)``.

    Returns ``(out, cache)``, ``out`` of shape ``(N, H_out, W_out, C_out)``; see
    the module docstring for the output size. Matches ``keras.layers.Conv2DTranspose``.
    """
    where = "conv2d_transpose_forward"
    dtype = float_dtype(x, w, b)
    x, w = np.asarray(x, dtype=dtype), np.asarray(w, dtype=dtype)
    check_rank(x, 4, "x", "(N, H, W, C_in)", where)
    check_rank(w, 4, "w", "(kh, kw, C_out, C_in) (Keras' Conv2DTranspose layout)", where)
    if w.shape[3] != x.shape[3]:
        raise ValueError(
            f"{where}: w has shape {w.shape} but x has shape {x.shape}: w's LAST axis must be "
            f"C_in = {x.shape[3]} (Conv2DTranspose kernels are (kh, kw, C_out, C_in))."
        )
    c_out = w.shape[2]
    b = np.zeros(c_out, dtype) if b is None else np.asarray(b, dtype=dtype)
    if b.shape != (c_out,):
        raise ValueError(f"{where}: b must have shape (C_out,) = ({c_out},), got {b.shape}.")
    geo, out_hw = _geometry(x.shape, w.shape, stride, padding, output_padding, dilation)
    out_shape = (x.shape[0], out_hw[0], out_hw[1], c_out)
    # x plays the role of dL/d(conv output); the result is dL/d(conv input).
    out = conv_input_grad(x, w, out_shape, geo, groups=1)
    out += b
    return out, TransposedConvCache(x, w, geo, out_shape)


def conv2d_transpose_backward(
    dout: ArrayLike, cache: TransposedConvCache
) -> tuple[NDArray, NDArray, NDArray]:
    """Returns ``(dx, dw, db)``.

    The transpose of ``A^T`` is ``A``: ``dx`` is the ordinary convolution of
    ``dout`` with ``w``, and ``dw`` is the convolution's weight gradient with
    the roles swapped (input ``dout``, upstream gradient ``x``).
    """
    x, w, geo = cache.x, cache.w, cache.geometry
    dout = np.asarray(dout, dtype=x.dtype)
    check_shape(dout, cache.out_shape, "dout", "conv2d_transpose_backward")
    cols = grouped_im2col(pad_hw(dout, geo.pads), geo, groups=1)  # (1, N*H*W, kh*kw*C_out)
    dx = (cols @ grouped_weights(w, 1))[0].reshape(x.shape)
    dw = conv_weight_grad(cols, x, w.shape, groups=1)
    db = np.einsum("nhwc->c", dout)
    return dx, dw, db
