r"""Max and average pooling, forward and backward, like Keras ``MaxPooling2D`` / ``AveragePooling2D``.

Inputs are NHWC. ``pool_size`` and ``stride`` are ints or pairs; ``stride``
defaults to ``pool_size`` (non-overlapping windows). ``padding`` is
``"valid"`` or ``"same"`` (TensorFlow's rule: output ``ceil(n / s)``).

Both layers loop over the ``ph * pw`` positions *inside* the window (4 for
2x2 pooling), each time handling every window of the batch at once with one
strided slice, so they are fast without any index arithmetic per pixel.

Max pooling::

    out[n, y, x, c] = max_{i, j} xp[n, y*s + i, x*s + j, c]

The max is a switch: its gradient is 1 for the winning input and 0 for the
others, so the backward pass routes ``dout`` to the arg-max of each window
(ties go to the first maximum in row-major order, like ``np.argmax``).
Padded positions hold ``-inf`` and can never win.

Average pooling divides by the number of *real* (non-padding) pixels in the
window, as TensorFlow does with ``"same"`` padding; the backward pass spreads
``dout / count`` evenly over the window.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray

from course_utils.ops._validate import (
    WindowGeometry,
    check_rank,
    check_shape,
    float_dtype,
    window_geometry,
)
from course_utils.ops.conv import pad_hw, tap_slices

__all__ = [
    "PoolCache",
    "avg_pool_backward",
    "avg_pool_forward",
    "max_pool_backward",
    "max_pool_forward",
]


@dataclass(frozen=True)
class PoolCache:
    """``argmax`` (max pooling): index ``i * pw + j`` of the winner in each window.
    ``count`` (average pooling): real pixels per window, ``(Ho, Wo, 1)``."""

    x_shape: tuple[int, int, int, int]
    geometry: WindowGeometry
    argmax: NDArray | None = None  # (N, Ho, Wo, C)
    count: NDArray | None = None  # (Ho, Wo, 1)


def _prepare(
    x: ArrayLike,
    pool_size: int | Sequence[int],
    stride: int | Sequence[int] | None,
    padding: str,
    where: str,
) -> tuple[NDArray, WindowGeometry]:
    x = np.asarray(x, dtype=float_dtype(x))
    check_rank(x, 4, "x", "(N, H, W, C)", where)
    if not isinstance(padding, str) or padding.lower() not in ("valid", "same"):
        raise ValueError(f"{where}: padding must be 'valid' or 'same' (as in Keras), got {padding!r}.")
    stride = pool_size if stride is None else stride
    geo = window_geometry(x.shape[1:3], pool_size, stride, padding.lower(), 1, where, what="pool window")
    return x, geo


def _taps(geo: WindowGeometry):
    """``(k, rows, cols)`` for every position ``k = i * pw + j`` inside the window."""
    ph, pw = geo.kernel
    for i in range(ph):
        for j in range(pw):
            yield i * pw + j, *tap_slices(i, j, geo)


def _crop(dxp: NDArray, x_shape: tuple[int, ...], geo: WindowGeometry) -> NDArray:
    (top, _), (left, _) = geo.pads
    return dxp[:, top : top + x_shape[1], left : left + x_shape[2], :]


def max_pool_forward(
    x: ArrayLike,
    pool_size: int | Sequence[int] = 2,
    stride: int | Sequence[int] | None = None,
    padding: str = "valid",
) -> tuple[NDArray, PoolCache]:
    """Max pooling; returns ``(out, cache)`` with ``out`` of shape ``(N, Ho, Wo, C)``."""
    x, geo = _prepare(x, pool_size, stride, padding, "max_pool_forward")
    xp = pad_hw(x, geo.pads, value=-np.inf)
    taps = _taps(geo)
    _, rows, cols = next(taps)
    out = xp[:, rows, cols, :].copy()  # running maximum, starting with position 0
    # index of the winning position (smallest integer type that holds all of them)
    argmax = np.zeros(out.shape, dtype=np.min_scalar_type(geo.kernel[0] * geo.kernel[1] - 1))
    wins = np.empty(out.shape, dtype=bool)
    for k, rows, cols in taps:
        candidate = xp[:, rows, cols, :]  # the k-th pixel of every window
        np.greater(candidate, out, out=wins)  # strict: ties keep the earlier position
        np.maximum(out, candidate, out=out)
        # k grows from tap to tap, so this sets argmax to k exactly where position k wins
        # (a branch-free form of argmax[wins] = k, several times faster)
        np.maximum(argmax, wins * argmax.dtype.type(k), out=argmax)
    return out, PoolCache(x.shape, geo, argmax=argmax)


def max_pool_backward(dout: ArrayLike, cache: PoolCache) -> NDArray:
    """Routes each ``dout`` value to the input that won its window; returns ``dx``."""
    geo, argmax = cache.geometry, cache.argmax
    dout = np.asarray(dout, dtype=float_dtype(dout))
    check_shape(dout, argmax.shape, "dout", "max_pool_backward")
    n, h, w, c = cache.x_shape
    dxp = np.zeros((n, *geo.padded_hw((h, w)), c), dtype=dout.dtype)
    routed = np.empty_like(dout)
    for k, rows, cols in _taps(geo):
        np.multiply(dout, argmax == k, out=routed)  # dout where position k won, else 0
        dxp[:, rows, cols, :] += routed  # windows may overlap: add
    return _crop(dxp, cache.x_shape, geo)


def avg_pool_forward(
    x: ArrayLike,
    pool_size: int | Sequence[int] = 2,
    stride: int | Sequence[int] | None = None,
    padding: str = "valid",
) -> tuple[NDArray, PoolCache]:
    """Average pooling (padding excluded from the average); returns ``(out, cache)``."""
    x, geo = _prepare(x, pool_size, stride, padding, "avg_pool_forward")
    xp = pad_hw(x, geo.pads)
    inside = pad_hw(np.ones((1, x.shape[1], x.shape[2], 1), dtype=x.dtype), geo.pads)
    total = np.zeros((x.shape[0], *geo.out_hw, x.shape[3]), dtype=x.dtype)
    count = np.zeros((*geo.out_hw, 1), dtype=x.dtype)
    for _, rows, cols in _taps(geo):
        total += xp[:, rows, cols, :]
        count += inside[0, rows, cols, :]
    return total / count, PoolCache(x.shape, geo, count=count)


def avg_pool_backward(dout: ArrayLike, cache: PoolCache) -> NDArray:
    """Every input of a window receives ``dout / count``; returns ``dx``."""
    geo = cache.geometry
    n, h, w, c = cache.x_shape
    dout = np.asarray(dout, dtype=float_dtype(dout))
    check_shape(dout, (n, *geo.out_hw, c), "dout", "avg_pool_backward")
    share = dout / cache.count
    dxp = np.zeros((n, *geo.padded_hw((h, w)), c), dtype=dout.dtype)
    for _, rows, cols in _taps(geo):
        dxp[:, rows, cols, :] += share
    return _crop(dxp, cache.x_shape, geo)
