"""Figures of notebook 08 (CNN architectures and segmentation)."""

from __future__ import annotations

from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import ListedColormap

from course_utils.plots._axes import bare

__all__ = [
    "plot_architecture_costs",
    "plot_classical_segmentation",
    "plot_coarse_masks",
    "plot_dense_block_growth",
    "plot_segmentation_examples",
    "plot_shift_and_stitch",
    "plot_training_error",
]

#: Colours of the labels of :data:`course_utils.architectures.SHAPE_CLASSES` (background first).
LABEL_COLORS = ListedColormap(["#222222", "#e41a1c", "#377eb8", "#4daf4a", "#984ea3", "#ff7f00"])


def plot_architecture_costs(table):
    """Parameters vs multiply-accumulates per image (log-log), one labelled point per network.

    ``table`` has columns ``network``, ``params`` and ``macs``.
    """
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    ax.scatter(table["macs"], table["params"], s=40, color="tab:blue", zorder=3)
    for _, row in table.iterrows():
        ax.annotate(row["network"], (row["macs"], row["params"]), textcoords="offset points", xytext=(6, 4),
                    fontsize=9)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("multiply-accumulates per image")
    ax.set_ylabel("parameters")
    ax.grid(True, which="major", alpha=0.3)
    ax.margins(x=0.2, y=0.15)
    ax.set_title("Cost of the architectures (at their own input sizes)")
    fig.tight_layout()
    return fig


def plot_dense_block_growth(k0: int, k: int, num_layers: int):
    """Where the input channels of each layer of a dense block come from: ``k0 + k(l-1)``.

    One bar per layer (and one for the block's output): the block input's ``k0``
    maps, then ``k`` maps from each earlier layer, in that layer's colour.
    """
    palette = plt.get_cmap("tab20")
    fig, ax = plt.subplots(figsize=(7, 0.45 * (num_layers + 1) + 1.3))
    labels = [f"layer {l} input" for l in range(1, num_layers + 1)] + ["block output"]
    for row, l in enumerate(range(1, num_layers + 2)):
        ax.barh(row, k0, color="0.7", edgecolor="white")
        for source in range(1, l):
            ax.barh(row, k, left=k0 + k * (source - 1), color=palette((source - 1) % 20), edgecolor="white")
        ax.text(k0 + k * (l - 1), row, f"  {k0 + k * (l - 1)}", va="center", fontsize=9)
    ax.set_yticks(range(num_layers + 1), labels)
    ax.invert_yaxis()
    ax.set_xlabel("channels (grey: the block's input, colours: maps added by each layer)")
    ax.set_xlim(0, (k0 + k * num_layers) * 1.15)
    ax.set_title(f"Dense block: k0 = {k0}, growth rate k = {k}, {num_layers} layers")
    fig.tight_layout()
    return fig


def plot_segmentation_examples(images, masks, predictions=None, class_names: Sequence[str] | None = None,
                               n: int = 4):
    """Images, true masks and predicted masks of the first ``n`` examples, one per column.

    ``predictions`` is one array of predicted masks (a row titled "predicted") or a dict
    ``{row title: masks}`` of several networks' predictions, one row each, in its order.
    """
    if predictions is None:
        predictions = {}
    elif not isinstance(predictions, dict):
        predictions = {"predicted": predictions}
    rows = 2 + len(predictions)
    n = min(n, len(images))
    fig, axes = plt.subplots(rows, n, figsize=(2.2 * n, 2.2 * rows + 0.4), squeeze=False)
    vmax = LABEL_COLORS.N - 1
    for i in range(n):
        panels = [(images[i], "image"), (masks[i], "true mask")]
        panels += [(predicted[i], title) for title, predicted in predictions.items()]
        for r, (data, title) in enumerate(panels):
            ax = axes[r, i]
            if r == 0:
                ax.imshow(data)
            else:
                ax.imshow(data, cmap=LABEL_COLORS, vmin=0, vmax=vmax, interpolation="nearest")
            bare(ax)
            if i == 0:
                ax.set_ylabel(title)
    if class_names:
        handles = [plt.Rectangle((0, 0), 1, 1, color=LABEL_COLORS(c)) for c in range(len(class_names))]
        fig.legend(handles, class_names, loc="lower center", ncol=len(class_names), frameon=False)
    fig.tight_layout(rect=(0, 0.06 if class_names else 0, 1, 1))
    return fig


