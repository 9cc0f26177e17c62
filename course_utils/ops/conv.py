r"""2-D convolution (cross-correlation, as in every deep-learning library), forward and backward.

Layout as in TensorFlow: inputs ``x`` are NHWC ``(N, H, W, C_in)``, weights
``w`` are ``(kh, kw, C_in / groups, C_out)``, the bias ``b`` is ``(C_out,)``.

Forward, for output pixel ``(n, y, x)`` and filter ``f`` of group ``g``::

    out[n, y, x, f] = b[f] + sum_{i, j, c} xp[n, y*s + i*d, x*s + j*d, g*C_g + c] * w[i, j, c, f]

where ``xp`` is the zero-padded input, ``s`` the stride, ``d`` the dilation
and ``C_g = C_in / groups``. Backward, with ``dout = dL/dout``:

* ``db[f]      = sum_{n, y, x} dout[n, y, x, f]``
* ``dw[i,j,c,f] = sum_{n, y, x} xp[n, y*s + i*d, x*s + j*d, c] * dout[n, y, x, f]``
  (a correlation of the input with ``dout``);
* ``dxp[n, y*s + i*d, x*s + j*d, c] += w[i, j, c, f] * dout[n, y, x, f]``
  (every output pixel sends its gradient back along the taps it read:
  a "full" convolution of ``dout`` with the 180°-rotated kernel).

Two implementations of the same maths:

* :func:`conv2d_forward_naive` / :func:`conv2d_backward_naive`: explicit
  loops, one output value at a time. Read these first.
* :func:`conv2d_forward` / :func:`conv2d_backward`: "serialisation" (im2col).
  Every receptive field is copied into one row of a matrix ``cols``, so the
  whole convolution is one matrix product ``cols @ W``; the backward pass is
  two more products plus :func:`col2im`, which adds the gradient rows back
  into the image with a loop over the ``kh * kw`` kernel taps only.

Both return ``(out, cache)`` with the same :class:`ConvCache`, so either
backward function accepts either forward's cache.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from numpy.typing import ArrayLike, NDArray

from course_utils.ops._validate import (
    PaddingSpec,
    WindowGeometry,
    check_rank,
    check_shape,
    float_dtype,
    window_geometry,
)

__all__ = [
    "ConvCache",
    "col2im",
    "conv2d_backward",
    "conv2d_backward_naive",
    "conv2d_forward",
    "conv2d_forward_naive",
    "im2col",
]


@dataclass(frozen=True)
class ConvCache:
    """What the backward pass needs from the forward pass.

    ``cols`` (the im2col matrix, ``(groups, N*Ho*Wo, kh*kw*C_in/groups)``) is
    kept by :func:`conv2d_forward` to save recomputing it; the naive forward
    leaves it ``None``.
    """

    x: NDArray  # (N, H, W, C_in)
    w: NDArray  # (kh, kw, C_in / groups, C_out)
    b: NDArray  # (C_out,)
    geometry: WindowGeometry
    groups: int
    cols: NDArray | None = None


# --------------------------------------------------------------------------- checks


def prepare_conv(
    x: ArrayLike,
    w: ArrayLike,
    b: ArrayLike | None,
    stride: int | Sequence[int],
    padding: PaddingSpec,
    dilation: int | Sequence[int],
    groups: int,
    where: str,
) -> tuple[NDArray, NDArray, NDArray, WindowGeometry]:
    """Validate the arguments of a convolution; return float arrays and geometry."""
    dtype = float_dtype(x, w, b)
    x = np.asarray(x, dtype=dtype)
    w = np.asarray(w, dtype=dtype)
    check_rank(x, 4, "x", "(N, H, W, C_in)", where)
    check_rank(w, 4, "w", "(kh, kw, C_in / groups, C_out)", where)
    if not isinstance(groups, (int, np.integer)) or groups < 1:
        raise ValueError(f"{where}: groups must be a positive int, got {groups!r}.")
    c_in, c_out = x.shape[3], w.shape[3]
    if c_in % groups or c_out % groups:
        raise ValueError(
            f"{where}: groups={groups} must divide both C_in={c_in} (x {x.shape}) "
            f"and C_out={c_out} (w {w.shape})."
        )
    if w.shape[2] != c_in // groups:
        raise ValueError(
            f"{where}: w has shape {w.shape} but x has shape {x.shape}: w's third axis "
            f"must be C_in / groups = {c_in} / {groups} = {c_in // groups}. "
            "Weights are (kh, kw, C_in / groups, C_out), inputs NHWC."
        )
    b = np.zeros(c_out, dtype) if b is None else np.asarray(b, dtype=dtype)
    if b.shape != (c_out,):
        raise ValueError(
            f"{where}: b must have shape (C_out,) = ({c_out},) to match w {w.shape}, got {b.shape}."
        )
    geometry = window_geometry(
        x.shape[1:3], w.shape[:2], stride, padding, dilation, where, what="kernel"
    )
    return x, w, b, geometry


def pad_hw(x: NDArray, pads: tuple[tuple[int, int], tuple[int, int]], value: float = 0.0) -> NDArray:
    """Pad the two spatial axes of an NHWC array with ``value``."""
    (top, bottom), (left, right) = pads
    if top == bottom == left == right == 0:
        return x
    n, h, w, c = x.shape
    xp = np.full((n, h + top + bottom, w + left + right, c), value, dtype=x.dtype)
    xp[:, top : top + h, left : left + w, :] = x
    return xp


def tap_slices(i: int, j: int, geometry: WindowGeometry) -> tuple[slice, slice]:
    """Rows and columns of the padded input read by kernel tap ``(i, j)``.

    Output pixel ``(y, x)`` reads padded pixel ``(y*s_h + i*d_h, x*s_w + j*d_w)``;
    over all output pixels that is one strided slice per axis.
    """
    (s_h, s_w), (d_h, d_w), (h_out, w_out) = geometry.stride, geometry.dilation, geometry.out_hw
    rows = slice(i * d_h, i * d_h + (h_out - 1) * s_h + 1, s_h)
    cols = slice(j * d_w, j * d_w + (w_out - 1) * s_w + 1, s_w)
    return rows, cols


# ------------------------------------------------------------------------ naive loops


def conv2d_forward_naive(
    x: ArrayLike,
    w: ArrayLike,
    b: ArrayLike | None,
    stride: int | Sequence[int] = 1,
    padding: PaddingSpec = 0,
    dilation: int | Sequence[int] = 1,
    groups: int = 1,
) -> tuple[NDArray, ConvCache]:
    """Convolution with explicit loops over images, output pixels and filters.

    Same arguments and result as :func:`conv2d_forward`, only much slower.
    """
    x, w, b, geo = prepare_conv(x, w, b, stride, padding, dilation, groups, "conv2d_forward_naive")
    xp = pad_hw(x, geo.pads)
    n_images, c_out = x.shape[0], w.shape[3]
    (s_h, s_w), (d_h, d_w), (h_out, w_out) = geo.stride, geo.dilation, geo.out_hw
    kh_eff, kw_eff = geo.effective_kernel
    c_group, f_group = w.shape[2], c_out // groups

    out = np.zeros((n_images, h_out, w_out, c_out), dtype=x.dtype)
    for n in range(n_images):
        for y in range(h_out):
            for x_ in range(w_out):
                # receptive field of output pixel (y, x_): kh x kw taps, d apart
                top, left = y * s_h, x_ * s_w
                patch = xp[n, top : top + kh_eff : d_h, left : left + kw_eff : d_w, :]  # (kh, kw, C_in)
                for f in range(c_out):
                    g = f // f_group  # the group of filter f sees only its channels
                    channels = slice(g * c_group, (g + 1) * c_group)
                    out[n, y, x_, f] = np.sum(patch[:, :, channels] * w[:, :, :, f]) + b[f]
    return out, ConvCache(x, w, b, geo, groups)


def conv2d_backward_naive(dout: ArrayLike, cache: ConvCache) -> tuple[NDArray, NDArray, NDArray]:
    """Backward pass with the same loops as :func:`conv2d_forward_naive`.

    Each output value ``out[n, y, x, f]`` was ``sum(patch * w[..., f]) + b[f]``,
    so it sends ``dout[n, y, x, f] * w[..., f]`` back to its patch, adds
    ``dout[n, y, x, f] * patch`` to ``dw[..., f]`` and ``dout[n, y, x, f]`` to ``db[f]``.
    Returns ``(dx, dw, db)`` shaped like ``(x, w, b)``.
    """
    x, w, geo, groups = cache.x, cache.w, cache.geometry, cache.groups
    n_images, c_out = x.shape[0], w.shape[3]
    (h_out, w_out) = geo.out_hw
    dout = np.asarray(dout, dtype=x.dtype)
    check_shape(dout, (n_images, h_out, w_out, c_out), "dout", "conv2d_backward_naive")
    xp = pad_hw(x, geo.pads)
    (s_h, s_w), (d_h, d_w) = geo.stride, geo.dilation
    kh_eff, kw_eff = geo.effective_kernel
    c_group, f_group = w.shape[2], c_out // groups

    dxp = np.zeros_like(xp)
    dw = np.zeros_like(w)
    db = np.zeros_like(cache.b)
    for n in range(n_images):
        for y in range(h_out):
            for x_ in range(w_out):
                top, left = y * s_h, x_ * s_w
                rows = slice(top, top + kh_eff, d_h)
                cols = slice(left, left + kw_eff, d_w)
                for f in range(c_out):
                    g = f // f_group
                    channels = slice(g * c_group, (g + 1) * c_group)
                    grad = dout[n, y, x_, f]
                    dxp[n, rows, cols, channels] += grad * w[:, :, :, f]
                    dw[:, :, :, f] += grad * xp[n, rows, cols, channels]
                    db[f] += grad
    (top, _), (left, _) = geo.pads
    dx = dxp[:, top : top + x.shape[1], left : left + x.shape[2], :]
    return dx, dw, db


# --------------------------------------------------------------- im2col / col2im


def _windows(xp: NDArray, geo: WindowGeometry) -> NDArray:
    """View of every receptive field: ``(N, Ho, Wo, C, kh, kw)``, no copy."""
    kh_eff, kw_eff = geo.effective_kernel
    (s_h, s_w), (d_h, d_w), (h_out, w_out) = geo.stride, geo.dilation, geo.out_hw
    windows = sliding_window_view(xp, (kh_eff, kw_eff), axis=(1, 2))
    return windows[:, : (h_out - 1) * s_h + 1 : s_h, : (w_out - 1) * s_w + 1 : s_w, :, ::d_h, ::d_w]


def grouped_im2col(xp: NDArray, geo: WindowGeometry, groups: int) -> NDArray:
    """Receptive fields as matrix rows, one matrix per group.

    Returns ``cols`` of shape ``(groups, N*Ho*Wo, kh*kw*C_g)``: row ``m`` of
    group ``g`` holds the ``kh x kw x C_g`` input values that output pixel ``m``
    reads, in the order of ``w[:, :, :, f].ravel()``.
    """
    windows = _windows(xp, geo)
    n, h_out, w_out, c, kh, kw = windows.shape
    c_group = c // groups
    windows = windows.reshape(n, h_out, w_out, groups, c_group, kh, kw)
    windows = windows.transpose(3, 0, 1, 2, 5, 6, 4)  # (g, N, Ho, Wo, kh, kw, C_g)
    return np.ascontiguousarray(windows).reshape(groups, n * h_out * w_out, kh * kw * c_group)


def grouped_col2im(
    dcols_t: NDArray, x_shape: tuple[int, ...], geo: WindowGeometry
) -> NDArray:
    """Adjoint of :func:`grouped_im2col`: add the rows back where they came from.

    ``dcols_t`` is the *transposed* column gradient, ``(groups, kh*kw*C_g, N*Ho*Wo)``.
    Working channels-first makes the inner loop run along image rows, which is
    several times faster than adding NHWC slices with only ``C`` values per pixel.
    Returns ``dx`` of shape ``x_shape`` (NHWC), the padding cropped off.
    """
    n, h, w, c = x_shape
    groups = dcols_t.shape[0]
    kh, kw = geo.kernel
    h_out, w_out = geo.out_hw
    h_pad, w_pad = geo.padded_hw((h, w))
    dcols = dcols_t.reshape(groups, kh, kw, c // groups, n, h_out, w_out)
    dxp = np.zeros((groups, c // groups, n, h_pad, w_pad), dtype=dcols_t.dtype)
    for i in range(kh):
        for j in range(kw):
            rows, cols = tap_slices(i, j, geo)
            dxp[:, :, :, rows, cols] += dcols[:, i, j]
    (top, _), (left, _) = geo.pads
    dx = dxp.reshape(c, n, h_pad, w_pad)[:, :, top : top + h, left : left + w]
    return np.ascontiguousarray(dx.transpose(1, 2, 3, 0))


def im2col(
    x: ArrayLike,
    kernel_size: int | Sequence[int],
    stride: int | Sequence[int] = 1,
    padding: PaddingSpec = 0,
    dilation: int | Sequence[int] = 1,
) -> NDArray:
    """The "serialisation" matrix: one row per output pixel, ``(N*Ho*Wo, kh*kw*C)``.

    ``im2col(x, (kh, kw), ...) @ w.reshape(-1, C_out)`` is the convolution
    (reshaped to ``(N*Ho*Wo, C_out)``).
    """
    x = np.asarray(x, dtype=float_dtype(x))
    check_rank(x, 4, "x", "(N, H, W, C)", "im2col")
    geo = window_geometry(x.shape[1:3], kernel_size, stride, padding, dilation, "im2col")
    return grouped_im2col(pad_hw(x, geo.pads), geo, groups=1)[0]


def col2im(
    cols: ArrayLike,
    x_shape: tuple[int, int, int, int],
    kernel_size: int | Sequence[int],
    stride: int | Sequence[int] = 1,
    padding: PaddingSpec = 0,
    dilation: int | Sequence[int] = 1,
) -> NDArray:
    """Adjoint of :func:`im2col`: sums each row back onto the pixels it was copied from."""
    cols = np.asarray(cols, dtype=float_dtype(cols))
    geo = window_geometry(tuple(x_shape[1:3]), kernel_size, stride, padding, dilation, "col2im")
    n, _, _, c = x_shape
    expected = (n * geo.out_hw[0] * geo.out_hw[1], geo.kernel[0] * geo.kernel[1] * c)
    check_shape(cols, expected, "cols", "col2im")
    return grouped_col2im(cols.T[None], tuple(x_shape), geo)


# ----------------------------------------------------------------- vectorised layer


def grouped_weights(w: NDArray, groups: int) -> NDArray:
    """``(kh, kw, C_g, C_out) -> (groups, kh*kw*C_g, C_out/groups)``: one matrix per group."""
    kh, kw, c_group, c_out = w.shape
    return w.reshape(kh * kw * c_group, groups, c_out // groups).transpose(1, 0, 2)


def grouped_dout(dout: NDArray, groups: int) -> NDArray:
    """``(N, Ho, Wo, C_out) -> (groups, N*Ho*Wo, C_out/groups)`` (a view)."""
    c_out = dout.shape[-1]
    return dout.reshape(-1, groups, c_out // groups).transpose(1, 0, 2)


def conv_input_grad(
    dout: NDArray, w: NDArray, x_shape: tuple[int, ...], geo: WindowGeometry, groups: int
) -> NDArray:
    """``dL/dx`` of a convolution: ``dcols = dout @ W^T``, then :func:`grouped_col2im`.

    This is also the *forward* pass of a transposed convolution.
    """
    dout_g = grouped_dout(dout, groups)  # (g, M, F_g)
    dcols_t = grouped_weights(w, groups) @ dout_g.transpose(0, 2, 1)  # (g, kh*kw*C_g, M)
    return grouped_col2im(dcols_t, x_shape, geo)


def conv_weight_grad(cols: NDArray, dout: NDArray, w_shape: tuple[int, ...], groups: int) -> NDArray:
    """``dL/dw = cols^T @ dout`` per group, reshaped to ``(kh, kw, C_g, C_out)``."""
    dw_g = cols.transpose(0, 2, 1) @ grouped_dout(dout, groups)  # (g, kh*kw*C_g, F_g)
    return dw_g.transpose(1, 0, 2).reshape(w_shape)


def conv2d_forward(
    x: ArrayLike,
    w: ArrayLike,
    b: ArrayLike | None,
    stride: int | Sequence[int] = 1,
    padding: PaddingSpec = 0,
    dilation: int | Sequence[int] = 1,
    groups: int = 1,
) -> tuple[NDArray, ConvCache]:
    """Vectorised convolution (im2col + one matrix product per group).

    Args:
        x: input ``(N, H, W, C_in)``.
        w: weights ``(kh, kw, C_in / groups, C_out)`` (TensorFlow layout).
        b: bias ``(C_out,)`` or ``None`` for no bias.
        stride: int or ``(s_h, s_w)``.
        padding: ``"valid"``, ``"same"`` (TensorFlow's rule), an int, ``(p_h, p_w)``
            or ``((top, bottom), (left, right))``.
        dilation: int or ``(d_h, d_w)``; taps ``d`` pixels apart.
        groups: split channels into ``groups`` independent convolutions.

    Returns:
        ``(out, cache)`` with ``out`` of shape ``(N, Ho, Wo, C_out)``.
    """
    x, w, b, geo = prepare_conv(x, w, b, stride, padding, dilation, groups, "conv2d_forward")
    n, c_out = x.shape[0], w.shape[3]
    h_out, w_out = geo.out_hw
    cols = grouped_im2col(pad_hw(x, geo.pads), geo, groups)  # (g, M, kh*kw*C_g)
    out = cols @ grouped_weights(w, groups)  # (g, M, C_out/g)
    out = out.transpose(1, 0, 2).reshape(n, h_out, w_out, c_out)  # groups side by side
    out += b
    return out, ConvCache(x, w, b, geo, groups, cols)


def conv2d_backward(dout: ArrayLike, cache: ConvCache) -> tuple[NDArray, NDArray, NDArray]:
    """Vectorised backward pass; returns ``(dx, dw, db)`` shaped like ``(x, w, b)``.

    ``db`` sums ``dout``; ``dw = cols^T @ dout``; ``dx = col2im(dout @ W^T)``.
    """
    x, w, geo, groups = cache.x, cache.w, cache.geometry, cache.groups
    dout = np.asarray(dout, dtype=x.dtype)
    check_shape(dout, (x.shape[0], *geo.out_hw, w.shape[3]), "dout", "conv2d_backward")
    cols = cache.cols if cache.cols is not None else grouped_im2col(pad_hw(x, geo.pads), geo, groups)
    db = np.einsum("nhwf->f", dout)
    dw = conv_weight_grad(cols, dout, w.shape, groups)
    dx = conv_input_grad(dout, w, x.shape, geo, groups)
    return dx, dw, db
