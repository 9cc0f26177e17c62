"""Small helpers the figures share."""

from __future__ import annotations

from typing import Any

import numpy as np


def bare(axes: Any) -> None:
    """Remove the ticks of one axis, or of every axis in a list or array of them (image panels)."""
    for ax in np.ravel(np.asarray(axes, dtype=object)):
        ax.set_xticks([])
        ax.set_yticks([])
