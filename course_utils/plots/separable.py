"""Figures of notebook 05 (depthwise-separable, spatially separable and grouped convolutions).

* :func:`plot_channel_connectivity`: which input channels feed each output channel of a
  standard, grouped, depthwise and pointwise convolution (a 0/1 matrix per layer).
* :func:`plot_conv_costs`: parameters and multiply-accumulates of a standard vs a
  depthwise-separable convolution (bars, log scale), as counted by :mod:`course_utils.params`.
* :func:`plot_reduction_factor`: MobileNet's ``1/N + 1/Dk^2`` against the measured MAC ratios.
* :func:`plot_spatially_separable`: a rank-1 kernel as a column times a row, and the same
  filtered image computed both ways.
* :func:`plot_accuracy_vs_params`: test accuracy against parameter count of trained runs.
"""

from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np

from course_utils import params as course_params
from course_utils.plots._axes import bare, figure_and_axis

__all__ = [
    "plot_accuracy_vs_params",
    "plot_channel_connectivity",
    "plot_conv_costs",
    "plot_reduction_factor",
    "plot_spatially_separable",
]

STANDARD_COLOR, SEPARABLE_COLOR = "tab:blue", "tab:orange"


def connectivity(c_in: int, c_out: int, groups: int = 1) -> np.ndarray:
    """``(c_out, c_in)`` 0/1 matrix: 1 where input channel ``i`` feeds output channel ``o``."""
    if c_in % groups or c_out % groups:
        raise ValueError(f"groups={groups} must divide both c_in={c_in} and c_out={c_out}")
    group_in = np.arange(c_in) // (c_in // groups)
    group_out = np.arange(c_out) // (c_out // groups)
    return (group_out[:, None] == group_in[None, :]).astype(int)


def plot_channel_connectivity(c_in: int = 8, c_out: int = 8, groups: Sequence[int] = (1, 2, 4)):
    """One panel per layer: standard / grouped convolutions (``groups``), then depthwise and pointwise.

    A filled cell (output row, input column) means the output channel reads that input
    channel (through a ``k x k`` kernel, or a single weight for the 1x1 pointwise stage).
    The title gives the number of connected (input, output) pairs: the parameters divided by ``k^2``.
    """
    panels = [(f"groups={g}" if g > 1 else "standard (groups=1)", connectivity(c_in, c_out, g)) for g in groups]
    panels.append((f"depthwise (groups={c_in})", connectivity(c_in, c_in, c_in)))
    panels.append(("pointwise 1x1", connectivity(c_in, c_out, 1)))
    fig, axes = plt.subplots(1, len(panels), figsize=(2.6 * len(panels), 3.1))
    for ax, (title, matrix) in zip(np.atleast_1d(axes), panels):
        ax.imshow(matrix, cmap="Blues", vmin=0, vmax=1.3)
        ax.set_title(f"{title}\n{matrix.sum()} channel pairs", fontsize=9)
        ax.set_xlabel("input channel")
        ax.set_xticks(range(matrix.shape[1]))
        ax.set_yticks(range(matrix.shape[0]))
        ax.tick_params(labelsize=7)
        ax.set_xticks(np.arange(-0.5, matrix.shape[1]), minor=True)
        ax.set_yticks(np.arange(-0.5, matrix.shape[0]), minor=True)
        ax.grid(which="minor", color="white", linewidth=1)
        ax.tick_params(which="minor", length=0)
    np.atleast_1d(axes)[0].set_ylabel("output channel")
    fig.suptitle("Which input channels each output channel mixes", fontsize=11)
    fig.tight_layout()
    return fig


def plot_conv_costs(c_in: int, c_out: int, k: int, size: int = 32, use_bias: bool = False, ax=None):
    """Parameters and MACs (on a ``size x size`` output) of a standard vs a separable convolution."""
    comparison = course_params.compare_standard_vs_separable(c_in, c_out, k, use_bias=use_bias, size=size)
    fig, ax = figure_and_axis(ax, (6, 3.2))
    labels = ["parameters", f"MACs ({size}x{size} output)"]
    standard = [comparison.standard, comparison.standard_macs]
    separable = [comparison.separable, comparison.separable_macs]
    x = np.arange(2)
    for offset, values, color, name in ((-0.2, standard, STANDARD_COLOR, "standard"),
                                        (0.2, separable, SEPARABLE_COLOR, "depthwise-separable")):
        bars = ax.bar(x + offset, values, width=0.38, color=color, label=name)
        ax.bar_label(bars, labels=[f"{v:,}" for v in values], fontsize=8)
    ax.set_yscale("log")
    ax.set_xticks(x, labels)
    ax.set_ylim(top=max(standard) * 8)
    ax.set_title(f"{c_in} -> {c_out} channels, {k}x{k} kernel: separable / standard = "
                 f"{comparison.ratio:.3f}", fontsize=10)
    ax.legend(loc="upper left", fontsize=8)
    return fig


