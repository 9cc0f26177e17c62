r"""Figures of notebook 03 (dilated convolution).

* :func:`dilation_footprint` counts, for every input pixel, the paths through a
  stack of dilated convolutions that lead to the central output unit: zero
  where the stack never looks (gridding), larger in the middle;
* :func:`plot_dilated_kernels` draws one kernel inflated with ``d - 1`` gaps;
* :func:`plot_dilated_stack` redraws Yu & Koltun's figure 1: after each layer,
  the receptive field so far and the taps of the layer on top of it;
* :func:`plot_footprints` compares the footprints of several stacks (gridding);
* :func:`plot_training_runs` draws the loss curves and test accuracies of training runs.

The numbers behind the figures come from :mod:`course_utils.arithmetic` and
:mod:`course_utils.ops`; nothing is typed in.
"""

from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np

from course_utils import arithmetic, ops
from course_utils.plots._axes import bare

__all__ = [
    "dilation_footprint",
    "footprint_1d",
    "plot_dilated_kernels",
    "plot_dilated_stack",
    "plot_footprints",
    "plot_training_runs",
]


def footprint_1d(dilations: Sequence[int], kernel: int = 3) -> np.ndarray:
    """Along one axis: how many paths lead from each input pixel to the central output.

    Each layer is a ``kernel``-tap all-ones filter inflated with ``d - 1`` zeros
    (:func:`course_utils.ops.dilate_kernel`); the stack is their convolution. The
    result has length ``rf`` (the receptive field) and sums to ``kernel**len(dilations)``.
    """
    counts = np.ones(1, dtype=np.int64)
    for d in dilations:
        taps = ops.dilate_kernel(np.ones((kernel, 1), dtype=np.int64), int(d))[:, 0]
        counts = np.convolve(counts, taps)
    return counts


def dilation_footprint(dilations: Sequence[int], kernel: int = 3) -> np.ndarray:
    """The 2-D footprint (``rf x rf`` ints) of a stack of ``kernel x kernel`` convolutions.

    Entry ``(r, c)`` is the number of paths from input pixel ``(r, c)`` of the
    receptive field to the central output unit, i.e. the gradient of that unit
    in a network with all-ones kernels and no non-linearity. A zero inside the
    box is a pixel the stack never reads: the *gridding* artifact of dilations
    that share a common factor. Kernels are separable here, so it is the outer
    product of :func:`footprint_1d` with itself.
    """
    line = footprint_1d(dilations, kernel)
    return np.outer(line, line)


def _grid(ax, size: int) -> None:
    ax.set_xticks(np.arange(-0.5, size, 1), minor=True)
    ax.set_yticks(np.arange(-0.5, size, 1), minor=True)
    ax.grid(which="minor", color="white", linewidth=0.6 if size < 40 else 0.2)
    ax.tick_params(which="both", length=0)
    bare(ax)


def plot_dilated_kernels(kernel: int = 3, dilations: Sequence[int] = (1, 2, 3)):
    """One ``kernel x kernel`` kernel inflated with each dilation: taps dark, gaps (zeros) light."""
    fig, axes = plt.subplots(1, len(dilations), figsize=(2.7 * len(dilations), 3.0))
    weights = np.arange(1, kernel * kernel + 1, dtype=float).reshape(kernel, kernel)
    for ax, d in zip(np.atleast_1d(axes), dilations):
        inflated = ops.dilate_kernel(weights, d)
        size = inflated.shape[0]
        ax.imshow(inflated > 0, cmap="Blues", vmin=-0.3, vmax=1.2)
        for (r, c), v in np.ndenumerate(inflated):
            ax.text(c, r, f"{v:.0f}" if v else "0", ha="center", va="center",
                    fontsize=9 if size < 10 else 6, color="white" if v else "grey")
        _grid(ax, size)
        ax.set_title(f"d = {d}: spans {arithmetic.effective_kernel(kernel, d)}x"
                     f"{arithmetic.effective_kernel(kernel, d)}, {kernel * kernel} weights", fontsize=10)
    fig.suptitle(rf"a {kernel}x{kernel} kernel inflated: $\hat k = k + (k-1)(d-1)$", fontsize=11)
    fig.tight_layout(rect=(0, 0, 1, 0.93))
    return fig


