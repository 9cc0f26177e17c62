r"""Dilated convolution: the kernel "inflated" with zeros, and its backward pass done right and wrong.

A dilated kernel with dilation ``d`` places its taps ``d`` pixels apart, so a
3x3 kernel with ``d = 2`` covers 5x5 pixels with 9 weights. Tap ``(i, j)`` of
output pixel ``(y, x)`` reads the padded input at::

    (y*s + i*d,  x*s + j*d)

Forward: :func:`course_utils.ops.conv2d_forward` with ``dilation=d`` (or, the
same thing, an ordinary convolution with :func:`dilate_kernel`'s zero-filled kernel).

Backward, tap by tap (``P_ij`` = the input pixels that tap ``(i, j)`` read,
one strided slice, shaped ``(N, Ho, Wo, C_in)``)::

    dw[i, j]  = P_ij^T @ dout                 (C_in, C_out)
    dP_ij    += dout @ w[i, j]^T             every output pixel sends its gradient
                                              back to the pixel that tap (i, j) read

:func:`dilated_conv2d_backward` does exactly this. :func:`dilated_conv2d_backward_broken`
is the same code with one realistic mistake, kept for the lesson of
notebook 07 (section 10): it is a backward pass copied from an ordinary convolution.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from numpy.typing import ArrayLike, NDArray

from course_utils.ops._validate import as_pair, check_shape
from course_utils.ops.conv import ConvCache, pad_hw, tap_slices

__all__ = ["dilate_kernel", "dilated_conv2d_backward", "dilated_conv2d_backward_broken"]


def dilate_kernel(w: ArrayLike, dilation: int | tuple[int, int]) -> NDArray:
    """Insert ``d - 1`` zeros between the taps: ``(kh, kw, ...) -> ((kh-1)*d_h+1, (kw-1)*d_w+1, ...)``."""
    w = np.asarray(w)
    d_h, d_w = as_pair(dilation, "dilation", "dilate_kernel")
    kh, kw = w.shape[:2]
    inflated = np.zeros(((kh - 1) * d_h + 1, (kw - 1) * d_w + 1, *w.shape[2:]), dtype=w.dtype)
    inflated[::d_h, ::d_w] = w
    return inflated


def _backward_tap_by_tap(dout: ArrayLike, cache: ConvCache, *, tap_spacing: tuple[int, int], where: str):
    """The loop shared by the correct and the broken version (``groups`` must be 1)."""
    x, w, geo = cache.x, cache.w, cache.geometry
    if cache.groups != 1:
        raise ValueError(f"{where}: only groups=1 is supported, the cache has groups={cache.groups}.")
    n, h_out, w_out, c_out = x.shape[0], *geo.out_hw, w.shape[3]
    dout = np.asarray(dout, dtype=x.dtype)
    check_shape(dout, (n, h_out, w_out, c_out), "dout", where)
    taps = dataclasses.replace(geo, dilation=tap_spacing)  # where tap (i, j) is looked for

    xp = pad_hw(x, geo.pads)
    dxp = np.zeros_like(xp)
    dw = np.empty_like(w)
    dout_rows = dout.reshape(-1, c_out)  # (N*Ho*Wo, C_out)
    for i in range(w.shape[0]):
        for j in range(w.shape[1]):
            rows, cols = tap_slices(i, j, taps)
            patch = xp[:, rows, cols, :]  # (N, Ho, Wo, C_in): what tap (i, j) read
            dw[i, j] = patch.reshape(-1, x.shape[3]).T @ dout_rows
            dxp[:, rows, cols, :] += (dout_rows @ w[i, j].T).reshape(patch.shape)
    (top, _), (left, _) = geo.pads
    dx = dxp[:, top : top + x.shape[1], left : left + x.shape[2], :]
    return dx, dw, dout_rows.sum(axis=0)


def dilated_conv2d_backward(dout: ArrayLike, cache: ConvCache) -> tuple[NDArray, NDArray, NDArray]:
    """Correct backward pass of a (dilated, strided, padded) convolution, tap by tap.

    Takes the cache of :func:`course_utils.ops.conv2d_forward` and returns
    ``(dx, dw, db)``, equal to :func:`course_utils.ops.conv2d_backward`.
    """
    return _backward_tap_by_tap(
        dout, cache, tap_spacing=cache.geometry.dilation, where="dilated_conv2d_backward"
    )


def dilated_conv2d_backward_broken(dout: ArrayLike, cache: ConvCache) -> tuple[NDArray, NDArray, NDArray]:
    """A WRONG backward pass for dilated convolution, kept for the lesson (do not use).

    What is wrong: it was copied from the backward pass of an ordinary
    convolution and forgets the zero gaps of the dilated kernel. Tap ``(i, j)``
    read the input pixel ``(y*s + i*d, x*s + j*d)`` in the forward pass, but
    here it is looked for at ``(y*s + i, x*s + j)``, as if ``d`` were 1:

    * ``dw[i, j]`` correlates ``dout`` with the wrong input pixels;
    * ``dx`` sends the gradient of every output pixel to the top-left
      ``kh x kw`` block of its receptive field instead of to the ``kh x kw``
      pixels, ``d`` apart, that it actually read.

    Only ``db`` is right. Shapes are right too, and for ``d = 1`` the result
    is correct, which is how such a bug survives tests that only try ``d = 1``.
    A gradient check with ``d > 1`` exposes it at once; training with it still
    "works" somewhat (the blog post retold in notebook 03 reached 75 % instead
    of 77 %), because the wrong gradients are still correlated with the right ones.
    """
    return _backward_tap_by_tap(dout, cache, tap_spacing=(1, 1), where="dilated_conv2d_backward_broken")
