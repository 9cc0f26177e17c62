"""Explorer of notebook 07: which pixels and weights one output touches, and where gradients go.

Forward mode: pick an output pixel; the figure colours the input pixels it reads
(each like the weight that multiplies it) and ``.summary`` shows its equation.
Backward mode: pick an input pixel; the figure colours the outputs whose
gradient comes back to it and ``.summary`` shows ``dE/dh^{l-1}_{ij}``.
"""

from __future__ import annotations

import ipywidgets as widgets

from course_utils import arithmetic
from course_utils.plots.backprop import (
    forward_equations,
    input_gradient_equations,
    latex_block,
    plot_conv_connections,
)
from course_utils.widgets._explorer import GuardedRefresh, mark_explorer, show_figure

__all__ = ["ConvBackpropExplorer", "conv_backprop_explorer"]

FORWARD, BACKWARD = "forward: output → inputs", "backward: input → outputs"


class ConvBackpropExplorer(GuardedRefresh, widgets.VBox):
    """Controls: ``mode``, ``row``, ``col``, ``size``, ``kernel``, ``stride``, ``padding``, ``dilation``.

    ``summary`` (an ``HTMLMath`` widget) holds the equation of the selected
    pixel; ``output`` holds the figure. Rows and columns are 1-based like the
    equations.
    """

    def __init__(self, size: int = 3, kernel: int = 2, stride: int = 1, padding: int = 0, dilation: int = 1):
        style = {"description_width": "70px"}
        self.mode = widgets.ToggleButtons(options=[FORWARD, BACKWARD], value=FORWARD, description="")
        self.size = widgets.IntSlider(value=size, min=2, max=7, description="input n", style=style)
        self.kernel = widgets.IntSlider(value=kernel, min=1, max=4, description="kernel k", style=style)
        self.stride = widgets.IntSlider(value=stride, min=1, max=3, description="stride", style=style)
        self.padding = widgets.IntSlider(value=padding, min=0, max=2, description="padding", style=style)
        self.dilation = widgets.IntSlider(value=dilation, min=1, max=3, description="dilation", style=style)
        self.row = widgets.IntSlider(value=1, min=1, max=size, description="row", style=style)
        self.col = widgets.IntSlider(value=1, min=1, max=size, description="column", style=style)
        self.summary = widgets.HTMLMath()
        self.output = widgets.Output()
        for control in (self.mode, self.size, self.kernel, self.stride, self.padding, self.dilation,
                        self.row, self.col):
            control.observe(self._update, names="value")
        layer = widgets.VBox([self.size, self.kernel, self.stride, self.padding, self.dilation])
        where = widgets.VBox([self.mode, self.row, self.col])
        super().__init__([widgets.HBox([layer, where]), self.summary, self.output])
        mark_explorer(self)
        self._update()

    # ------------------------------------------------------------------ state
    def _out_size(self) -> int | None:
        try:
            return arithmetic.conv_output_size(self.size.value, self.kernel.value, self.stride.value,
                                               self.padding.value, self.dilation.value)
        except ValueError:
            return None

    def _refresh(self) -> None:
        n, k, s, p, d = (c.value for c in (self.size, self.kernel, self.stride, self.padding, self.dilation))
        m = self._out_size()
        if m is None:
            self.output.outputs = ()
            self.summary.value = (f"A {k}x{k} kernel with dilation {d} does not fit in a {n}x{n} input "
                                  f"padded by {p}: increase the padding or the input, or shrink the kernel.")
            return
        limit = m if self.mode.value == FORWARD else n
        for slider in (self.row, self.col):
            slider.max = limit
            slider.value = min(slider.value, limit)
        pos = (self.row.value - 1, self.col.value - 1)
        if self.mode.value == FORWARD:
            line = forward_equations(n, k, s, p, d, bias=True)[pos[0] * m + pos[1]]
            fig = plot_conv_connections(n, k, s, p, d, output=pos)
        else:
            line = input_gradient_equations(n, k, s, p, d, pixels=[pos])[0]
            fig = plot_conv_connections(n, k, s, p, d, input=pos)
        self.summary.value = f"{n}x{n} input → {m}x{m} output. " + latex_block([line])
        show_figure(self.output, fig)


def conv_backprop_explorer(**kwargs) -> ConvBackpropExplorer:
    """The explorer of notebook 07 (keyword arguments: size, kernel, stride, padding, dilation)."""
    return ConvBackpropExplorer(**kwargs)
