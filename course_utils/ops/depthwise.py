r"""Depthwise and depthwise-separable convolution, built on :mod:`~course_utils.ops.conv`.

Depthwise (``tf.nn.depthwise_conv2d``): every input channel ``c`` is convolved
with its own ``multiplier`` filters and never mixed with other channels::

    out[n, y, x, c*m + q] = sum_{i, j} xp[n, y*s + i*d, x*s + j*d, c] * w[i, j, c, q]

with weights ``w`` of shape ``(kh, kw, C_in, multiplier)``. That is exactly a
grouped convolution with ``groups = C_in`` and weights reshaped to
``(kh, kw, 1, C_in * multiplier)``, which is how it is computed here.

Depthwise-separable (``tf.nn.separable_conv2d``, MobileNet): a depthwise
convolution (spatial filtering) followed by a pointwise 1x1 convolution with
weights ``(1, 1, C_in * multiplier, C_out)`` (channel mixing). Parameters:
``kh*kw*C_in*m + C_in*m*C_out`` instead of ``kh*kw*C_in*C_out``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray

from course_utils.ops._validate import PaddingSpec, check_rank, float_dtype
from course_utils.ops.conv import ConvCache, conv2d_backward, conv2d_forward

__all__ = [
    "SeparableCache",
    "depthwise_conv2d_backward",
    "depthwise_conv2d_forward",
    "separable_conv2d_backward",
    "separable_conv2d_forward",
]


def depthwise_conv2d_forward(
    x: ArrayLike,
    w: ArrayLike,
    b: ArrayLike | None = None,
    stride: int | Sequence[int] = 1,
    padding: PaddingSpec = 0,
    dilation: int | Sequence[int] = 1,
) -> tuple[NDArray, ConvCache]:
    """Depthwise convolution; ``w`` is ``(kh, kw, C_in, multiplier)``.

    Returns ``(out, cache)``; ``out`` is ``(N, Ho, Wo, C_in * multiplier)``.
    ``b`` (optional, ``(C_in * multiplier,)``) is the bias of Keras' ``DepthwiseConv2D``.
    """
    dtype = float_dtype(x, w, b)
    x, w = np.asarray(x, dtype=dtype), np.asarray(w, dtype=dtype)
    check_rank(x, 4, "x", "(N, H, W, C_in)", "depthwise_conv2d_forward")
    check_rank(w, 4, "w", "(kh, kw, C_in, multiplier)", "depthwise_conv2d_forward")
    kh, kw, c_in, multiplier = w.shape
    if c_in != x.shape[3]:
        raise ValueError(
            f"depthwise_conv2d_forward: w has shape {w.shape} but x has shape {x.shape}: "
            f"w's third axis must be C_in = {x.shape[3]} (weights are (kh, kw, C_in, multiplier))."
        )
    # one group per input channel; output channel c*m + q is filter q of channel c
    w_grouped = w.reshape(kh, kw, 1, c_in * multiplier)
    return conv2d_forward(x, w_grouped, b, stride, padding, dilation, groups=c_in)


def depthwise_conv2d_backward(dout: ArrayLike, cache: ConvCache) -> tuple[NDArray, NDArray, NDArray]:
    """Returns ``(dx, dw, db)`` with ``dw`` shaped ``(kh, kw, C_in, multiplier)``."""
    dx, dw_grouped, db = conv2d_backward(dout, cache)
    kh, kw, _, c_total = dw_grouped.shape
    c_in = cache.x.shape[3]
    return dx, dw_grouped.reshape(kh, kw, c_in, c_total // c_in), db


@dataclass(frozen=True)
class SeparableCache:
    """Caches of the two stages of a separable convolution."""

    depthwise: ConvCache
    pointwise: ConvCache


def separable_conv2d_forward(
    x: ArrayLike,
    depthwise_w: ArrayLike,
    pointwise_w: ArrayLike,
    b: ArrayLike | None = None,
    stride: int | Sequence[int] = 1,
    padding: PaddingSpec = 0,
    dilation: int | Sequence[int] = 1,
) -> tuple[NDArray, SeparableCache]:
    """Depthwise then pointwise convolution (``tf.nn.separable_conv2d`` + bias).

    Args:
        depthwise_w: ``(kh, kw, C_in, multiplier)``.
        pointwise_w: ``(1, 1, C_in * multiplier, C_out)``.
        b: bias ``(C_out,)`` of the pointwise stage, or ``None``.
        stride, padding, dilation: of the depthwise stage (the 1x1 stage has none).
    """
    depthwise_w = np.asarray(depthwise_w)
    pointwise_w = np.asarray(pointwise_w)
    check_rank(pointwise_w, 4, "pointwise_w", "(1, 1, C_in * multiplier, C_out)", "separable_conv2d_forward")
    if depthwise_w.ndim == 4 and pointwise_w.shape[:3] != (1, 1, depthwise_w.shape[2] * depthwise_w.shape[3]):
        raise ValueError(
            f"separable_conv2d_forward: pointwise_w has shape {pointwise_w.shape} but depthwise_w "
            f"{depthwise_w.shape} produces C_in * multiplier = "
            f"{depthwise_w.shape[2] * depthwise_w.shape[3]} channels: pointwise_w must be "
            f"(1, 1, {depthwise_w.shape[2] * depthwise_w.shape[3]}, C_out)."
        )
    mid, depthwise_cache = depthwise_conv2d_forward(x, depthwise_w, None, stride, padding, dilation)
    out, pointwise_cache = conv2d_forward(mid, pointwise_w, b)
    return out, SeparableCache(depthwise_cache, pointwise_cache)


def separable_conv2d_backward(
    dout: ArrayLike, cache: SeparableCache
) -> tuple[NDArray, NDArray, NDArray, NDArray]:
    """Returns ``(dx, d_depthwise_w, d_pointwise_w, db)`` (chain rule through both stages)."""
    dmid, d_pointwise, db = conv2d_backward(dout, cache.pointwise)
    dx, d_depthwise, _ = depthwise_conv2d_backward(dmid, cache.depthwise)
    return dx, d_depthwise, d_pointwise, db
