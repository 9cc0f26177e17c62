"""Explorer of notebook 02: build a stack layer by layer and watch its receptive field grow.

Buttons add a 3x3 convolution, a 3x3 convolution with stride 2, a 2x2
max-pooling or a dilated 3x3 convolution (dilation from the dropdown); ``undo``
removes the last layer and ``reset`` empties the stack. Every layer uses
``"same"`` padding, so the feature map never runs out however deep the stack
(padding moves the receptive field, it never changes its size). The figure
draws the receptive field of the central output unit of every layer as a
square on an image; ``.summary`` gives the current RF, jump and output size and
the recurrence of the last layer with its numbers.
"""

from __future__ import annotations

import html
import re

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np

from course_utils import receptive_field as rfm
from course_utils.plots.receptive_field import plot_rf_boxes, sample_image, walkthrough_lines
from course_utils.widgets._explorer import mark_explorer, show_figure

__all__ = ["LAYER_CHOICES", "ReceptiveFieldBuilder", "receptive_field_builder"]

#: The layer each button adds, as a token of :func:`course_utils.spec.from_list` (``{d}``: the dilation).
LAYER_CHOICES = {
    "conv3": "conv3",
    "conv3 stride 2": "conv3s2",
    "maxpool2": "pool2",
    "dilated conv3": "conv3d{d}",
}
_TOKEN = re.compile(r"^(conv|pool)(\d+)(?:s(\d+))?(?:d(\d+))?$")


def _layer(token: str) -> dict:
    """``"conv3s2"`` -> the layer description with 'same' padding, named by its token."""
    kind, k, s, d = _TOKEN.match(token).groups()  # type: ignore[union-attr]
    layer = {"kind": kind, "kernel": int(k), "padding": "same", "name": token}
    if s:
        layer["stride"] = int(s)
    if d:
        layer["dilation"] = int(d)
    return layer


class ReceptiveFieldBuilder(widgets.VBox):
    """Controls: buttons ``add_conv3``, ``add_conv3_stride2``, ``add_pool2``, ``add_dilated``,
    ``undo`` and ``reset``, and the ``dilation`` dropdown (used by ``add_dilated``).

    ``layers`` is the current stack as :func:`course_utils.spec.from_list` tokens
    (``"conv3"``, ``"conv3s2"``, ``"pool2"``, ``"conv3d4"``; each gets 'same'
    padding); :meth:`add` appends one by its button name (``"conv3"``,
    ``"conv3 stride 2"``, ``"maxpool2"``, ``"dilated conv3"``).
    ``rf`` is the current receptive field (1 for an empty stack), ``summary`` an
    ``HTML`` widget whose text starts with ``receptive field: R x R`` and
    ``output`` the ``Output`` widget with the image.
    """

    def __init__(self, image=None, layers=(), max_layers: int = 12):
        if image is None:
            sample = sample_image()
            self.image, self.image_source = sample.pixels, sample.source
        else:
            self.image, self.image_source = np.asarray(image, dtype=float), "your image"
        self.max_layers = max_layers
        self.layers: list[str] = []
        self.rf = 1
        self.add_conv3 = widgets.Button(description="+ conv3", tooltip="3x3 convolution, stride 1")
        self.add_conv3_stride2 = widgets.Button(description="+ conv3 stride 2", tooltip="3x3 convolution, stride 2")
        self.add_pool2 = widgets.Button(description="+ maxpool2", tooltip="2x2 max-pooling, stride 2")
        self.add_dilated = widgets.Button(description="+ dilated conv3", tooltip="3x3 convolution, dilation below")
        self.dilation = widgets.Dropdown(options=[2, 4, 8], value=2, description="dilation",
                                         layout=widgets.Layout(width="160px"))
        self.undo = widgets.Button(description="undo", button_style="warning")
        self.reset = widgets.Button(description="reset", button_style="danger")
        self.summary = widgets.HTML()
        self.output = widgets.Output()
        for button, choice in ((self.add_conv3, "conv3"), (self.add_conv3_stride2, "conv3 stride 2"),
                               (self.add_pool2, "maxpool2"), (self.add_dilated, "dilated conv3")):
            button.on_click(lambda _b, choice=choice: self.add(choice))
        self.undo.on_click(lambda _b: self._set(self.layers[:-1]))
        self.reset.on_click(lambda _b: self._set([]))
        buttons = widgets.HBox([self.add_conv3, self.add_conv3_stride2, self.add_pool2, self.add_dilated,
                                self.dilation])
        super().__init__([buttons, widgets.HBox([self.undo, self.reset]), self.summary, self.output])
        mark_explorer(self)
        self._set(list(layers))

    # ------------------------------------------------------------------ state
    def add(self, choice: str) -> None:
        """Append a layer: ``"conv3"``, ``"conv3 stride 2"``, ``"maxpool2"`` or ``"dilated conv3"``."""
        if choice not in LAYER_CHOICES:
            raise ValueError(f"choose one of {', '.join(LAYER_CHOICES)}; got {choice!r}")
        if len(self.layers) >= self.max_layers:
            self.summary.value = (f"<b>receptive field: {self.rf} x {self.rf}</b>: the stack already has "
                                  f"{self.max_layers} layers; undo or reset to try another one.")
            return
        self._set(self.layers + [LAYER_CHOICES[choice].format(d=self.dilation.value)])

    def analysis(self) -> rfm.RFAnalysis:
        """The receptive-field analysis of the current stack on the image."""
        return rfm.analyse([_layer(t) for t in self.layers], self.image.shape[:2])

    def _set(self, layers: list[str]) -> None:
        self.layers = list(layers)
        analysis = self.analysis()
        last = analysis[analysis.last]
        self.rf = int(last.h.rf)
        self.undo.disabled = self.reset.disabled = not self.layers
        h, w = self.image.shape[:2]
        stack = (f"{len(self.layers)} layer{'s' * (len(self.layers) != 1)}: " + " → ".join(self.layers)
                 if self.layers else "no layers yet: every output unit is one pixel")
        lines = [f"<b>receptive field: {self.rf} x {self.rf}</b> &nbsp; jump {_text(last.h.jump)}, "
                 f"output {last.h.n}x{last.w.n} &nbsp; ({html.escape(stack)})"]
        if self.layers:
            last_line = walkthrough_lines(analysis.network)[-1]
            lines.append(f"<code>{html.escape(last_line)}</code>")
        if self.rf > max(h, w):
            lines.append(f"the RF is larger than the {h}x{w} image: its outer part sees only padding")
        lines.append(f"<small>image: {html.escape(self.image_source)}; every layer uses 'same' padding</small>")
        self.summary.value = "<br>".join(lines)
        fig, ax = plt.subplots(figsize=(6.4, 4.6))
        windows = [s.name for s in analysis.network if s.kind != "input"]
        plot_rf_boxes(self.image, analysis=analysis, layers=windows, ax=ax,
                      show_centres=bool(windows) and last.h.jump > 1,
                      title=f"RF of the central unit after each layer ({self.rf}x{self.rf} now)")
        show_figure(self.output, fig)


def _text(v) -> str:
    return str(int(v)) if v is not None and v == int(v) else str(v)


def receptive_field_builder(**kwargs) -> ReceptiveFieldBuilder:
    """The explorer of notebook 02 (keyword arguments: image, layers, max_layers)."""
    return ReceptiveFieldBuilder(**kwargs)
