"""Explorer of notebook 03: which input pixels a stack of dilated convolutions reads.

Type the dilations of a stack (or pick a preset) and a kernel size: the figure
shows the footprint of the central output unit (how many paths lead to it from
each input pixel; red holes are pixels it never reads, the *gridding* artifact)
and ``.summary`` gives the receptive field, the coverage and the weight count.
"""

from __future__ import annotations

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np

from course_utils import arithmetic
from course_utils import receptive_field as rfm
from course_utils.plots._axes import bare
from course_utils.plots.dilated import dilation_footprint
from course_utils.widgets._explorer import mark_explorer, show_figure

__all__ = ["DILATION_PRESETS", "DilationExplorer", "dilation_explorer"]

#: Stacks worth comparing, by name.
DILATION_PRESETS: dict[str, str] = {
    "exponential 1, 2, 4 (Yu & Koltun)": "1, 2, 4",
    "context module 1, 1, 2, 4, 8, 16, 1": "1, 1, 2, 4, 8, 16, 1",
    "plain 1, 1, 1": "1, 1, 1",
    "constant 2, 2, 2 (gridding)": "2, 2, 2",
    "2, 4, 8 (gridding)": "2, 4, 8",
    "1, 2, 3 (hybrid, no holes)": "1, 2, 3",
}


def parse_dilations(text: str) -> tuple[int, ...]:
    """``"1, 2, 4"`` -> ``(1, 2, 4)``; a ``ValueError`` that says what is wrong otherwise."""
    parts = [p for p in text.replace(";", ",").replace(" ", ",").split(",") if p]
    try:
        values = tuple(int(p) for p in parts)
    except ValueError:
        raise ValueError(f"write the dilations as whole numbers separated by commas, e.g. 1, 2, 4 (got {text!r})") from None
    if not values or min(values) < 1:
        raise ValueError("give at least one dilation, each 1 or more")
    if len(values) > 8:
        raise ValueError("at most 8 layers, please")
    return values


class DilationExplorer(widgets.VBox):
    """Controls: ``preset`` (Dropdown), ``dilations`` (Text, e.g. ``"1, 2, 4"``), ``kernel`` (IntSlider).

    ``summary`` (HTML) describes the stack; ``output`` shows the footprint figure.
    ``footprint`` holds the current footprint array (``None`` for invalid input).
    """

    def __init__(self, dilations: str = "1, 2, 4", kernel: int = 3):
        style = {"description_width": "80px"}
        self.preset = widgets.Dropdown(options=["(custom)"] + list(DILATION_PRESETS), value="(custom)",
                                       description="preset", style=style)
        self.dilations = widgets.Text(value=dilations, description="dilations", style=style,
                                      continuous_update=False)
        self.kernel = widgets.IntSlider(value=kernel, min=2, max=5, description="kernel k", style=style)
        self.summary = widgets.HTML()
        self.output = widgets.Output()
        self.footprint: np.ndarray | None = None
        self.preset.observe(self._use_preset, names="value")
        self.dilations.observe(self._update, names="value")
        self.kernel.observe(self._update, names="value")
        super().__init__([widgets.HBox([self.preset, self.dilations, self.kernel]), self.summary, self.output])
        mark_explorer(self)
        self._update()

    def _use_preset(self, change=None) -> None:
        if self.preset.value in DILATION_PRESETS:
            self.dilations.value = DILATION_PRESETS[self.preset.value]

    def _update(self, change=None) -> None:
        k = self.kernel.value
        try:
            dilations = parse_dilations(self.dilations.value)
        except ValueError as exc:
            self.footprint = None
            self.summary.value = f"<b>{exc}</b>"
            self.output.outputs = ()
            return
        self.footprint = counts = dilation_footprint(dilations, k)
        table = rfm.receptive_field_table([f"conv{k}d{d}" for d in dilations])
        rf = int(table["rf"].iloc[-1])
        read, total = int(np.count_nonzero(counts)), counts.size
        spans = ", ".join(str(arithmetic.effective_kernel(k, d)) for d in dilations)
        plain = -(-(rf - 1) // (k - 1))  # plain k x k layers needed for the same RF
        verdict = ("every pixel of it is read" if read == total else
                   f"<span style='color:crimson'>only {read} of its {total} pixels are read "
                   f"({read / total:.0%}): gridding</span>")
        self.summary.value = (
            f"{len(dilations)} layers of {k}x{k} kernels, dilations {', '.join(map(str, dilations))} "
            f"(each spans {spans} pixels): receptive field <b>{rf}x{rf}</b>; {verdict}. "
            f"Weights: {len(dilations)}·{k * k}·C² (a plain {k}x{k} stack needs {plain} layers, "
            f"{plain}·{k * k}·C², for the same receptive field)."
        )
        fig, (ax, ax2) = plt.subplots(1, 2, figsize=(8.5, 3.6), gridspec_kw={"width_ratios": [1, 1.3]})
        ax.imshow(np.zeros_like(counts), cmap="Reds", vmin=-1, vmax=3)
        ax.imshow(np.ma.masked_equal(counts, 0), cmap="viridis")
        ax.set_title(f"paths to the central output ({rf}x{rf})", fontsize=10)
        bare(ax)
        centre = counts[rf // 2]
        ax2.bar(np.arange(rf) - rf // 2, centre, color=["crimson" if v == 0 else "tab:blue" for v in centre])
        ax2.set_xlabel("input pixel (offset from the centre), central row")
        ax2.set_ylabel("paths")
        fig.tight_layout()
        show_figure(self.output, fig)


def dilation_explorer(**kwargs) -> DilationExplorer:
    """The explorer of notebook 03 (keyword arguments: ``dilations``, ``kernel``)."""
    return DilationExplorer(**kwargs)
