r"""Figures of notebook 04 (transposed convolution).

* :func:`insert_zeros` puts ``s - 1`` zeros between the pixels of an image, the
  first step of a transposed convolution written as an ordinary convolution;
* :func:`overlap_map` counts how many input pixels write into each output pixel
  of a transposed convolution (uneven counts = checkerboard artifacts);
* :func:`plot_scatter` draws a transposed convolution as a sum of scaled,
  shifted copies of the kernel (one per input pixel);
* :func:`plot_zero_insertion` draws the same as a convolution over the
  zero-inserted, padded input;
* :func:`plot_overlap_maps` compares overlap maps of several kernel / stride pairs;
* :func:`plot_image_row` shows a few images side by side with a shared colour scale option.

All numbers come from :mod:`course_utils.ops` (``conv2d_transpose_forward``)
and :mod:`course_utils.arithmetic`.
"""

from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np

from course_utils import arithmetic, ops
from course_utils.plots._axes import bare

__all__ = [
    "insert_zeros",
    "overlap_map",
    "plot_image_row",
    "plot_overlap_maps",
    "plot_scatter",
    "plot_zero_insertion",
]


def insert_zeros(x: np.ndarray, stride: int) -> np.ndarray:
    """``stride - 1`` zeros between neighbouring pixels of a 2-D array or an NHWC batch.

    An ``n x n`` image becomes ``(n - 1)*stride + 1`` on a side.
    """
    x = np.asarray(x)
    spatial = (0, 1) if x.ndim == 2 else (1, 2)
    shape = list(x.shape)
    for a in spatial:
        shape[a] = (x.shape[a] - 1) * stride + 1
    out = np.zeros(shape, dtype=x.dtype)
    index = [slice(None)] * x.ndim
    for a in spatial:
        index[a] = slice(None, None, stride)
    out[tuple(index)] = x
    return out


def overlap_map(n: int, k: int, s: int, p: int | str = 0, output_padding: int | None = None) -> np.ndarray:
    """How many input pixels write into each output pixel of a transposed convolution.

    The transposed convolution (``ops.conv2d_transpose_forward``) of an ``n x n``
    all-ones input with an all-ones ``k x k`` kernel: each input pixel adds 1 to
    the ``k x k`` window it scatters to. Returns an ``(n_out, n_out)`` int array.
    """
    x = np.ones((1, n, n, 1))
    w = np.ones((k, k, 1, 1))
    out, _ = ops.conv2d_transpose_forward(x, w, None, stride=s, padding=p, output_padding=output_padding)
    return np.rint(out[0, :, :, 0]).astype(int)


def _matrix(ax, values: np.ndarray, title: str, cmap: str = "Blues", vmax: float | None = None,
            highlight: np.ndarray | None = None) -> None:
    values = np.asarray(values)
    top = float(np.abs(values).max()) if vmax is None else vmax
    ax.imshow(values, cmap=cmap, vmin=0, vmax=max(top, 1e-9))
    for (r, c), v in np.ndenumerate(values):
        bold = highlight is not None and highlight[r, c]
        ax.text(c, r, f"{v:g}", ha="center", va="center", fontsize=9,
                color="white" if top and v > 0.6 * top else ("black" if bold else "grey"),
                fontweight="bold" if bold else None)
    ax.set_xticks(np.arange(-0.5, values.shape[1], 1), minor=True)
    ax.set_yticks(np.arange(-0.5, values.shape[0], 1), minor=True)
    ax.grid(which="minor", color="white", linewidth=1)
    ax.tick_params(which="both", length=0)
    bare(ax)
    ax.set_title(title, fontsize=9)