def plot_dilated_stack(dilations: Sequence[int] = (1, 2, 4), kernel: int = 3):
    """Yu & Koltun's figure 1: after layer ``i`` the receptive field so far (shaded) and the
    taps of layer ``i`` (dots), all drawn on the final receptive field's grid."""
    final = len(footprint_1d(dilations, kernel))
    fig, axes = plt.subplots(1, len(dilations), figsize=(3.2 * len(dilations), 3.4))
    for i, (ax, d) in enumerate(zip(np.atleast_1d(axes), dilations)):
        reach = dilation_footprint(dilations[: i + 1], kernel) > 0
        pad = (final - reach.shape[0]) // 2
        canvas = np.pad(reach, pad).astype(float)
        ax.imshow(canvas, cmap="Greens", vmin=0, vmax=1.8)
        # The taps of layer i: the units of the previous layer it reads, centred.
        offsets = (np.arange(kernel) - (kernel - 1) / 2) * d + (final - 1) / 2
        rows, cols = np.meshgrid(offsets, offsets)
        ax.plot(cols.ravel(), rows.ravel(), "o", color="crimson", ms=max(2, 60 / final))
        _grid(ax, final)
        rf = reach.shape[0]
        ax.set_title(f"layer {i + 1}, dilation {d}\nreceptive field {rf}x{rf}", fontsize=10)
    fig.suptitle("green: input pixels seen so far; red: the taps of the layer (one unit each)", fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 0.93))
    return fig


def plot_footprints(stacks: dict[str, Sequence[int]], kernel: int = 3):
    """Footprints (:func:`dilation_footprint`) side by side, one per ``{label: dilations}``,
    with the share of the receptive field that is actually read."""
    fig, axes = plt.subplots(1, len(stacks), figsize=(3.3 * len(stacks), 3.6))
    for ax, (label, dilations) in zip(np.atleast_1d(axes), stacks.items()):
        counts = dilation_footprint(dilations, kernel)
        size = counts.shape[0]
        shown = np.ma.masked_equal(counts, 0)
        ax.imshow(np.zeros_like(counts), cmap="Reds", vmin=-1, vmax=3)  # holes: light red
        ax.imshow(shown, cmap="viridis")
        _grid(ax, size)
        covered = np.count_nonzero(counts) / counts.size
        ax.set_title(f"{label}\nRF {size}x{size}, {covered:.0%} of it read", fontsize=10)
    fig.suptitle("paths from each input pixel to the central output (red: never read = gridding)", fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 0.93))
    return fig


def plot_training_runs(step_losses: dict[str, Sequence[float]], accuracies: dict[str, float],
                       reference: dict[str, float] | None = None, title: str = "", smooth: int = 20):
    """Training loss per step (moving average over ``smooth`` steps) and final test accuracy of
    several runs, with horizontal lines for reference accuracies (``{label: value}``)."""
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(10, 3.6), gridspec_kw={"width_ratios": [1.6, 1]})
    for label, losses in step_losses.items():
        losses = np.asarray(losses, dtype=float)
        window = max(1, min(smooth, len(losses) // 5 or 1))
        averaged = np.convolve(losses, np.ones(window) / window, mode="valid")
        ax.plot(np.arange(window, len(losses) + 1), averaged, label=label)
    ax.set_xlabel("training step")
    ax.set_ylabel(f"cross-entropy (mean of {smooth} steps)" if smooth > 1 else "cross-entropy")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    labels = list(accuracies)
    bars = ax2.bar(range(len(labels)), [accuracies[k] for k in labels], color="tab:blue")
    for bar, k in zip(bars, labels):
        ax2.text(bar.get_x() + bar.get_width() / 2, accuracies[k], f"{accuracies[k]:.1%}",
                 ha="center", va="bottom", fontsize=8)
    for (label, value), style in zip((reference or {}).items(), ("--", ":", "-.", (0, (5, 5)))):
        ax2.axhline(value, color="grey", linestyle=style, linewidth=1, label=label)
    if reference:
        ax2.legend(fontsize=7, loc="upper right")
    ax2.set_xticks(range(len(labels)), labels, fontsize=8)
    ax2.set_ylim(0, 1)
    ax2.set_ylabel("test accuracy")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 0.93))
    return fig
