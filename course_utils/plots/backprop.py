r"""Figures and equations of notebook 07 (backprop through convolution).

The index arithmetic of one convolution layer lives in :func:`conv_taps`: which
input pixel and which weight every output pixel reads. Everything else here is a
view of that list:

* :func:`forward_equations`, :func:`weight_gradient_equations` and
  :func:`input_gradient_equations` write the equations of the lecture (in LaTeX,
  1-based subscripts like the lecture: :math:`h^{l}_{11}`), for any input size,
  kernel, stride, padding and dilation;
* :func:`plot_conv_connections` draws the same connections for one output pixel
  (forward: what it reads) or one input pixel (backward: which outputs send it
  gradient, through which weight);
* :func:`plot_matrix_row` draws small matrices side by side with operators
  between them (``X * W = H``), used for the worked examples, max-pool routing
  and im2col.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Rectangle

from course_utils import arithmetic

__all__ = [
    "Tap",
    "conv_taps",
    "forward_equations",
    "input_gradient_equations",
    "latex_block",
    "plot_conv_connections",
    "plot_im2col",
    "plot_implementation_timings",
    "plot_matrix_row",
    "plot_maxpool_routing",
    "weight_gradient_equations",
]

#: How the three arrays of a layer are written (the lecture's notation).
INPUT, WEIGHT, OUTPUT = "h^{l-1}", "w^{l}", "h^{l}"


@dataclass(frozen=True)
class Tap:
    """One term of the forward sum: output ``out`` reads input ``inp`` through weight ``weight``.

    Positions are 0-based ``(row, col)``; ``inp`` is in *unpadded* input
    coordinates, so a tap that reads the zero padding has ``padded=True`` and an
    ``inp`` outside ``[0, n)``.
    """

    out: tuple[int, int]
    inp: tuple[int, int]
    weight: tuple[int, int]
    padded: bool


def conv_taps(n: int, k: int, stride: int = 1, padding: int = 0, dilation: int = 1) -> list[Tap]:
    """Every (output, input, weight) connection of an ``n x n`` -> ``m x m`` convolution.

    Output ``(y, x)`` reads input ``(y*s - p + a*d, x*s - p + b*d)`` with weight
    ``(a, b)`` (cross-correlation, as in every deep-learning library).
    """
    m = arithmetic.conv_output_size(n, k, stride, padding, dilation)
    taps = []
    for y in range(m):
        for x in range(m):
            for a in range(k):
                for b in range(k):
                    i, j = y * stride - padding + a * dilation, x * stride - padding + b * dilation
                    taps.append(Tap((y, x), (i, j), (a, b), not (0 <= i < n and 0 <= j < n)))
    return taps


def _sub(name: str, pos: tuple[int, int]) -> str:
    """``h^{l}`` and (0, 1) -> ``h^{l}_{12}`` (1-based; commas once an index has two digits)."""
    i, j = pos[0] + 1, pos[1] + 1
    return f"{name}_{{{i}{j}}}" if max(i, j) < 10 else f"{name}_{{{i},{j}}}"


def _grad(name: str, pos: tuple[int, int], error: str = "E") -> str:
    return rf"\frac{{\partial {error}}}{{\partial {_sub(name, pos)}}}"


def forward_equations(n: int = 3, k: int = 2, stride: int = 1, padding: int = 0, dilation: int = 1,
                      bias: bool = True) -> list[tuple[str, str]]:
    """``(lhs, rhs)`` LaTeX pairs: one forward equation per output pixel (padding terms dropped)."""
    rows: dict[tuple[int, int], list[str]] = {}
    for t in conv_taps(n, k, stride, padding, dilation):
        terms = rows.setdefault(t.out, [])
        if not t.padded:
            terms.append(f"{_sub(WEIGHT, t.weight)} {_sub(INPUT, t.inp)}")
    return [(_sub(OUTPUT, out), " + ".join(terms + (["b"] if bias else [])) or "0")
            for out, terms in rows.items()]


def weight_gradient_equations(n: int = 3, k: int = 2, stride: int = 1, padding: int = 0,
                              dilation: int = 1) -> list[tuple[str, str]]:
    r"""``dE/dw_ab = sum over outputs of dE/dh_yx * (the input that w_ab met there)``."""
    rows: dict[tuple[int, int], list[str]] = {}
    for t in sorted(conv_taps(n, k, stride, padding, dilation), key=lambda t: t.weight):
        terms = rows.setdefault(t.weight, [])
        if not t.padded:
            terms.append(f"{_grad(OUTPUT, t.out)} {_sub(INPUT, t.inp)}")
    return [(_grad(WEIGHT, w), " + ".join(terms) or "0") for w, terms in rows.items()]


def input_gradient_equations(n: int = 3, k: int = 2, stride: int = 1, padding: int = 0, dilation: int = 1,
                             pixels: Sequence[tuple[int, int]] | None = None,
                             show_zeros: bool = False) -> list[tuple[str, str]]:
    r"""``dE/dh^{l-1}_ij = sum of dE/dh^l_yx * w_ab`` over the outputs that read pixel ``(i, j)``.

    ``pixels`` picks some input pixels (0-based; default all). With
    ``show_zeros`` every output appears, the ones that do not read the pixel
    multiplied by 0, as in the lecture's first step.
    """
    taps = conv_taps(n, k, stride, padding, dilation)
    m = arithmetic.conv_output_size(n, k, stride, padding, dilation)
    pixels = [(i, j) for i in range(n) for j in range(n)] if pixels is None else list(pixels)
    lines = []
    for pix in pixels:
        weight_of = {t.out: t.weight for t in taps if t.inp == pix and not t.padded}
        terms = []
        for out in [(y, x) for y in range(m) for x in range(m)]:
            if out in weight_of:
                terms.append(f"{_grad(OUTPUT, out)} {_sub(WEIGHT, weight_of[out])}")
            elif show_zeros:
                terms.append(f"{_grad(OUTPUT, out)} \\cdot 0")
        lines.append((_grad(INPUT, pix), " + ".join(terms) or "0"))
    return lines


def latex_block(lines: Sequence[tuple[str, str]]) -> str:
    """Aligned display math (``$$\\begin{aligned}...``) for ``(lhs, rhs)`` pairs; Markdown-ready."""
    body = r" \\ ".join(f"{lhs} &= {rhs}" for lhs, rhs in lines)
    return f"$$\\begin{{aligned}} {body} \\end{{aligned}}$$"


# ----------------------------------------------------------------------------- matrices
def _format(value) -> str:
    if isinstance(value, str):
        return value
    value = float(value)
    return f"{value:.0f}" if value.is_integer() else f"{value:.2f}"


def _draw_matrix(ax, values, title: str, colors=None, hatch=None, fontsize: float = 11) -> None:
    values = np.asarray(values, dtype=object)
    rows, cols = values.shape
    for r in range(rows):
        for c in range(cols):
            face = "white" if colors is None or colors[r][c] is None else colors[r][c]
            ax.add_patch(Rectangle((c, r), 1, 1, facecolor=face, edgecolor="black", lw=1,
                                   hatch="//" if hatch is not None and hatch[r][c] else None))
            ax.text(c + 0.5, r + 0.5, _format(values[r, c]), ha="center", va="center", fontsize=fontsize)
    ax.set_xlim(-0.05, cols + 0.05)
    ax.set_ylim(rows + 0.05, -0.05)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_title(title, fontsize=fontsize + 1)


def plot_matrix_row(items: Sequence[tuple], operators: Sequence[str] = (), fontsize: float = 11,
                    title: str | None = None):
    """Small matrices side by side, e.g. ``[(X, "$H^{l-1}$"), (W, "$W^l$"), (H, "$H^l$")]``.

    Each item is ``(values, title)`` or ``(values, title, colors)`` where
    ``colors`` is a same-shaped nested list of matplotlib colours (``None`` =
    white). ``values`` may hold numbers or strings (mathtext allowed).
    ``operators[i]`` is written between item ``i`` and ``i + 1``.
    """
    sizes = [np.asarray(item[0], dtype=object).shape for item in items]
    widths = []
    for i, (_, cols) in enumerate(sizes):
        widths.append(cols)
        if i < len(items) - 1:
            widths.append(0.8)
    height = max(r for r, _ in sizes)
    fig, axes = plt.subplots(1, len(widths), figsize=(0.75 * sum(widths) + 0.5, 0.75 * height + 0.9),
                             gridspec_kw={"width_ratios": widths})
    axes = np.atleast_1d(axes)
    for i, item in enumerate(items):
        values, name = item[0], item[1]
        colors = item[2] if len(item) > 2 else None
        _draw_matrix(axes[2 * i], values, name, colors, fontsize=fontsize)
        if i < len(items) - 1:
            op_ax = axes[2 * i + 1]
            op_ax.axis("off")
            op_ax.text(0.5, 0.5, operators[i] if i < len(operators) else "", ha="center", va="center",
                       fontsize=fontsize + 7)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_maxpool_routing(x, dout, pool: int = 2):
    """Max-pool backprop on one channel: input (winners shaded), switch mask, ``dE/dH^l``, ``dE/dH^{l-1}``.

    Computed with :mod:`course_utils.ops` (``max_pool_forward`` / ``max_pool_backward``).
    """
    from course_utils.ops import max_pool_backward, max_pool_forward

    x = np.asarray(x, dtype=float)
    out, cache = max_pool_forward(x[None, :, :, None], pool)
    mask = max_pool_backward(np.ones_like(out), cache)[0, :, :, 0]
    dx = max_pool_backward(np.asarray(dout, float)[None, :, :, None], cache)[0, :, :, 0]
    window = plt.get_cmap("Pastel1")
    shade = [[window((r // pool) * out.shape[2] + c // pool) if mask[r, c] else None
              for c in range(x.shape[1])] for r in range(x.shape[0])]
    return plot_matrix_row(
        [(x, r"$H^{l-1}$ (winners shaded)", shade), (out[0, :, :, 0], r"$H^l$ = max-pool"),
         (mask, r"$\partial H^l / \partial H^{l-1}$", shade), (np.asarray(dout), r"$\partial E/\partial H^l$"),
         (dx, r"$\partial E/\partial H^{l-1}$", shade)],
        operators=["→", "", "", "→"])


def plot_im2col(n: int = 3, k: int = 2):
    """Serialisation of an ``n x n`` input: each ``k x k`` receptive field becomes one row.

    The convolution is then one matrix product: rows @ (flattened kernel) = output pixels.
    """
    from course_utils.ops import im2col

    index = np.arange(n * n, dtype=float).reshape(1, n, n, 1)
    cols = im2col(index, k).astype(int)
    m = arithmetic.conv_output_size(n, k)
    labels = np.array([[f"${_sub('h', (i // n, i % n))}$" for i in row] for row in cols], dtype=object)
    palette = plt.get_cmap("Pastel1")
    row_colors = [[palette(r % 9)] * cols.shape[1] for r in range(cols.shape[0])]
    grid = np.array([[f"${_sub('h', (i, j))}$" for j in range(n)] for i in range(n)], dtype=object)
    kernel = np.array([[f"${_sub('w', (a, b))}$"] for a in range(k) for b in range(k)], dtype=object)
    outputs = np.array([[f"${_sub('h', (y, x))}$"] for y in range(m) for x in range(m)], dtype=object)
    return plot_matrix_row([(grid, r"input $H^{l-1}$"),
                            (labels, "im2col: one row per output pixel", row_colors),
                            (kernel, "kernel\nas a column"),
                            (outputs, "output\npixels", [[c[0]] for c in row_colors])],
                           operators=["→", "@", "="], fontsize=10)


def plot_implementation_timings(table):
    """Horizontal bars of a timing table with columns ``implementation`` and ``seconds`` (log scale)."""
    fig, ax = plt.subplots(figsize=(6.5, 0.5 * len(table) + 1.2))
    ax.barh(table["implementation"], table["seconds"], color="tab:blue")
    ax.set_xscale("log")
    ax.invert_yaxis()
    ax.set_xlabel("seconds (forward + backward, log scale)")
    for y, s in enumerate(table["seconds"]):
        ax.text(s, y, f" {s:.3g} s", va="center")
    fig.tight_layout()
    return fig


# ----------------------------------------------------------------------------- connections
def plot_conv_connections(n: int = 3, k: int = 2, stride: int = 1, padding: int = 0, dilation: int = 1,
                          output: tuple[int, int] | None = None, input: tuple[int, int] | None = None):
    """Input (with its padding), kernel and output grids of one convolution.

    ``output=(y, x)``: the input pixels that output reads, each coloured like the
    weight that multiplies it (the forward pass). ``input=(i, j)``: the outputs
    that read that input pixel, each coloured like the weight on the path (the
    way its gradient comes back). Positions are 0-based.
    """
    taps = conv_taps(n, k, stride, padding, dilation)
    m = arithmetic.conv_output_size(n, k, stride, padding, dilation)
    palette = plt.get_cmap("tab10" if k * k <= 10 else "tab20")

    def weight_color(w):
        return palette((w[0] * k + w[1]) % palette.N)

    size = n + 2 * padding
    in_colors = [[None] * size for _ in range(size)]
    in_hatch = [[not (padding <= r < padding + n and padding <= c < padding + n) for c in range(size)]
                for r in range(size)]
    w_colors = [[None] * k for _ in range(k)]
    out_colors = [[None] * m for _ in range(m)]
    if output is not None:
        for t in taps:
            if t.out == tuple(output):
                in_colors[t.inp[0] + padding][t.inp[1] + padding] = weight_color(t.weight)
                w_colors[t.weight[0]][t.weight[1]] = weight_color(t.weight)
        out_colors[output[0]][output[1]] = "gold"
    if input is not None:
        in_colors[input[0] + padding][input[1] + padding] = "gold"
        for t in taps:
            if t.inp == tuple(input):
                out_colors[t.out[0]][t.out[1]] = weight_color(t.weight)
                w_colors[t.weight[0]][t.weight[1]] = weight_color(t.weight)

    labelled = size <= 8 and m <= 8
    in_labels = np.array([[("0" if in_hatch[r][c] else f"${_sub('h', (r - padding, c - padding))}$")
                           if labelled else "" for c in range(size)] for r in range(size)], dtype=object)
    w_labels = np.array([[f"${_sub('w', (a, b))}$" for b in range(k)] for a in range(k)], dtype=object)
    out_labels = np.array([[f"${_sub('h', (y, x))}$" if labelled else "" for x in range(m)] for y in range(m)],
                          dtype=object)
    widths = [size, 0.6, k, 0.6, m]
    fig, axes = plt.subplots(1, 5, figsize=(0.6 * sum(widths) + 1.5, 0.6 * max(size, k, m) + 1.2),
                             gridspec_kw={"width_ratios": widths})
    _draw_matrix(axes[0], in_labels, r"input $H^{l-1}$" + (f" (padding {padding})" if padding else ""),
                 in_colors, in_hatch, fontsize=9)
    _draw_matrix(axes[2], w_labels, r"kernel $W^l$", w_colors, fontsize=9)
    _draw_matrix(axes[4], out_labels, r"output $H^l$", out_colors, fontsize=9)
    for ax, op in ((axes[1], "⋆"), (axes[3], "=")):
        ax.axis("off")
        ax.text(0.5, 0.5, op, ha="center", va="center", fontsize=18)
    if output is not None:
        fig.suptitle(f"forward: output {_plain(output)} reads the coloured inputs")
    elif input is not None:
        count = sum(1 for t in taps if t.inp == tuple(input))
        fig.suptitle(f"backward: input {_plain(input)} gets gradient from {count} output(s)")
    fig.tight_layout()
    return fig


def _plain(pos: tuple[int, int]) -> str:
    return f"({pos[0] + 1},{pos[1] + 1})"
