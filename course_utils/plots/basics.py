r"""Figures and equations of notebook 01 (convolution basics and arithmetic).

* :func:`output_size_equation` writes the output-size formula with the numbers
  filled in, as the course notes do (``3 = (5 + 2*1 - 3)/2 + 1``);
* :func:`plot_conv_step` is the notes' "behind the scenes" picture: the padded
  input with the kernel written as subscripts on the window of one output
  value, the kernel, and the output with that value highlighted;
* :func:`coverage_map` / :func:`plot_coverage` count how many output values
  read each input pixel: where padding helps the border and where a stride
  skips pixels altogether.

* :func:`plot_sliding_window` draws the padded input with the taps one output
  unit reads, next to the output grid (the explorer of this notebook redraws
  it at every slider move, so it is drawn with two images, not one patch per
  cell; :func:`course_utils.plots.backprop.plot_conv_connections` labels every
  tap with its weight instead).
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import ListedColormap
from matplotlib.patches import Rectangle

from course_utils import arithmetic, ops
from course_utils.plots.backprop import plot_matrix_row
from course_utils.plots._axes import bare

__all__ = [
    "coverage_map",
    "output_size_equation",
    "plot_conv_step",
    "plot_coverage",
    "plot_sliding_window",
]

#: Colours of the window on the input and of the output value it produces.
WINDOW_COLOR, PADDING_COLOR, OUTPUT_COLOR = "#9ecae1", "#eeeeee", "gold"


def output_size_equation(n: int, k: int, s: int = 1, p: arithmetic.Padding = 0, d: int = 1,
                         result_first: bool = True) -> str:
    """The output-size formula with the numbers in, result first, as in the course notes.

    >>> output_size_equation(5, 3, s=2, p=1)
    '3 = (5 + 2*1 - 3)/2 + 1'
    >>> output_size_equation(6, 3, s=2, p=1)     # not exact: the floor matters
    '3 = floor((6 + 2*1 - 3)/2) + 1'
    >>> output_size_equation(7, 3, d=2)          # a dilated kernel spans d*(k-1) + 1 pixels
    '3 = (7 + 2*0 - 5)/1 + 1   with k_eff = 2*(3-1) + 1 = 5'

    ``p`` may be anything :func:`course_utils.arithmetic.conv_output_size`
    accepts; ``"same"`` and asymmetric pairs are written as ``left + right``.
    ``result_first=False`` writes ``(5 + 2*1 - 3)/2 + 1 = 3`` instead.
    Raises ``ValueError`` (from the arithmetic) when the kernel does not fit.
    """
    n_out = arithmetic.conv_output_size(n, k, s, p, d)
    k_eff = arithmetic.effective_kernel(k, d)
    left, right = arithmetic.padding_pair(n, k, s, p, d)  # type: ignore[misc]
    pad = f"2*{left}" if left == right else f"({left} + {right})"
    inner = f"({n} + {pad} - {k_eff})/{s}"
    exact = (n + left + right - k_eff) % s == 0
    formula = f"{inner if exact else f'floor({inner})'} + 1"
    text = f"{n_out} = {formula}" if result_first else f"{formula} = {n_out}"
    if d != 1:
        text += f"   with k_eff = {d}*({k}-1) + 1 = {k_eff}"
    return text


def _grid_values(values) -> np.ndarray:
    """Integers print without a decimal point, other numbers with two decimals."""
    values = np.asarray(values, dtype=float)
    return np.array([[f"{v:.0f}" if float(v).is_integer() else f"{v:.2f}" for v in row] for row in values],
                    dtype=object)


def plot_conv_step(x, w, stride: int = 1, padding: int = 0, position: tuple[int, int] = (0, 0),
                   title: str | None = None):
    """One output value of a single-channel convolution (cross-correlation), drawn like the course notes.

    ``x`` is an ``(H, W)`` input, ``w`` a ``(k, k)`` kernel. The padded input
    shows the kernel weight of every tap as a subscript inside the window of
    output ``position`` (0-based ``(row, col)``); the output is computed with
    :func:`course_utils.ops.conv2d_forward` and the value at ``position`` is
    highlighted. Returns the figure.
    """
    x = np.asarray(x)
    w = np.asarray(w)
    if x.ndim != 2 or w.ndim != 2 or w.shape[0] != w.shape[1]:
        raise ValueError(f"plot_conv_step draws one channel: x must be (H, W) and w (k, k); "
                         f"got x {x.shape} and w {w.shape}")
    k = w.shape[0]
    out, _ = ops.conv2d_forward(x[None, :, :, None], w[:, :, None, None], None, stride=stride, padding=padding)
    out = out[0, :, :, 0]
    row, col = position
    if not (0 <= row < out.shape[0] and 0 <= col < out.shape[1]):
        raise ValueError(f"position {position} is outside the {out.shape[0]}x{out.shape[1]} output")
    xp = np.pad(x, padding)
    labels = _grid_values(xp)
    colors = [[PADDING_COLOR if not (padding <= r < padding + x.shape[0] and padding <= c < padding + x.shape[1])
               else None for c in range(xp.shape[1])] for r in range(xp.shape[0])]
    top, left = row * stride, col * stride
    weights = _grid_values(w)
    for a in range(k):
        for b in range(k):
            labels[top + a, left + b] = f"{labels[top + a, left + b]}$_{{{weights[a, b]}}}$"
            colors[top + a][left + b] = WINDOW_COLOR
    out_colors = [[OUTPUT_COLOR if (r, c) == (row, col) else None for c in range(out.shape[1])]
                  for r in range(out.shape[0])]
    pad_text = f"padding {padding}, " if padding else ""
    fig = plot_matrix_row(
        [(labels, f"input ({pad_text}kernel as subscripts)", colors),
         (weights, "kernel"),
         (_grid_values(out), f"output (stride {stride})", out_colors)],
        operators=["⋆", "="],
        title=title,
    )
    return fig


def coverage_map(n: int, k: int, s: int = 1, p: arithmetic.Padding = 0, d: int = 1) -> np.ndarray:
    """How many output values read each pixel of an ``n x n`` input (an ``(n, n)`` int array).

    It is the backward pass of the convolution with all-ones weights and
    output gradients: every output value sends 1 to each pixel it read. Zeros
    mark pixels the convolution never looks at (a stride larger than the
    kernel, or a kernel that does not reach the last rows).
    """
    x = np.zeros((1, n, n, 1))
    w = np.ones((k, k, 1, 1))
    out, cache = ops.conv2d_forward(x, w, None, stride=s, padding=p, dilation=d)
    dx, _, _ = ops.conv2d_backward(np.ones_like(out), cache)
    return np.rint(dx[0, :, :, 0]).astype(int)


def plot_coverage(configs: dict[str, dict], n: int = 7):
    """Coverage maps (see :func:`coverage_map`) side by side, one per ``{title: dict(k=, s=, p=, d=)}``."""
    fig, axes = plt.subplots(1, len(configs), figsize=(2.9 * len(configs), 3.2))
    axes = np.atleast_1d(axes)
    for ax, (name, cfg) in zip(axes, configs.items()):
        counts = coverage_map(n, **cfg)
        top = max(int(counts.max()), 1)
        ax.imshow(counts, cmap="Blues", vmin=0, vmax=top)
        for (r, c), v in np.ndenumerate(counts):
            color = "crimson" if v == 0 else ("white" if v > top / 2 else "black")
            ax.text(c, r, str(v), ha="center", va="center", fontsize=8, color=color,
                    fontweight="bold" if v == 0 else None)
        m = arithmetic.conv_output_size(n, cfg["k"], cfg.get("s", 1), cfg.get("p", 0), cfg.get("d", 1))
        ax.set_title(f"{name}\n{n}x{n} -> {m}x{m}", fontsize=10)
        bare(ax)
    fig.suptitle("how many output values read each input pixel (red 0: never read)", fontsize=11)
    fig.tight_layout()
    return fig


#: Cell colours of :func:`plot_sliding_window`: input, padding, tap of the window, output, chosen output.
_WINDOW_CMAP = ListedColormap(["#ffffff", PADDING_COLOR, WINDOW_COLOR, "#ffffff", OUTPUT_COLOR])


def _grid(ax, values: np.ndarray, title: str) -> None:
    rows, cols = values.shape
    ax.imshow(values, cmap=_WINDOW_CMAP, vmin=0, vmax=len(_WINDOW_CMAP.colors) - 1, interpolation="nearest")
    ax.hlines(np.arange(rows + 1) - 0.5, -0.5, cols - 0.5, color="#555555", lw=0.8)
    ax.vlines(np.arange(cols + 1) - 0.5, -0.5, rows - 0.5, color="#555555", lw=0.8)
    ax.set_xlim(-0.6, cols - 0.4)
    ax.set_ylim(rows - 0.4, -0.6)
    bare(ax)
    ax.set_title(title, fontsize=10)
    for side in ax.spines.values():
        side.set_visible(False)


def plot_sliding_window(n: int, k: int, s: int = 1, p: int = 0, d: int = 1, unit: tuple[int, int] = (0, 0)):
    """The padded ``n x n`` input with the taps output ``unit`` reads, and the output grid.

    Padding is grey, the ``k x k`` taps (``d`` apart) blue inside an outline of
    the window's span, the output value gold. ``unit`` is 0-based ``(row,
    col)``. Raises ``ValueError`` when the kernel does not fit.
    """
    m = arithmetic.conv_output_size(n, k, s, p, d)
    row, col = unit
    if not (0 <= row < m and 0 <= col < m):
        raise ValueError(f"unit {unit} is outside the {m}x{m} output")
    size = n + 2 * p
    cells = np.ones((size, size))                     # padding
    cells[p:p + n, p:p + n] = 0                        # the input itself
    top, left = row * s, col * s
    span = arithmetic.effective_kernel(k, d)
    cells[top:top + span:d, left:left + span:d] = 2   # the taps
    out = np.full((m, m), 3.0)
    out[row, col] = 4
    fig, (ax_in, ax_out) = plt.subplots(1, 2, figsize=(2.2 + 0.32 * (size + m), 0.7 + 0.32 * max(size, 4)),
                                        gridspec_kw={"width_ratios": [size, max(m, 1)]})
    pad_text = f", padding {p}" if p else ""
    _grid(ax_in, cells, f"input {n}x{n}{pad_text}")
    ax_in.add_patch(Rectangle((left - 0.5, top - 0.5), span, span, fill=False, edgecolor="#08519c", lw=2))
    _grid(ax_out, out, f"output {m}x{m}")
    fig.suptitle(f"output ({row + 1}, {col + 1}) reads a {k}x{k} kernel"
                 + (f" with dilation {d} (span {span})" if d > 1 else "") + (f", stride {s}" if s > 1 else ""),
                 fontsize=10)
    fig.tight_layout()
    return fig