def plot_classical_segmentation(image, seed: tuple[int, int], region, clusters):
    """The image with the seed pixel, the grown region, and the k-means label map."""
    fig, axes = plt.subplots(1, 3, figsize=(9.5, 3.4))
    axes[0].imshow(image)
    axes[0].plot(seed[1], seed[0], "w+", markersize=14, markeredgewidth=2)
    axes[0].set_title("image and seed pixel (+)")
    axes[1].imshow(image)
    axes[1].imshow(np.ma.masked_where(~region, region), cmap=ListedColormap(["yellow"]), alpha=0.6)
    axes[1].set_title(f"region growing: {int(region.sum())} pixels")
    axes[2].imshow(clusters, cmap="tab10", interpolation="nearest", vmin=0, vmax=9)
    axes[2].set_title(f"k-means on colour: {len(np.unique(clusters))} clusters")
    bare(axes)
    fig.tight_layout()
    return fig


def plot_coarse_masks(mask, coarse: Mapping[int, np.ndarray]):
    """A true mask and what score maps of output stride 32, 16, 8, ... can express (``{stride: mask}``)."""
    fig, axes = plt.subplots(1, len(coarse) + 1, figsize=(2.4 * (len(coarse) + 1), 2.8))
    vmax = LABEL_COLORS.N - 1
    axes[0].imshow(mask, cmap=LABEL_COLORS, vmin=0, vmax=vmax, interpolation="nearest")
    axes[0].set_title("true mask")
    for ax, (stride, m) in zip(axes[1:], coarse.items()):
        ax.imshow(m, cmap=LABEL_COLORS, vmin=0, vmax=vmax, interpolation="nearest")
        ax.set_title(f"stride {stride}")
    bare(axes)
    fig.tight_layout()
    return fig


def plot_shift_and_stitch(coarse: Mapping[tuple[int, int], np.ndarray], dense: np.ndarray, factor: int):
    """The ``factor**2`` coarse outputs (one colour per shift) and where they land in the stitched output."""
    shifts = sorted(coarse)
    rows = max(v.shape[0] for v in coarse.values())
    cols = max(v.shape[1] for v in coarse.values())
    palette = plt.get_cmap("Pastel1")
    fig, axes = plt.subplots(1, len(shifts) + 1, figsize=(2.2 * len(shifts) + 3.6, 3.2),
                             gridspec_kw={"width_ratios": [1] * len(shifts) + [1.8]})
    for s, (ax, shift) in enumerate(zip(axes, shifts)):
        values = coarse[shift]
        ax.imshow(np.full(values.shape + (4,), palette(s)), interpolation="nearest")
        for (r, c), v in np.ndenumerate(values):
            ax.text(c, r, f"{v:.1f}", ha="center", va="center", fontsize=7)
        ax.set_title(f"shift {shift}")
        ax.set_xlim(-0.5, cols - 0.5)
        ax.set_ylim(rows - 0.5, -0.5)
        ax.axis("off")
        bare(ax)
    colours = np.zeros(dense.shape + (4,))
    for s, (a, b) in enumerate(shifts):
        colours[a::factor, b::factor] = palette(s)
    axes[-1].imshow(colours, interpolation="nearest")
    for (r, c), v in np.ndenumerate(dense):
        axes[-1].text(c, r, f"{v:.1f}", ha="center", va="center", fontsize=6)
    axes[-1].set_title("stitched = dense output")
    bare(axes[-1])
    fig.tight_layout()
    return fig


def plot_training_error(panels: Mapping[str, Sequence]):
    """Training error (1 - training accuracy) per epoch, one panel per family, one line per run.

    ``panels`` maps a panel title (``"plain"``, ``"residual"``) to its
    :class:`course_utils.experiments.RunResult`; the panels share the y axis so that the
    families can be compared, and each legend entry gives the run's final training error.
    The training accuracy is Keras' mean over each epoch, measured while training.
    """
    fig, axes = plt.subplots(1, len(panels), figsize=(5.4 * len(panels), 3.8), sharey=True, squeeze=False)
    for ax, (title, runs) in zip(axes[0], panels.items()):
        for r in runs:
            error = 1 - np.asarray(r.history["accuracy"], dtype=float)
            ax.plot(np.arange(1, len(error) + 1), error, "o-", linewidth=1.4, label=f"{r.name}: {error[-1]:.3f}")
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("epoch")
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, title="final training error", title_fontsize=8)
    axes[0][0].set_ylabel("training error")
    fig.tight_layout()
    return fig
