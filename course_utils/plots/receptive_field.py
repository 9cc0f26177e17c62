r"""Figures and worked lines of notebook 02 (receptive fields).

Every number here comes from :mod:`course_utils.receptive_field` (the
``n_out / jump / rf / start`` recurrences) or from a gradient measured by
:func:`course_utils.receptive_field.empirical_receptive_field`:

* :func:`walkthrough_lines` writes the recurrences with the numbers filled in,
  one line per layer, like the course notes (``RF = 5 + (2-1)*1 = 6``);
* :func:`plot_rf_stack` draws a stack along one axis: the units of every layer
  at their positions in the input, and the cone of units one output depends on;
* :func:`plot_rf_boxes` draws receptive fields as squares on an image;
* :func:`plot_rf_growth` compares how fast the RF grows in several stacks;
* :func:`plot_effective_rf` shows gradient maps (effective receptive fields)
  next to the theoretical box, with their profile through the centre;
* :func:`effective_rf_spread` and :func:`effective_rf_size` summarise a gradient
  map by its standard deviation and by the square that holds most of it
  (:func:`effective_rf_table`: both for several maps, next to the theoretical RF);
  :func:`plot_rf_vs_erf` plots them against depth;
* :func:`plot_filters` and :func:`plot_feature_maps` show what a trained first layer
  learned (Zeiler & Fergus 2014): its kernels as images, and its outputs on one image.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Rectangle

from course_utils import receptive_field as rfm
from course_utils.plots.basics import output_size_equation
from course_utils.spec import WINDOW_KINDS
from course_utils.plots._axes import bare, figure_and_axis

__all__ = [
    "SampleImage",
    "effective_rf_size",
    "effective_rf_spread",
    "effective_rf_table",
    "filter_images",
    "plot_effective_rf",
    "plot_feature_maps",
    "plot_filters",
    "plot_rf_boxes",
    "plot_rf_growth",
    "plot_rf_stack",
    "plot_rf_vs_erf",
    "rf_cone",
    "sample_image",
    "walkthrough_lines",
]

#: Kinds that leave the grid, the jump and the RF alone (drawn as nothing).
_PASS_KINDS = frozenset({"neutral", "batchnorm"})


def _num(v: Any) -> str:
    """Fractions and floats as short text: ``2``, ``2.5``."""
    if v is None:
        return "?"
    if isinstance(v, Fraction):
        return str(v.numerator) if v.denominator == 1 else f"{float(v):g}"
    return f"{v:g}" if isinstance(v, float) else str(v)


def _chain(model_or_layers: Any, input_size: Any) -> rfm.RFAnalysis:
    analysis = rfm.analyse(model_or_layers, input_size)
    if not analysis.network.is_chain():
        raise ValueError("this view follows one path: give a chain of layers (no branches)")
    return analysis


# ============================================================================ an image to draw on
@dataclass(frozen=True)
class SampleImage:
    """A 2-D grey image in [0, 1] and a sentence saying where it comes from."""

    pixels: np.ndarray
    source: str


def sample_image(index: int = 0) -> SampleImage:
    """Fashion-MNIST test image ``index`` (28x28) when the dataset is available, else a synthetic 28x28 image.

    The dataset comes through :func:`course_utils.data.load_dataset` (offline
    mirror or Keras cache); when it cannot be had the image is a drawn boot-like
    shape, and ``source`` says so.
    """
    from course_utils import data

    try:
        _, (x, y) = data.load_dataset("fashion_mnist")
    except data.DatasetUnavailable:
        rows, cols = np.mgrid[0:28, 0:28]
        img = ((rows > 6) & (rows < 22) & (cols > 8) & (cols < 15)).astype(float)   # shaft
        img += ((rows >= 17) & (rows < 23) & (cols > 8) & (cols < 24)).astype(float)  # foot
        img += 0.4 * np.exp(-((rows - 12) ** 2 + (cols - 19) ** 2) / 8.0)          # a blob
        return SampleImage(np.clip(img, 0, 1), "a synthetic 28x28 image (Fashion-MNIST is not available here)")
    name = data.info("fashion_mnist").class_names[int(y[index])]
    return SampleImage(x[index].astype(float) / 255.0, f"Fashion-MNIST test image {index} ({name})")


# ============================================================================ worked lines
def walkthrough_lines(model_or_layers: Any, input_size: int | tuple[int, int] | None = None) -> list[str]:
    """The recurrences with the numbers in, one line per layer (height axis).

    >>> walkthrough_lines(["conv3", "pool2"], input_size=8)[1]
    'pool2: n_out = (6 + 2*0 - 2)/2 + 1 = 3 | jump = 1*2 = 2 | RF = 3 + (2-1)*1 = 4 | start = 1 + ((2-1)/2 - 0)*1 = 1.5'

    Window layers (convolution, pooling) get the four formulas of the course
    notes, with ``k`` the effective kernel ``d*(k-1) + 1`` of a dilated layer and
    ``p`` the padding before the input; layers that keep the grid say so.
    """
    analysis = _chain(model_or_layers, input_size)
    net = analysis.network
    lines = []
    for spec in net:
        if spec.kind == "input":
            continue
        prev = net[spec.inputs[0]]
        a, b = analysis[prev.name].h, analysis[spec.name].h
        if spec.kind in WINDOW_KINDS:
            k, s = spec.effective_kernel[0], spec.stride[0]
            pad = spec.padding_before(0, a.n)
            if a.n is None:
                n_part = "n_out = ?"
            else:
                n_part = "n_out = " + output_size_equation(a.n, spec.kernel[0], s, spec.axis_padding(0),
                                                           spec.dilation[0], result_first=False)
            start = "?" if b.start is None else (
                f"{_num(a.start)} + (({k}-1)/2 - {_num(pad)})*{_num(a.jump)} = {_num(b.start)}")
            lines.append(f"{spec.name}: {n_part} | jump = {_num(a.jump)}*{s} = {_num(b.jump)} | "
                         f"RF = {_num(a.rf)} + ({k}-1)*{_num(a.jump)} = {_num(b.rf)} | start = {start}")
        elif spec.kind in _PASS_KINDS:
            lines.append(f"{spec.name}: keeps n_out = {_num(b.n)}, jump = {_num(b.jump)}, RF = {_num(b.rf)}")
        else:
            whole = " (sees the whole input)" if analysis[spec.name].whole else ""
            lines.append(f"{spec.name}: n_out = {_num(b.n)}, jump = {_num(b.jump)}, RF = {_num(b.rf)}{whole}")
    return lines


# ============================================================================ 1-D stack
def _levels(analysis: rfm.RFAnalysis) -> list:
    """The input and the convolution / pooling layers of a chain (activations, batch norm skipped)."""
    net = analysis.network
    other = [s.name for s in net if s.kind != "input" and s.kind not in WINDOW_KINDS and s.kind not in _PASS_KINDS]
    if other:
        raise ValueError(f"only convolution and pooling layers have a cone; not {', '.join(other)}")
    return [s for s in net if s.kind == "input" or s.kind in WINDOW_KINDS]


def _cone(analysis: rfm.RFAnalysis, levels: list, unit: int | None):
    """``(unit, needed, edges)``: per level, the units the top unit depends on and the (output, input) taps."""
    top = analysis[levels[-1].name].h
    if top.n is None:
        raise ValueError("pass input_size: the cone needs to know how many units each layer has")
    unit = (top.n - 1) // 2 if unit is None else unit
    if not 0 <= unit < top.n:
        raise ValueError(f"unit {unit} is outside the {top.n} outputs of {levels[-1].name!r}")
    needed: list[set[int]] = [set() for _ in levels]
    needed[-1] = {unit}
    edges: list[list[tuple[int, int]]] = [[] for _ in levels]
    for li in range(len(levels) - 1, 0, -1):
        spec = levels[li]
        pad = spec.padding_before(0, analysis[levels[li - 1].name].h.n) or 0
        for o in sorted(needed[li]):
            if 0 <= o < analysis[spec.name].h.n:  # padding units read nothing
                taps = [o * spec.stride[0] - pad + t * spec.dilation[0] for t in range(spec.kernel[0])]
                edges[li] += [(o, i) for i in taps]
                needed[li - 1].update(taps)
    return unit, needed, edges


def rf_cone(model_or_layers: Any, input_size: int, unit: int | None = None) -> list[tuple[str, list[int]]]:
    """The units output ``unit`` of the last layer depends on, layer by layer, along one axis (height).

    Returns ``[(layer name, sorted unit indices), ...]`` from the input up to
    the last layer (default unit: the central one). Indices outside
    ``[0, n)`` are taps that fall into a layer's padding. The input entry,
    cut to the image, is the receptive field.

    >>> rf_cone(["conv3", "conv3"], input_size=7, unit=0)[0]
    ('input', [0, 1, 2, 3, 4])
    """
    analysis = _chain(model_or_layers, input_size)
    levels = _levels(analysis)
    _, needed, _ = _cone(analysis, levels, unit)
    return [(spec.name, sorted(units)) for spec, units in zip(levels, needed)]


def plot_rf_stack(model_or_layers: Any, input_size: int, unit: int | None = None, ax=None):
    """One axis of a stack: every layer's units placed at their centres in input pixels.

    Starting from output ``unit`` of the last layer (default: the central one),
    the units it depends on (:func:`rf_cone`) are coloured layer by layer down
    to the input, taps that fall into the padding are drawn hollow, and each
    level is labelled with its ``n_out``, ``jump`` and ``RF``. Only convolution /
    pooling layers are drawn; activations and batch norm are passed through.
    Returns the figure.
    """
    analysis = _chain(model_or_layers, input_size)
    levels = _levels(analysis)
    unit, needed, edges = _cone(analysis, levels, unit)

    def x_of(li: int, i: int) -> float:
        a = analysis[levels[li].name].h
        return float(a.start + i * a.jump)

    width = max(input_size, 6)
    fig, ax = figure_and_axis(ax, (min(0.55 * width + 4.5, 16), 0.9 * len(levels) + 1.0))
    padded = False
    for li, spec in enumerate(levels):
        a = analysis[spec.name].h
        for o, i in edges[li]:
            ax.plot([x_of(li, o), x_of(li - 1, i)], [li, li - 1], color="#6baed6", lw=1, zorder=1)
        xs = [x_of(li, i) for i in range(a.n)]
        ax.scatter(xs, [li] * len(xs), s=40, color="#d9d9d9", edgecolor="grey", zorder=2)
        real = [i for i in needed[li] if 0 <= i < a.n]
        pads = [i for i in needed[li] if not 0 <= i < a.n]
        ax.scatter([x_of(li, i) for i in real], [li] * len(real), s=60, color="#08519c", zorder=3)
        if pads:
            ax.scatter([x_of(li, i) for i in pads], [li] * len(pads), s=60, facecolor="white",
                       edgecolor="#08519c", zorder=3, label=None if padded else "padding (zeros)")
            padded = True
        label = "input" if spec.kind == "input" else spec.name
        ax.text(1.01, li, f"{label}: n={a.n}, jump={_num(a.jump)}, RF={_num(a.rf)}",
                transform=ax.get_yaxis_transform(), va="center", fontsize=9)
    lo, hi = min(min(needed[0]), 0), max(max(needed[0]), input_size - 1)
    ax.set_xlim(lo - 0.8, hi + 0.8)
    ax.set_ylim(-0.6, len(levels) - 0.4)
    ax.set_yticks([])
    ax.set_xticks(range(input_size))
    ax.set_xlabel("input pixel")
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    rf_top = analysis[levels[-1].name].h.rf
    ax.set_title(f"unit {unit} of {levels[-1].name} sees {_num(rf_top)} input pixels", fontsize=10)
    if padded:
        ax.legend(loc="upper left", fontsize=8, frameon=False)
    fig.tight_layout()
    return fig


# ============================================================================ boxes on an image
def plot_rf_boxes(image: Any, model_or_layers: Any = None, layers: Sequence[str] | None = None,
                  unit: tuple[int, int] | None = None, analysis: rfm.RFAnalysis | None = None,
                  show_centres: bool = False, ax=None, title: str | None = None):
    """Receptive fields of one output unit of several layers, drawn as squares on ``image``.

    ``image`` is ``(H, W)`` or ``(H, W, C)``; the network's input must have
    that size. ``layers`` defaults to every convolution / pooling layer;
    ``unit`` (default: each layer's central unit) is passed to
    :meth:`RFAnalysis.box`. Boxes may reach beyond the image into the padding
    (the area outside the image is shaded). ``show_centres`` marks the centres
    of all units of the last listed layer: their spacing is the jump. Grey
    images are drawn from 0 (black) to 1 (white), or to their maximum if larger.
    """
    image = np.asarray(image)
    if analysis is None:
        analysis = rfm.analyse(model_or_layers, image.shape[:2])
    net = analysis.network
    if layers is None:
        layers = [s.name for s in net if s.kind in WINDOW_KINDS]
    boxes = [(name, analysis.box(name, unit)) for name in layers]
    fig, ax = figure_and_axis(ax, (5.2, 5.2))
    h, w = image.shape[:2]
    lo_r = min([-0.5] + [float(b[0]) - 0.5 for _, b in boxes])
    lo_c = min([-0.5] + [float(b[1]) - 0.5 for _, b in boxes])
    hi_r = max([h - 0.5] + [float(b[2]) + 0.5 for _, b in boxes])
    hi_c = max([w - 0.5] + [float(b[3]) + 0.5 for _, b in boxes])
    ax.add_patch(Rectangle((lo_c, lo_r), hi_c - lo_c, hi_r - lo_r, facecolor="#f0f0f0", hatch="//",
                           edgecolor="#cccccc", lw=0, zorder=0))
    grey = image.ndim == 2 or image.shape[-1] == 1
    ax.imshow(image.squeeze(), cmap="gray" if grey else None, vmin=0 if grey else None,
              vmax=max(1.0, float(image.max())) if grey else None, extent=(-0.5, w - 0.5, h - 0.5, -0.5), zorder=1)
    colors = plt.get_cmap("autumn" if len(boxes) > 1 else "Reds")(np.linspace(0, 0.85, max(len(boxes), 1)))
    for (name, (top, left, bottom, right)), color in zip(boxes, colors):
        size = f"{_num(bottom - top + 1)}x{_num(right - left + 1)}"
        ax.add_patch(Rectangle((float(left) - 0.5, float(top) - 0.5), float(right - left + 1),
                               float(bottom - top + 1), fill=False, edgecolor=color, lw=2.2, zorder=3,
                               label=f"{name}: RF {size}"))
    if show_centres and layers:
        f = analysis[layers[-1]]
        if not f.whole and None not in (f.h.n, f.w.n, f.h.start, f.w.start):
            rows = [float(f.h.start + i * f.h.jump) for i in range(f.h.n)]
            cols = [float(f.w.start + j * f.w.jump) for j in range(f.w.n)]
            rr, cc = np.meshgrid(rows, cols, indexing="ij")
            ax.scatter(cc.ravel(), rr.ravel(), s=9, color="cyan", zorder=4,
                       label=f"unit centres of {layers[-1]} (jump {_num(f.h.jump)})")
    ax.set_xlim(lo_c, hi_c)
    ax.set_ylim(hi_r, lo_r)
    ax.set_aspect("equal")
    bare(ax)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=8, frameon=False)
    ax.set_title(title or f"receptive fields on a {h}x{w} input", fontsize=10)
    fig.tight_layout()
    return fig


# ============================================================================ growth with depth
def plot_rf_growth(stacks: dict[str, Any], input_size: int | tuple[int, int] | None = None, ax=None):
    """RF after each layer for several stacks (``{label: layers}``), one line each.

    Layers that keep the RF (activations, batch norm) are skipped, so the x axis
    counts convolution / pooling layers.
    """
    fig, ax = figure_and_axis(ax, (7, 4))
    for label, layers in stacks.items():
        analysis = _chain(layers, input_size)
        specs = [s for s in analysis.network if s.kind == "input" or s.kind in WINDOW_KINDS]
        rfs = [float(analysis[s.name].h.rf) for s in specs]
        line, = ax.plot(range(len(rfs)), rfs, marker="o", label=f"{label} (RF {_num(analysis[specs[-1].name].h.rf)})")
        for i, s in enumerate(specs):
            if s.kind != "input" and (s.stride[0] > 1 or s.kind == "pool"):
                ax.plot(i, rfs[i], marker="s", ms=9, mfc="none", color=line.get_color())
    ax.set_xlabel("layer (convolution / pooling)")
    ax.set_ylabel("receptive field (pixels)")
    ax.set_title("RF growth; squares: layers with stride > 1 (their jump multiplies later growth)", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


# ============================================================================ effective RF
def _gradient(item: Any) -> np.ndarray:
    return np.asarray(getattr(item, "gradient", item), dtype=float)


def effective_rf_spread(gradient: Any) -> tuple[float, float]:
    """Standard deviation (rows, cols), in pixels, of a gradient map read as a distribution.

    ``gradient`` is an ``(H, W)`` array or an :class:`~course_utils.receptive_field.EmpiricalRF`;
    the map is ``|gradient|`` normalised to sum 1.
    """
    g = np.abs(_gradient(gradient))
    total = g.sum()
    if total <= 0:
        raise ValueError("the gradient map is zero everywhere")
    p = g / total
    centre = _centroid(g)
    spreads = []
    for axis, mean in zip((1, 0), centre):
        marginal = p.sum(axis=axis)
        idx = np.arange(marginal.size)
        spreads.append(float(np.sqrt((marginal * (idx - mean) ** 2).sum())))
    return spreads[0], spreads[1]


def _centroid(g: np.ndarray) -> tuple[float, float]:
    p = g / g.sum()
    return (float((p.sum(axis=1) * np.arange(g.shape[0])).sum()),
            float((p.sum(axis=0) * np.arange(g.shape[1])).sum()))


def effective_rf_size(gradient: Any, mass: float = 0.95) -> int:
    """Side of the smallest odd square, centred on the pixel nearest the gradient's centroid,
    that holds ``mass`` of ``|gradient|``."""
    if not 0 < mass <= 1:
        raise ValueError(f"mass must be in (0, 1], got {mass}")
    g = np.abs(_gradient(gradient))
    total = g.sum()
    if total <= 0:
        raise ValueError("the gradient map is zero everywhere")
    r, c = (int(round(v)) for v in _centroid(g))
    for half in range(max(g.shape)):
        window = g[max(r - half, 0): r + half + 1, max(c - half, 0): c + half + 1]
        if window.sum() >= mass * total * (1 - 1e-12):
            return 2 * half + 1
    return 2 * max(g.shape) - 1


def effective_rf_table(maps: dict[str, Any], box: tuple):
    """One row per gradient map (``{name: EmpiricalRF or (H, W) array}``): the side of the
    theoretical RF ``box`` = ``(top, left, bottom, right)``, the sides of the squares holding
    50 % and 95 % of the gradient (:func:`effective_rf_size`) and the standard deviation
    along the columns (:func:`effective_rf_spread`), rounded to 0.01 pixel."""
    import pandas as pd

    side = int(box[2] - box[0] + 1)
    return pd.DataFrame([{"network": name, "theoretical RF": side,
                          "50% of the gradient": effective_rf_size(g, 0.5),
                          "95% of the gradient": effective_rf_size(g, 0.95),
                          "std (pixels)": round(effective_rf_spread(g)[1], 2)} for name, g in maps.items()])


def plot_effective_rf(maps: dict[str, Any], box: tuple | None = None, profile: bool = True):
    """Gradient maps side by side (``{title: EmpiricalRF or (H, W) array}``), each scaled to its maximum.

    ``box`` = ``(top, left, bottom, right)`` draws the theoretical receptive
    field (e.g. from :meth:`RFAnalysis.box`) on every map. With ``profile`` a
    second row shows every map's row through its peak, on one axis.
    """
    n = len(maps)
    fig = plt.figure(figsize=(3.3 * n, 3.4 + (2.6 if profile else 0)), layout="constrained")
    grid = fig.add_gridspec(2 if profile else 1, n, height_ratios=[3.4, 2.4] if profile else [1])
    grads = {title: np.abs(_gradient(item)) for title, item in maps.items()}
    for col, (title, g) in enumerate(grads.items()):
        ax = fig.add_subplot(grid[0, col])
        ax.imshow(g / g.max(), cmap="inferno", vmin=0, vmax=1)
        if box is not None:
            top, left, bottom, right = (float(v) for v in box)
            ax.add_patch(Rectangle((left - 0.5, top - 0.5), right - left + 1, bottom - top + 1, fill=False,
                                   edgecolor="cyan", lw=1.5, ls="--"))
        ax.set_title(title, fontsize=10)
        bare(ax)
    if profile:
        ax = fig.add_subplot(grid[1, :])
        for title, g in grads.items():
            r = np.unravel_index(int(np.argmax(g)), g.shape)[0]
            ax.plot(g[r] / g[r].max(), marker=".", label=title)
        if box is not None:
            for v in (float(box[1]) - 0.5, float(box[3]) + 0.5):
                ax.axvline(v, color="cyan", ls="--", lw=1)
        ax.set_xlabel("input column (row through the peak)")
        ax.set_ylabel("|gradient| / max")
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    return fig


def plot_rf_vs_erf(depths: Sequence[int], theoretical: Sequence[float], effective: Sequence[float],
                   labels: tuple[str, str] = ("theoretical RF", "effective RF (95% of the gradient)")):
    """Theoretical and effective receptive field against depth (two lines)."""
    fig, ax = plt.subplots(figsize=(6, 3.8))
    ax.plot(depths, theoretical, marker="o", label=labels[0])
    ax.plot(depths, effective, marker="s", label=labels[1])
    ax.set_xlabel("number of 3x3 layers")
    ax.set_ylabel("pixels")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return fig


# ============================================================================ filters and feature maps
def filter_images(kernel: Any) -> np.ndarray:
    """The filters of a ``Conv2D`` kernel ``(kh, kw, c_in, c_out)`` as ``c_out`` images in [0, 1].

    Filter ``k`` is ``kernel[..., k]``, scaled by its own largest ``|weight|`` so that zero is
    mid-grey (0.5) and the largest weight 0 or 1: ``0.5 + w / (2 max|w|)``. Three input
    channels give RGB images ``(c_out, kh, kw, 3)``; any other number is averaged into one
    grey image ``(c_out, kh, kw)``.
    """
    w = np.asarray(kernel, dtype=float)
    if w.ndim != 4:
        raise ValueError(f"expected a Conv2D kernel (kh, kw, c_in, c_out), got shape {w.shape}")
    w = np.moveaxis(w, -1, 0)  # (c_out, kh, kw, c_in)
    if w.shape[-1] != 3:
        w = w.mean(axis=-1)
    peak = np.abs(w).reshape(len(w), -1).max(axis=1)
    peak = np.where(peak > 0, peak, 1.0).reshape((-1,) + (1,) * (w.ndim - 1))
    return 0.5 + w / (2 * peak)


def plot_filters(kernels: dict[str, Any]):
    """Convolution filters as small images, one row per kernel (``{title: (kh, kw, c_in, c_out)}``).

    Filter ``k`` is in column ``k`` of every row, so the rows of one layer before and after
    training line up filter by filter. Each filter is scaled by :func:`filter_images`: grey
    is zero, white the most positive and black the most negative weight of that filter
    (colours for three input channels).
    """
    images = {title: filter_images(k) for title, k in kernels.items()}
    n = max(len(v) for v in images.values())
    fig, axes = plt.subplots(len(images), n, figsize=(0.75 * n + 0.6, 0.85 * len(images) + 0.5), squeeze=False)
    for row, (title, filters) in zip(axes, images.items()):
        for k, ax in enumerate(row):
            if k < len(filters):
                ax.imshow(filters[k], cmap="gray", vmin=0, vmax=1)
            else:
                ax.set_axis_off()
        row[0].set_ylabel(title, rotation=0, ha="right", va="center", fontsize=9)
    bare(axes)
    for k, ax in enumerate(axes[0]):
        ax.set_title(str(k), fontsize=8)
    fig.tight_layout()
    return fig


def plot_feature_maps(maps: dict[str, Any], image: Any = None, channels: int = 8):
    """Feature maps of one image, one row per layer (``{title: (H, W, C) array}``).

    The first ``channels`` channels of each layer, channel ``k`` in column ``k``, each
    scaled to its own largest ``|value|`` (a channel that is zero everywhere stays black:
    a unit that does not respond to this image). ``image`` is drawn in front of the
    first row.
    """
    maps = {title: np.asarray(m, dtype=float) for title, m in maps.items()}
    for title, m in maps.items():
        if m.ndim != 3:
            raise ValueError(f"{title!r}: expected one image's maps (H, W, C), got shape {m.shape}")
    n = min(channels, max(m.shape[-1] for m in maps.values()))
    lead = image is not None
    fig, axes = plt.subplots(len(maps), n + lead, figsize=(1.35 * (n + lead) + 0.8, 1.5 * len(maps) + 0.3),
                             squeeze=False)
    if lead:
        image = np.asarray(image, dtype=float)
        grey = image.ndim == 2 or image.shape[-1] == 1
        axes[0, 0].imshow(image.squeeze(), cmap="gray" if grey else None)
        axes[0, 0].set_title("input", fontsize=8)
        for ax in axes[1:, 0]:
            ax.set_axis_off()
    for row, (title, m) in zip(axes, maps.items()):
        for k, ax in enumerate(row[lead:]):
            if k >= m.shape[-1]:
                ax.set_axis_off()
                continue
            peak = np.abs(m[..., k]).max()
            ax.imshow(np.abs(m[..., k]) / peak if peak > 0 else np.zeros(m.shape[:2]), cmap="magma", vmin=0, vmax=1)
            ax.set_title(f"{title}: {k}", fontsize=8)
    bare(axes)
    fig.tight_layout()
    return fig
