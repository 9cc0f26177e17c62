"""Explorer of notebook 04: output size and overlap (checkerboard) of a transposed convolution.

Sliders set the input size, kernel, stride, padding and output padding; the
figure shows how many input pixels write into each output pixel (all-ones input
and kernel) and the profile of its middle row, and ``.summary`` gives the
output-size formula with the numbers filled in and says whether the overlap is even.
"""

from __future__ import annotations

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np

from course_utils import arithmetic
from course_utils.plots._axes import bare
from course_utils.plots.transposed import overlap_map
from course_utils.widgets._explorer import mark_explorer, show_figure

__all__ = ["TransposedConvExplorer", "transposed_conv_explorer"]


class TransposedConvExplorer(widgets.VBox):
    """Controls: ``size``, ``kernel``, ``stride``, ``padding``, ``output_padding`` (IntSliders).

    ``summary`` (HTML) holds the output size and the overlap verdict, ``output``
    the figure and ``counts`` the current overlap map (``None`` when the
    configuration is impossible).
    """

    def __init__(self, size: int = 4, kernel: int = 3, stride: int = 2, padding: int = 0, output_padding: int = 0):
        style = {"description_width": "95px"}
        self.size = widgets.IntSlider(value=size, min=1, max=8, description="input n", style=style)
        self.kernel = widgets.IntSlider(value=kernel, min=1, max=6, description="kernel k", style=style)
        self.stride = widgets.IntSlider(value=stride, min=1, max=4, description="stride s", style=style)
        self.padding = widgets.IntSlider(value=padding, min=0, max=3, description="padding p", style=style)
        self.output_padding = widgets.IntSlider(value=output_padding, min=0, max=3,
                                                description="output_padding", style=style)
        self.summary = widgets.HTML()
        self.output = widgets.Output()
        self.counts: np.ndarray | None = None
        for control in (self.size, self.kernel, self.stride, self.padding, self.output_padding):
            control.observe(self._update, names="value")
        left = widgets.VBox([self.size, self.kernel, self.stride])
        right = widgets.VBox([self.padding, self.output_padding])
        super().__init__([widgets.HBox([left, right]), self.summary, self.output])
        mark_explorer(self)
        self._update()

    def _update(self, change=None) -> None:
        n, k, s, p, op = (c.value for c in (self.size, self.kernel, self.stride, self.padding, self.output_padding))
        formula = f"({n} - 1)·{s} + {k} - 2·{p} + {op}"
        try:
            size = arithmetic.transposed_conv_output_size(n, k, s, p, op)
        except ValueError as exc:  # output_padding >= stride, or nothing left after the padding
            self.counts = None
            self.output.outputs = ()
            self.summary.value = f"<b>Impossible:</b> {exc} (the formula gives {formula} = {(n - 1) * s + k - 2 * p + op})."
            return
        self.counts = counts = overlap_map(n, k, s, p, op)
        lo, hi = int(counts.min()), int(counts.max())
        if k % s == 0:
            verdict = (f"k = {k} is a multiple of s = {s}: away from the borders every output pixel "
                       f"receives the same number of inputs ({hi}), no checkerboard from the overlap")
        else:
            verdict = (f"<span style='color:crimson'>k = {k} is not a multiple of s = {s}: neighbouring output "
                       f"pixels receive {lo} to {hi} inputs, an uneven overlap that prints a checkerboard</span>")
        self.summary.value = (f"{n}x{n} input → output n<sub>out</sub> = (n - 1)·s + k - 2p + output_padding = "
                              f"{formula} = <b>{size}</b>, so {size}x{size}. {verdict}.")
        fig, (ax, ax2) = plt.subplots(1, 2, figsize=(8.5, 3.5), gridspec_kw={"width_ratios": [1, 1.3]})
        ax.imshow(counts, cmap="Purples", vmin=0, vmax=max(hi, 1))
        if size <= 16:
            for (r, c), v in np.ndenumerate(counts):
                ax.text(c, r, str(v), ha="center", va="center", fontsize=8,
                        color="white" if v > 0.6 * hi else "black")
        bare(ax)
        ax.set_title(f"inputs per output pixel ({size}x{size})", fontsize=10)
        row = counts[size // 2]
        ax2.bar(np.arange(size), row, color="tab:purple")
        ax2.set_xlabel("output column (middle row)")
        ax2.set_ylabel("inputs written here")
        fig.tight_layout()
        show_figure(self.output, fig)


def transposed_conv_explorer(**kwargs) -> TransposedConvExplorer:
    """The explorer of notebook 04 (keyword arguments: size, kernel, stride, padding, output_padding)."""
    return TransposedConvExplorer(**kwargs)
