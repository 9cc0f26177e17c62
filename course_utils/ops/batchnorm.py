r"""Batch normalisation, forward (training and inference) and backward, like Keras ``BatchNormalization``.

Statistics are per channel: over ``(N, H, W)`` for NHWC input, over ``N`` for
``(N, C)`` input. With ``m`` values per channel:

Training (batch statistics)::

    mu      = mean(x)                     sigma2 = mean((x - mu)^2)     (biased: divide by m)
    x_hat   = (x - mu) / sqrt(sigma2 + eps)
    out     = gamma * x_hat + beta
    moving_mean = moving_mean * momentum + mu     * (1 - momentum)
    moving_var  = moving_var  * momentum + sigma2 * (1 - momentum)

Keras puts the *biased* batch variance (the one used to normalise) into the
moving average; PyTorch uses the unbiased ``m / (m - 1)`` version there.
Defaults are Keras': ``momentum=0.99``, ``epsilon=1e-3``.

Inference: ``x_hat = (x - moving_mean) / sqrt(moving_var + eps)``; nothing is updated.

Backward, training mode, in closed form (``sum`` over the ``m`` values of a channel)::

    dbeta  = sum(dout)
    dgamma = sum(dout * x_hat)
    dx     = gamma / (m * sqrt(sigma2 + eps)) * (m * dout - dbeta - x_hat * dgamma)

In inference mode the statistics are constants, so ``dx = gamma * dout / sqrt(moving_var + eps)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from course_utils.ops._validate import check_shape, float_dtype

__all__ = ["BatchNormCache", "batchnorm_backward", "batchnorm_forward"]


@dataclass(frozen=True)
class BatchNormCache:
    x_hat: NDArray  # normalised input, shaped like x
    gamma: NDArray  # (C,)
    inv_std: NDArray  # (C,) 1 / sqrt(var + eps) of the statistics used
    training: bool


def _check(x: NDArray, name: str, value: NDArray | None, where: str) -> None:
    if value is not None and np.shape(value) != (x.shape[-1],):
        raise ValueError(
            f"{where}: {name} must have shape (C,) = ({x.shape[-1]},) for x of shape "
            f"{x.shape} (channels last), got {np.shape(value)}."
        )


def batchnorm_forward(
    x: ArrayLike,
    gamma: ArrayLike,
    beta: ArrayLike,
    moving_mean: NDArray | None = None,
    moving_var: NDArray | None = None,
    training: bool = True,
    momentum: float = 0.99,
    epsilon: float = 1e-3,
) -> tuple[NDArray, BatchNormCache]:
    """Batch normalisation of ``x`` (``(N, C)`` or ``(N, H, W, C)``).

    In training mode the batch statistics normalise ``x`` and the moving
    statistics are updated **in place** (like Keras' ``assign``), when given.
    In inference mode ``moving_mean`` and ``moving_var`` are required.
    Returns ``(out, cache)``.
    """
    where = "batchnorm_forward"
    dtype = float_dtype(x, gamma, beta)
    x = np.asarray(x, dtype=dtype)
    if x.ndim not in (2, 4):
        raise ValueError(f"{where}: x must be (N, C) or (N, H, W, C), got shape {x.shape}.")
    gamma, beta = np.asarray(gamma, dtype=dtype), np.asarray(beta, dtype=dtype)
    for name, value in (("gamma", gamma), ("beta", beta), ("moving_mean", moving_mean), ("moving_var", moving_var)):
        _check(x, name, value, where)
    axes = tuple(range(x.ndim - 1))  # every axis but the channels

    if training:
        mean = x.mean(axis=axes)
        centred = x - mean
        var = np.mean(centred * centred, axis=axes)  # biased, as Keras
        for moving, batch in ((moving_mean, mean), (moving_var, var)):
            if moving is not None:
                if not isinstance(moving, np.ndarray):
                    raise ValueError(f"{where}: moving statistics must be numpy arrays (updated in place).")
                moving *= momentum
                moving += (1.0 - momentum) * batch
    else:
        if moving_mean is None or moving_var is None:
            raise ValueError(f"{where}: training=False needs moving_mean and moving_var.")
        centred = x - np.asarray(moving_mean, dtype=dtype)
        var = np.asarray(moving_var, dtype=dtype)
    inv_std = 1.0 / np.sqrt(var + epsilon)
    x_hat = centred * inv_std
    out = x_hat * gamma + beta
    return out, BatchNormCache(x_hat, gamma, inv_std, training)


def batchnorm_backward(dout: ArrayLike, cache: BatchNormCache) -> tuple[NDArray, NDArray, NDArray]:
    """Returns ``(dx, dgamma, dbeta)`` (closed form, see the module docstring)."""
    x_hat = cache.x_hat
    dout = np.asarray(dout, dtype=x_hat.dtype)
    check_shape(dout, x_hat.shape, "dout", "batchnorm_backward")
    axes = tuple(range(x_hat.ndim - 1))
    dbeta = dout.sum(axis=axes)
    dgamma = np.sum(dout * x_hat, axis=axes)
    if not cache.training:
        return dout * (cache.gamma * cache.inv_std), dgamma, dbeta
    m = x_hat.size // x_hat.shape[-1]  # values per channel
    dx = (cache.gamma * cache.inv_std / m) * (m * dout - dbeta - x_hat * dgamma)
    return dx, dgamma, dbeta