def plot_scatter(x: np.ndarray, kernel: np.ndarray, stride: int = 2):
    """A transposed convolution (one channel, ``"valid"``) as a sum of scattered kernel copies.

    One panel per input pixel ``x[i, j]``: ``x[i, j] * kernel`` written at
    ``(i*stride, j*stride)``; the last panel is their sum, the output.
    """
    x, kernel = np.asarray(x, dtype=float), np.asarray(kernel, dtype=float)
    out, _ = ops.conv2d_transpose_forward(x[None, :, :, None], kernel[:, :, None, None], None, stride=stride)
    out = out[0, :, :, 0]
    pieces = []
    for (i, j), v in np.ndenumerate(x):
        piece = np.zeros_like(out)
        piece[i * stride:i * stride + kernel.shape[0], j * stride:j * stride + kernel.shape[1]] = v * kernel
        pieces.append((f"x[{i},{j}] = {v:g} times the kernel\nat ({i * stride}, {j * stride})", piece))
    fig, axes = plt.subplots(1, len(pieces) + 1, figsize=(2.3 * (len(pieces) + 1), 2.8))
    top = float(out.max())
    for ax, (title, piece) in zip(axes, pieces):
        _matrix(ax, piece, title, vmax=top)
    _matrix(axes[-1], out, "sum = output", cmap="Oranges")
    fig.suptitle(f"transposed convolution, stride {stride}: every input pixel scatters a scaled copy "
                 "of the kernel", fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 0.93))
    return fig


def plot_zero_insertion(x: np.ndarray, kernel: np.ndarray, stride: int = 2):
    """The same transposed convolution as an ordinary convolution ("valid" padding, one channel).

    Panels: the input with ``stride - 1`` zeros inserted and ``k - 1`` zeros of
    padding around it (original pixels in bold), the kernel rotated by 180°, and
    the output of sliding that kernel over the padded grid (stride 1).
    """
    x, kernel = np.asarray(x, dtype=float), np.asarray(kernel, dtype=float)
    k = kernel.shape[0]
    grid = np.pad(insert_zeros(x, stride), k - 1)
    mask = np.pad(insert_zeros(np.ones_like(x, dtype=bool), stride), k - 1)
    rotated = kernel[::-1, ::-1]
    out, _ = ops.conv2d_forward(grid[None, :, :, None], rotated[:, :, None, None], None)
    fig, axes = plt.subplots(1, 3, figsize=(9, 3.2), gridspec_kw={"width_ratios": [grid.shape[1], k + 2, out.shape[2]]})
    _matrix(axes[0], grid, f"zeros inserted (s - 1 = {stride - 1}), padded by k - 1 = {k - 1}",
            highlight=mask)
    _matrix(axes[1], rotated, "kernel rotated 180°", cmap="Greens")
    _matrix(axes[2], out[0, :, :, 0], "ordinary convolution, stride 1", cmap="Oranges")
    fig.tight_layout()
    return fig


def plot_overlap_maps(configs: dict[str, dict], n: int = 4):
    """Overlap maps (:func:`overlap_map`) side by side, one per ``{title: dict(k=, s=[, p=, output_padding=])}``."""
    fig, axes = plt.subplots(1, len(configs), figsize=(3.2 * len(configs), 3.5))
    for ax, (title, cfg) in zip(np.atleast_1d(axes), configs.items()):
        counts = overlap_map(n, **cfg)
        _matrix(ax, counts, "", cmap="Purples", vmax=counts.max())
        even = "even" if cfg["k"] % cfg["s"] == 0 else "uneven"
        size = arithmetic.transposed_conv_output_size(n, cfg["k"], cfg["s"], cfg.get("p", 0),
                                                      cfg.get("output_padding"))
        ax.set_title(f"{title}\n{n}x{n} -> {size}x{size}, {even} overlap", fontsize=9)
    fig.suptitle("how many input pixels write into each output pixel (all-ones input and kernel)", fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 0.93))
    return fig


def plot_image_row(images: dict[str, np.ndarray], cmap: str = "gray", share_scale: bool = False,
                   title: str = ""):
    """2-D images side by side (``{title: array}``); ``share_scale`` uses one colour range for all."""
    arrays = {k: np.asarray(v, dtype=float).squeeze() for k, v in images.items()}
    lo = min(a.min() for a in arrays.values()) if share_scale else None
    hi = max(a.max() for a in arrays.values()) if share_scale else None
    fig, axes = plt.subplots(1, len(arrays), figsize=(2.9 * len(arrays), 3.1))
    for ax, (label, a) in zip(np.atleast_1d(axes), arrays.items()):
        im = ax.imshow(a, cmap=cmap, vmin=lo, vmax=hi)
        ax.set_title(label, fontsize=9)
        bare(ax)
        if not share_scale:
            fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 0.93))
    return fig
