"""From the 2-D arrays of worked examples to the 4-D tensors the layers take."""

from __future__ import annotations

import numpy as np


def image4d(a, dtype=np.float32) -> np.ndarray:
    """A 2-D array as a batch of one single-channel image, NHWC: (H, W) -> (1, H, W, 1)."""
    return np.asarray(a, dtype=dtype)[None, :, :, None]


def kernel4d(w, dtype=np.float32) -> np.ndarray:
    """A 2-D kernel as convolution weights with one input and one output channel: (kh, kw) -> (kh, kw, 1, 1)."""
    return np.asarray(w, dtype=dtype)[:, :, None, None]
