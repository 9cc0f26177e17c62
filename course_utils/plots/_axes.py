"""Small helpers the figures share."""

from __future__ import annotations

from typing import Any

import numpy as np


def figure_and_axis(ax: Any, figsize: tuple[float, float]) -> tuple[Any, Any]:
    """``(figure, axis)``: ``ax`` and its figure, or, when ``ax`` is None, a new figure of
    ``figsize`` with one axis."""
    if ax is None:
        import matplotlib.pyplot as plt

        return plt.subplots(figsize=figsize)
    return ax.figure, ax


def bare(axes: Any) -> None:
    """Remove the ticks of one axis, or of every axis in a list or array of them (image panels)."""
    for ax in np.ravel(np.asarray(axes, dtype=object)):
        ax.set_xticks([])
        ax.set_yticks([])
