r"""ReLU, dropout, dense (affine) layers and the softmax cross-entropy loss.

Each layer has ``*_forward(...) -> (out, cache)`` and
``*_backward(dout, cache) -> gradient(s)``, as the convolution layers do.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from course_utils.ops._validate import check_rank, check_shape, float_dtype

__all__ = [
    "DenseCache",
    "dense_backward",
    "dense_forward",
    "dropout_backward",
    "dropout_forward",
    "relu_backward",
    "relu_forward",
    "softmax_cross_entropy",
]


# ----------------------------------------------------------------------------- ReLU


def relu_forward(x: ArrayLike) -> tuple[NDArray, NDArray]:
    """``out = max(x, 0)``; the cache is ``x``."""
    x = np.asarray(x, dtype=float_dtype(x))
    return np.maximum(x, 0), x


def relu_backward(dout: ArrayLike, cache: NDArray) -> NDArray:
    """``dx = dout * [x > 0]`` (0 at ``x == 0``, as TensorFlow)."""
    dout = np.asarray(dout, dtype=cache.dtype)
    check_shape(dout, cache.shape, "dout", "relu_backward")
    return np.where(cache > 0, dout, 0)


# -------------------------------------------------------------------------- dropout


def dropout_forward(
    x: ArrayLike,
    rate: float,
    training: bool = True,
    seed: int | np.random.Generator | None = None,
) -> tuple[NDArray, NDArray | None]:
    """Inverted dropout, Keras convention: ``rate`` is the fraction *dropped*.

    In training each value is kept with probability ``1 - rate`` and scaled by
    ``1 / (1 - rate)``, so the expected output equals ``x`` and inference is
    the identity. ``seed`` (an int or a ``numpy.random.Generator``) makes the
    mask reproducible. Returns ``(out, mask)``; ``mask`` holds ``0`` or
    ``1 / (1 - rate)`` (``None`` at inference).
    """
    x = np.asarray(x, dtype=float_dtype(x))
    if not 0.0 <= rate < 1.0:
        raise ValueError(f"dropout_forward: rate must be in [0, 1), got {rate!r}.")
    if not training or rate == 0.0:
        return x.copy(), None
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    keep = rng.random(x.shape) >= rate
    mask = keep.astype(x.dtype) / x.dtype.type(1.0 - rate)
    return x * mask, mask


def dropout_backward(dout: ArrayLike, cache: NDArray | None) -> NDArray:
    """``dx = dout * mask`` (dropped units get no gradient)."""
    dout = np.asarray(dout, dtype=float_dtype(dout))
    if cache is None:
        return dout.copy()
    check_shape(dout, cache.shape, "dout", "dropout_backward")
    return dout * cache


# ---------------------------------------------------------------------------- dense


@dataclass(frozen=True)
class DenseCache:
    x: NDArray  # the original input (any shape (N, ...))
    w: NDArray  # (D, M)


def dense_forward(x: ArrayLike, w: ArrayLike, b: ArrayLike | None) -> tuple[NDArray, DenseCache]:
    """Affine layer ``out = x_flat @ w + b``; ``x`` is ``(N, d_1, ..., d_k)``, flattened to ``(N, D)``.

    ``w`` is ``(D, M)`` like Keras' ``Dense`` kernel; ``b`` is ``(M,)``.
    """
    dtype = float_dtype(x, w, b)
    x, w = np.asarray(x, dtype=dtype), np.asarray(w, dtype=dtype)
    check_rank(w, 2, "w", "(D, M)", "dense_forward")
    if x.ndim < 1:
        raise ValueError("dense_forward: x must have a batch axis, got a scalar.")
    x_flat = x.reshape(x.shape[0], -1)
    if x_flat.shape[1] != w.shape[0]:
        raise ValueError(
            f"dense_forward: x of shape {x.shape} flattens to {x_flat.shape} but w has shape "
            f"{w.shape}: w's first axis must be D = {x_flat.shape[1]}."
        )
    out = x_flat @ w
    if b is not None:
        b = np.asarray(b, dtype=dtype)
        if b.shape != (w.shape[1],):
            raise ValueError(f"dense_forward: b must have shape ({w.shape[1]},), got {b.shape}.")
        out += b
    return out, DenseCache(x, w)


def dense_backward(dout: ArrayLike, cache: DenseCache) -> tuple[NDArray, NDArray, NDArray]:
    """``dx = dout @ w^T`` (reshaped like x), ``dw = x_flat^T @ dout``, ``db = sum(dout)``."""
    x, w = cache.x, cache.w
    dout = np.asarray(dout, dtype=x.dtype)
    check_shape(dout, (x.shape[0], w.shape[1]), "dout", "dense_backward")
    dx = (dout @ w.T).reshape(x.shape)
    dw = x.reshape(x.shape[0], -1).T @ dout
    return dx, dw, dout.sum(axis=0)


# -------------------------------------------------------------------- loss function


def softmax_cross_entropy(logits: ArrayLike, labels: ArrayLike) -> tuple[float, NDArray]:
    r"""Mean softmax cross-entropy and its gradient w.r.t. the logits.

    ``labels`` are class indices ``(N,)`` or per-class probabilities ``(N, K)``
    (e.g. one-hot). Numerically stable: the row maximum is subtracted first,
    so ``exp`` never overflows, and ``log softmax = z - log(sum(exp(z)))``::

        loss   = -mean_n sum_k y[n, k] * log_softmax(z)[n, k]
        dlogits = (softmax(z) - y) / N

    Returns ``(loss, dlogits)``.
    """
    z = np.asarray(logits, dtype=float_dtype(logits))
    check_rank(z, 2, "logits", "(N, K)", "softmax_cross_entropy")
    n, k = z.shape
    labels = np.asarray(labels)
    if labels.shape == (n,) and np.issubdtype(labels.dtype, np.integer):
        if labels.min(initial=0) < 0 or labels.max(initial=0) >= k:
            raise ValueError(f"softmax_cross_entropy: labels must lie in [0, {k}), got {labels.min()}..{labels.max()}.")
        y = np.zeros_like(z)
        y[np.arange(n), labels] = 1
    elif labels.shape == (n, k):
        y = labels.astype(z.dtype)
    else:
        raise ValueError(
            f"softmax_cross_entropy: labels must be integer classes ({n},) or probabilities "
            f"({n}, {k}) for logits {z.shape}, got {labels.dtype} {labels.shape}."
        )
    shifted = z - z.max(axis=1, keepdims=True)
    log_softmax = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    loss = -np.sum(y * log_softmax) / n
    dlogits = (np.exp(log_softmax) - y) / n
    return float(loss), dlogits