def plot_reduction_factor(kernels: Sequence[int] = (3, 5, 7), n_values: Sequence[int] = (8, 16, 32, 64, 128, 256, 512),
                          c_in: int = 32, size: int = 14):
    """``1/N + 1/Dk^2`` (lines) against the MAC ratio counted layer by layer (dots), log-log in N.

    The dashed lines are the floors ``1/Dk^2`` the factor approaches as ``N`` grows.
    """
    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    n_fine = np.geomspace(min(n_values), max(n_values), 200)
    for k, color in zip(kernels, plt.rcParams["axes.prop_cycle"].by_key()["color"]):
        ax.plot(n_fine, 1 / n_fine + 1 / k**2, color=color, label=f"1/N + 1/{k}²")
        measured = []
        for n in n_values:
            c = course_params.compare_standard_vs_separable(c_in, n, k, size=size)
            measured.append(c.separable_macs / c.standard_macs)
        ax.plot(n_values, measured, "o", color=color, markersize=5)
        ax.axhline(1 / k**2, color=color, linestyle=":", linewidth=1)
    ax.plot([], [], "o", color="gray", label="counted MACs (dots)")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("output channels N")
    ax.set_ylabel("separable / standard cost")
    ax.set_title("MobileNet reduction factor", fontsize=11)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_spatially_separable(column: Sequence[float], row: Sequence[float], image: np.ndarray):
    """The kernel ``column ⊗ row`` and ``image`` filtered by it in one 2-D pass and in two 1-D passes.

    The two results are computed with valid cross-correlation in numpy; the last
    panel shows their absolute difference (zero up to rounding).
    """
    from course_utils.ops import conv2d_forward

    column = np.asarray(column, dtype=np.float64)
    row = np.asarray(row, dtype=np.float64)
    kernel = np.outer(column, row)
    x = np.asarray(image, dtype=np.float64)[None, :, :, None]
    full, _ = conv2d_forward(x, kernel[:, :, None, None], None)
    first, _ = conv2d_forward(x, column[:, None, None, None], None)
    two_pass, _ = conv2d_forward(first, row[None, :, None, None], None)
    full, two_pass = full[0, :, :, 0], two_pass[0, :, :, 0]

    fig, axes = plt.subplots(1, 5, figsize=(13, 3), gridspec_kw={"width_ratios": [0.5, 1, 1.3, 1.3, 1.3]})
    axes[0].imshow(column[:, None], cmap="coolwarm", vmin=-np.abs(kernel).max(), vmax=np.abs(kernel).max())
    axes[0].set_title(f"{len(column)}x1")
    axes[1].imshow(kernel, cmap="coolwarm", vmin=-np.abs(kernel).max(), vmax=np.abs(kernel).max())
    axes[1].set_title(f"{len(column)}x1 ⊗ 1x{len(row)} = {len(column)}x{len(row)}")
    for ax, matrix, label in ((axes[0], column[:, None], None), (axes[1], kernel, None)):
        for (i, j), value in np.ndenumerate(matrix):
            ax.text(j, i, f"{value:g}", ha="center", va="center", fontsize=9)
    axes[2].imshow(full, cmap="gray")
    axes[2].set_title(f"one {len(column)}x{len(row)} pass")
    axes[3].imshow(two_pass, cmap="gray")
    axes[3].set_title(f"{len(column)}x1 then 1x{len(row)}")
    difference = axes[4].imshow(np.abs(full - two_pass), cmap="magma")
    axes[4].set_title(f"|difference| (max {np.abs(full - two_pass).max():.0e})")
    fig.colorbar(difference, ax=axes[4], fraction=0.046)
    bare(axes)
    fig.tight_layout()
    return fig


def plot_accuracy_vs_params(results: Sequence, group=lambda r: r.name.split()[0], ax=None):
    """Test accuracy against parameter count (log scale), one series per group of runs.

    ``results`` are :class:`course_utils.experiments.RunResult`; by default a run's group is
    the first word of its name (``"standard w16"`` -> ``"standard"``).
    """
    fig, ax = figure_and_axis(ax, (6.5, 4))
    groups: dict[str, list] = {}
    for r in results:
        groups.setdefault(group(r), []).append(r)
    colors = {"standard": STANDARD_COLOR, "separable": SEPARABLE_COLOR}
    for name, runs in groups.items():
        runs = sorted(runs, key=lambda r: r.params)
        ax.plot([r.params for r in runs], [r.test_accuracy for r in runs], "o-", color=colors.get(name),
                label=name)
        for r in runs:
            ax.annotate(r.name.split(maxsplit=1)[-1], (r.params, r.test_accuracy), textcoords="offset points",
                        xytext=(5, -10), fontsize=8)
    ax.set_xscale("log")
    ax.set_xlabel("parameters")
    ax.set_ylabel("test accuracy")
    if results:
        first = results[0]
        ax.set_title(f"{first.title}, {first.epochs} epochs", fontsize=10)
    ax.legend()
    ax.grid(alpha=0.3)
    return fig
