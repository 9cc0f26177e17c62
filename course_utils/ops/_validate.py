"""Argument checking and convolution geometry shared by the layers in ``ops``.

Every public layer calls these helpers first, so a wrong shape fails at once
with a ``ValueError`` that names the shapes involved and says what to do,
instead of a cryptic broadcasting error deep inside numpy.

Geometry (one spatial axis; the same holds for height and width), computed
with :mod:`course_utils.arithmetic`::

    k_eff = (k - 1) * d + 1                    dilated ("inflated") kernel extent
    n_out = floor((n + p_before + p_after - k_eff) / s) + 1

``padding`` may be

* ``"valid"``: no padding;
* ``"same"``: TensorFlow's rule, ``n_out = ceil(n / s)``; the total padding
  ``max((n_out - 1) * s + k_eff - n, 0)`` is split with the extra pixel at
  the bottom / right;
* an ``int`` ``p`` (``p`` on every side), a pair ``(p_h, p_w)``, or explicit
  ``((top, bottom), (left, right))``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence, Union

import numpy as np
from numpy.typing import ArrayLike, NDArray

from course_utils.arithmetic import conv_output_size, effective_kernel, same_padding

Pair = tuple[int, int]
Pads = tuple[Pair, Pair]
PaddingSpec = Union[str, int, Sequence[int], Sequence[Sequence[int]]]


def float_dtype(*arrays: ArrayLike | None) -> np.dtype:
    """The common floating dtype of ``arrays`` (integers become float64).

    float32 inputs stay float32 (fast, like TensorFlow); float64 inputs stay
    float64 (needed for numerical gradient checks).
    """
    dtype = np.result_type(*[np.asarray(a) for a in arrays if a is not None])
    return dtype if np.issubdtype(dtype, np.floating) else np.dtype(np.float64)


def as_pair(value: int | Sequence[int], name: str, where: str, minimum: int = 1) -> Pair:
    """``3 -> (3, 3)``; ``(2, 1) -> (2, 1)``; anything else is a ``ValueError``."""
    if isinstance(value, (int, np.integer)):
        pair = (int(value), int(value))
    elif isinstance(value, (tuple, list)) and len(value) == 2 and all(
        isinstance(v, (int, np.integer)) for v in value
    ):
        pair = (int(value[0]), int(value[1]))
    else:
        raise ValueError(
            f"{where}: {name} must be an int or a pair of ints (height, width), got {value!r}."
        )
    if min(pair) < minimum:
        raise ValueError(f"{where}: {name} must be >= {minimum}, got {value!r}.")
    return pair


def check_rank(array: NDArray, rank: int, name: str, layout: str, where: str) -> None:
    """Raise if ``array.ndim != rank``; ``layout`` names the expected axes."""
    if array.ndim != rank:
        hint = ""
        if rank == 4 and array.ndim == 3 and name == "x":
            hint = " For a single image add the batch axis: x[None]."
        elif rank == 4 and array.ndim == 2 and name == "x":
            hint = " For one grey-scale image add batch and channel axes: x[None, :, :, None]."
        raise ValueError(
            f"{where}: {name} must be {rank}-D {layout}, got shape {array.shape}.{hint}"
        )


def check_shape(array: NDArray, expected: tuple[int, ...], name: str, where: str) -> None:
    """Raise if ``array.shape != expected`` (typically for an upstream gradient)."""
    if array.shape != tuple(expected):
        raise ValueError(
            f"{where}: {name} must have shape {tuple(expected)}, got {array.shape}. "
            "Pass the gradient of the output of the matching forward call."
        )


def resolve_padding(
    padding: PaddingSpec, in_hw: Pair, kernel: Pair, stride: Pair, dilation: Pair, where: str
) -> Pads:
    """Turn any accepted ``padding`` into ``((top, bottom), (left, right))``."""
    if isinstance(padding, str):
        mode = padding.lower()
        if mode == "valid":
            return (0, 0), (0, 0)
        if mode == "same":
            return (
                same_padding(in_hw[0], kernel[0], stride[0], dilation[0]),
                same_padding(in_hw[1], kernel[1], stride[1], dilation[1]),
            )
        raise ValueError(f"{where}: padding must be 'same', 'valid' or integers, got {padding!r}.")
    if isinstance(padding, (int, np.integer)):
        p = int(padding)
        pads = ((p, p), (p, p))
    elif isinstance(padding, (tuple, list)) and len(padding) == 2:
        if all(isinstance(v, (int, np.integer)) for v in padding):
            pads = ((int(padding[0]),) * 2, (int(padding[1]),) * 2)
        elif all(isinstance(v, (tuple, list)) and len(v) == 2 for v in padding):
            pads = tuple((int(v[0]), int(v[1])) for v in padding)  # type: ignore[assignment]
        else:
            pads = None  # type: ignore[assignment]
    else:
        pads = None  # type: ignore[assignment]
    if pads is None:
        raise ValueError(
            f"{where}: padding must be 'same', 'valid', an int, (p_h, p_w) or "
            f"((top, bottom), (left, right)); got {padding!r}."
        )
    if min(min(p) for p in pads) < 0:
        raise ValueError(f"{where}: padding must be >= 0, got {padding!r}.")
    return pads


@dataclass(frozen=True)
class WindowGeometry:
    """Where the sliding windows of a convolution or pooling layer sit.

    ``kernel`` counts taps; ``dilation`` spaces them; ``pads`` is
    ``((top, bottom), (left, right))``; ``out_hw`` is the output size.
    """

    kernel: Pair
    stride: Pair
    dilation: Pair
    pads: Pads
    out_hw: Pair

    @property
    def effective_kernel(self) -> Pair:
        return (
            effective_kernel(self.kernel[0], self.dilation[0]),
            effective_kernel(self.kernel[1], self.dilation[1]),
        )

    def padded_hw(self, in_hw: Pair) -> Pair:
        (t, b), (l, r) = self.pads
        return in_hw[0] + t + b, in_hw[1] + l + r


def window_geometry(
    in_hw: Pair,
    kernel: int | Sequence[int],
    stride: int | Sequence[int],
    padding: PaddingSpec,
    dilation: int | Sequence[int],
    where: str,
    what: str = "kernel",
) -> WindowGeometry:
    """Check the arguments and compute pads and output size; explain failures."""
    kernel_hw = as_pair(kernel, f"{what} size", where)
    stride_hw = as_pair(stride, "stride", where)
    dilation_hw = as_pair(dilation, "dilation", where)
    pads = resolve_padding(padding, in_hw, kernel_hw, stride_hw, dilation_hw, where)
    try:
        out_hw = tuple(
            conv_output_size(in_hw[a], kernel_hw[a], stride_hw[a], pads[a], dilation_hw[a]) for a in (0, 1)
        )
    except ValueError:
        k_eff = tuple(effective_kernel(kernel_hw[a], dilation_hw[a]) for a in (0, 1))
        dilated = f" dilated by {dilation_hw} to {k_eff[0]}x{k_eff[1]}" if max(dilation_hw) > 1 else ""
        raise ValueError(
            f"{where}: the {kernel_hw[0]}x{kernel_hw[1]} {what}{dilated} does not fit in the "
            f"{in_hw[0]}x{in_hw[1]} input padded by {pads}. "
            "Use padding='same', more padding, a smaller kernel/dilation or a larger input."
        ) from None
    return WindowGeometry(kernel_hw, stride_hw, dilation_hw, pads, out_hw)  # type: ignore[arg-type]
