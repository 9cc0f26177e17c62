"""Explorer of notebook 05: what a depthwise-separable convolution saves.

Sliders set the input channels ``C_in`` (MobileNet's ``M``), output channels
``C_out`` (``N``), the kernel size ``k`` (``Dk``) and the output size; ``.summary``
lists parameters and multiply-accumulates of the standard and the separable
convolution (counted by :func:`course_utils.params.compare_standard_vs_separable`),
their ratio and MobileNet's ``1/N + 1/Dk^2``; the figure shows them as bars.
"""

from __future__ import annotations

import html

import ipywidgets as widgets

from course_utils import params as course_params
from course_utils.plots.separable import plot_conv_costs
from course_utils.widgets._explorer import mark_explorer, show_figure

__all__ = ["SeparableCostExplorer", "separable_cost_explorer"]


def _pre(lines: list[str]) -> str:
    return "<pre style='line-height:1.35'>" + html.escape("\n".join(lines)) + "</pre>"


class SeparableCostExplorer(widgets.VBox):
    """Controls: ``c_in``, ``c_out``, ``kernel``, ``size`` (output height = width) and ``bias``.

    ``summary`` (an ``HTML`` widget) holds the counts as text; ``comparison`` is the
    :class:`~course_utils.params.SeparableComparison` shown; ``output`` the bar chart.
    """

    def __init__(self, c_in: int = 16, c_out: int = 32, kernel: int = 3, size: int = 32, bias: bool = False):
        style = {"description_width": "110px"}

        def slider(value: int, low: int, high: int, step: int, description: str) -> widgets.IntSlider:
            return widgets.IntSlider(value=value, min=low, max=high, step=step, description=description,
                                     style=style, continuous_update=False)

        self.c_in = slider(c_in, 1, 1024, 1, "C_in (M)")
        self.c_out = slider(c_out, 1, 1024, 1, "C_out (N)")
        self.kernel = slider(kernel, 1, 11, 2, "kernel Dk")
        self.size = slider(size, 1, 224, 1, "output size")
        self.bias = widgets.Checkbox(value=bias, description="count biases")
        self.summary = widgets.HTML()
        self.output = widgets.Output()
        self.comparison: course_params.SeparableComparison | None = None
        for control in self.controls:
            control.observe(self._update, names="value")
        super().__init__([
            widgets.HBox([widgets.VBox([self.c_in, self.c_out, self.kernel]), widgets.VBox([self.size, self.bias])]),
            self.summary, self.output,
        ])
        mark_explorer(self)
        self._update()

    @property
    def controls(self) -> tuple[widgets.Widget, ...]:
        return (self.c_in, self.c_out, self.kernel, self.size, self.bias)

    def _update(self, change=None) -> None:
        m, n, k, size, bias = (c.value for c in self.controls)
        c = course_params.compare_standard_vs_separable(m, n, k, use_bias=bias, size=size)
        self.comparison = c
        mac_ratio = c.separable_macs / c.standard_macs
        lines = [
            f"{m} -> {n} channels, {k}x{k} kernel, {size}x{size} output" + (", with biases" if bias else ""),
            f"  standard:  params {c.standard_formula}",
            f"             MACs   {size}*{size}*{k}*{k}*{m}*{n} = {c.standard_macs:,}",
            f"  separable: params {c.separable_formula}",
            f"             MACs   {size}*{size}*({k}*{k}*{m} + {m}*{n}) = {c.separable_macs:,}",
            f"  separable / standard: params {c.ratio:.4f}, MACs {mac_ratio:.4f}",
            f"  1/N + 1/Dk^2 = 1/{n} + 1/{k * k} = {c.mobilenet_factor:.4f}"
            + ("  (biases make the parameter ratio differ)" if bias and abs(c.ratio - c.mobilenet_factor) > 5e-5
               else ""),
            f"  separable is {1 / mac_ratio:.1f}x cheaper",
        ]
        self.summary.value = _pre(lines)
        show_figure(self.output, plot_conv_costs(m, n, k, size=size, use_bias=bias))


def separable_cost_explorer(**kwargs) -> SeparableCostExplorer:
    """The explorer of notebook 05 (keyword arguments: c_in, c_out, kernel, size, bias)."""
    return SeparableCostExplorer(**kwargs)
