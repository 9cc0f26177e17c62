"""Explorer of notebook 01: the output size of a convolution and its sliding window.

Sliders set the input size, kernel size, stride, padding and dilation of a
square convolution; ``.summary`` shows the output size with the formula
filled in, and the figure shows the padded input with the taps read by one
output value (the ``output unit`` slider walks the window over the input).
"""

from __future__ import annotations

import ipywidgets as widgets

from course_utils import arithmetic
from course_utils.plots.basics import output_size_equation, plot_sliding_window
from course_utils.widgets._explorer import GuardedRefresh, mark_explorer, show_figure

__all__ = ["ConvArithmeticExplorer", "conv_arithmetic_explorer"]


class ConvArithmeticExplorer(GuardedRefresh, widgets.VBox):
    """Controls: ``input_size``, ``kernel``, ``stride``, ``padding``, ``dilation`` and ``unit``.

    ``unit`` numbers the output values row by row from 1; its window is drawn.
    ``summary`` (an ``HTML`` widget) starts with ``output size: M x M`` (or says
    why there is no output); ``output_size`` is that ``M`` (``None`` when the
    kernel does not fit); ``output`` is the ``Output`` widget with the grids.
    :meth:`set` moves several sliders with one redraw.
    """

    def __init__(self, input_size: int = 5, kernel: int = 3, stride: int = 2, padding: int = 1,
                 dilation: int = 1):
        style = {"description_width": "90px"}

        def slider(value: int, low: int, high: int, description: str) -> widgets.IntSlider:
            return widgets.IntSlider(value=value, min=low, max=high, description=description, style=style,
                                     continuous_update=False)

        self.input_size = slider(input_size, 1, 12, "input size")
        self.kernel = slider(kernel, 1, 7, "kernel size")
        self.stride = slider(stride, 1, 4, "stride")
        self.padding = slider(padding, 0, 4, "padding")
        self.dilation = slider(dilation, 1, 4, "dilation")
        self.unit = slider(1, 1, 1, "output unit")
        self.summary = widgets.HTML()
        self.output = widgets.Output()
        self.output_size: int | None = None
        for control in self.controls:
            control.observe(self._update, names="value")
        super().__init__([widgets.HBox([widgets.VBox(list(self.controls[:3])), widgets.VBox(list(self.controls[3:]))]),
                          self.summary, self.output])
        mark_explorer(self)
        self._update()

    @property
    def controls(self) -> tuple[widgets.IntSlider, ...]:
        return (self.input_size, self.kernel, self.stride, self.padding, self.dilation, self.unit)

    def set(self, **values: int) -> None:
        """Move several sliders at once (one redraw): ``explorer.set(input_size=7, stride=1)``."""
        unknown = set(values) - {"input_size", "kernel", "stride", "padding", "dilation", "unit"}
        if unknown:
            raise ValueError(f"unknown control(s) {sorted(unknown)}")
        unit = values.pop("unit", None)  # its range depends on the others: set it last
        with self._quiet():
            for name, value in values.items():
                getattr(self, name).value = value
        self._update()
        if unit is not None:
            self.unit.value = unit

    def _refresh(self) -> None:
        n, k, s, p, d = (c.value for c in self.controls[:5])
        k_eff = arithmetic.effective_kernel(k, d)
        try:
            equation = output_size_equation(n, k, s, p, d)
        except ValueError:
            self.output.outputs = ()
            self.output_size = None
            self.unit.max = 1
            self.summary.value = (
                f"<b>output size: none</b>: the kernel spans {k_eff} pixels"
                + (f" ({k} taps, dilation {d})" if d > 1 else "")
                + f" but the padded input has only {n} + 2*{p} = {n + 2 * p}. "
                  f"Add padding, shrink the kernel or the dilation, or use a larger input.")
            return
        m = arithmetic.conv_output_size(n, k, s, p, d)
        self.output_size = m
        self.unit.max = m * m
        self.unit.value = min(self.unit.value, m * m)
        row, col = divmod(self.unit.value - 1, m)
        notes = []
        if s > k_eff:
            notes.append(f"stride {s} &gt; kernel span {k_eff}: some pixels are never read")
        if (n + 2 * p - k_eff) % s:
            notes.append(f"the last {(n + 2 * p - k_eff) % s} padded row(s) and column(s) are never reached")
        if m == n:
            notes.append("'same' size: the output is as large as the input")
        self.summary.value = (
            f"<b>output size: {m} x {m}</b> &nbsp; <code>{equation}</code><br>"
            f"output unit {self.unit.value} = (row {row + 1}, column {col + 1}) reads padded rows "
            f"{row * s + 1}..{row * s + k_eff} and columns {col * s + 1}..{col * s + k_eff}"
            + "".join(f"<br>{note}" for note in notes))
        show_figure(self.output, plot_sliding_window(n, k, s, p, d, unit=(row, col)))


def conv_arithmetic_explorer(**kwargs) -> ConvArithmeticExplorer:
    """The explorer of notebook 01 (keyword arguments: input_size, kernel, stride, padding, dilation)."""
    return ConvArithmeticExplorer(**kwargs)
