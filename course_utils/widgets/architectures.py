"""Explorers of notebook 08: DenseNet channel growth and an architecture picker.

* :func:`densenet_growth_explorer`: sliders ``k0``, ``k``, ``layers`` and
  ``compression``; ``.summary`` gives every layer's input channels
  ``k0 + k(l-1)``, the block output, the transition and the block's parameters.
* :func:`architecture_picker`: a drop-down of the networks of the notebook; shows
  their parameter table and receptive-field table (computed by
  :mod:`course_utils.params` and :mod:`course_utils.receptive_field`), with a
  one-line ``.summary``.
"""

from __future__ import annotations

import warnings
from functools import lru_cache

import ipywidgets as widgets

from course_utils.plots.architectures import plot_dense_block_growth
from course_utils.widgets._explorer import mark_explorer, show_figure

__all__ = ["ARCHITECTURES", "ArchitecturePicker", "DenseNetGrowthExplorer", "architecture_picker",
           "dense_block_params", "densenet_growth_explorer"]


def dense_block_params(k0: int, k: int, num_layers: int) -> int:
    """Parameters of :func:`course_utils.architectures.dense_block`: per layer BN (4 per input
    channel, 2 of them trainable) and a bias-free 3x3 conv with ``k`` filters."""
    return sum(4 * c + 9 * c * k for c in (k0 + k * (l - 1) for l in range(1, num_layers + 1)))


class DenseNetGrowthExplorer(widgets.VBox):
    """Controls ``k0``, ``k``, ``layers``, ``compression``; ``summary`` (HTML) and ``output`` (figure)."""

    def __init__(self, k0: int = 24, k: int = 12, layers: int = 6, compression: float = 0.5):
        style = {"description_width": "110px"}
        self.k0 = widgets.IntSlider(value=k0, min=1, max=64, description="input maps k0", style=style)
        self.k = widgets.IntSlider(value=k, min=1, max=48, description="growth rate k", style=style)
        self.layers = widgets.IntSlider(value=layers, min=1, max=12, description="layers L", style=style)
        self.compression = widgets.FloatSlider(value=compression, min=0.1, max=1.0, step=0.05,
                                               description="compression θ", style=style)
        self.summary = widgets.HTML()
        self.output = widgets.Output()
        for control in (self.k0, self.k, self.layers, self.compression):
            control.observe(self._update, names="value")
        super().__init__([widgets.HBox([widgets.VBox([self.k0, self.k]),
                                        widgets.VBox([self.layers, self.compression])]),
                          self.summary, self.output])
        mark_explorer(self)
        self._update()

    def _update(self, change=None) -> None:
        k0, k, n, theta = self.k0.value, self.k.value, self.layers.value, self.compression.value
        inputs = [k0 + k * (l - 1) for l in range(1, n + 1)]
        out = k0 + k * n
        self.summary.value = (
            f"Layer l receives k0 + k(l-1) channels: {', '.join(map(str, inputs))}. "
            f"The block outputs k0 + kL = {out} maps; a transition with θ = {theta:g} keeps "
            f"floor(θ·{out}) = {int(out * theta)} of them and halves the height and width. "
            f"Block parameters (BN + bias-free 3x3 convs): {dense_block_params(k0, k, n):,}.")
        show_figure(self.output, plot_dense_block_growth(k0, k, n))


def densenet_growth_explorer(**kwargs) -> DenseNetGrowthExplorer:
    """The DenseNet explorer of notebook 08 (keyword arguments: k0, k, layers, compression)."""
    return DenseNetGrowthExplorer(**kwargs)


#: The networks of :func:`architecture_picker`: name -> (builder in course_utils.architectures, arguments).
_BUILDERS = {
    "LeNet-5 (32x32x1)": ("lenet5", {}),
    "AlexNet, groups=2 (227x227x3)": ("alexnet", {"groups": 2}),
    "AlexNet, groups=1 (227x227x3)": ("alexnet", {"groups": 1}),
    "VGG-16 (224x224x3)": ("vgg", {}),
    "plain-20 (32x32x3)": ("cifar_resnet", {"depth": 20, "residual": False}),
    "ResNet-20 (32x32x3)": ("cifar_resnet", {"depth": 20}),
    "ResNet-56 (32x32x3)": ("cifar_resnet", {"depth": 56}),
    "DenseNet k=12 (32x32x3)": ("densenet", {}),
    "MobileNet (224x224x3)": ("mobilenet", {}),
    "FCN-8s (64x64x3)": ("fcn", {}),
}
ARCHITECTURES = tuple(_BUILDERS)


@lru_cache(maxsize=None)
def _tables(name: str):
    """(parameter table, receptive-field table) of one architecture, built once per session."""
    from course_utils.params import parameter_table
    from course_utils.receptive_field import receptive_field_table

    from course_utils import architectures

    builder, kwargs = _BUILDERS[name]
    model = getattr(architectures, builder)(**kwargs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # misaligned merge paths are discussed in the notebook
        return parameter_table(model), receptive_field_table(model)


class ArchitecturePicker(widgets.VBox):
    """Control ``architecture`` (drop-down) and ``layers`` (which rows); ``summary`` and ``tables`` (HTML)."""

    def __init__(self, architecture: str = ARCHITECTURES[0]):
        self.architecture = widgets.Dropdown(options=ARCHITECTURES, value=architecture, description="network",
                                             layout=widgets.Layout(width="360px"))
        self.layers = widgets.ToggleButtons(options=["layers with parameters", "all layers"],
                                            value="layers with parameters")
        self.summary = widgets.HTML()
        self.tables = widgets.HTML()
        for control in (self.architecture, self.layers):
            control.observe(self._update, names="value")
        super().__init__([widgets.HBox([self.architecture, self.layers]), self.summary, self.tables])
        mark_explorer(self)
        self._update()

    def _update(self, change=None) -> None:
        params, rf = _tables(self.architecture.value)
        totals = params.attrs
        spatial = rf[rf["n_out"].notna()]
        last = spatial.iloc[-1]
        macs = f"{totals['macs'] / 1e6:,.1f} M" if totals["macs"] is not None else "?"
        self.summary.value = (
            f"<b>{self.architecture.value}</b>: {totals['total']:,} parameters "
            f"({totals['trainable']:,} trainable, {totals['non_trainable']:,} non-trainable), "
            f"{macs} multiply-accumulates per image; the last spatial layer ({last['layer']}) "
            f"has a {last['rf']}x{last['rf']} receptive field.")
        if self.layers.value == "layers with parameters":
            params = params[params["params"] > 0]
            rf = rf[rf["layer"].isin(params["layer"])]
        columns = [c for c in ("layer", "kernel", "stride", "dilation", "padding", "n_out", "jump", "rf", "start")
                   if c in rf.columns]
        self.tables.value = (
            "<div style='display:flex; gap:2em; max-height:420px; overflow:auto'>"
            f"<div><b>parameters</b>{params.drop(columns=['trainable', 'non_trainable']).to_html(index=False)}</div>"
            f"<div><b>receptive field</b>{rf[columns].to_html(index=False, na_rep='')}</div></div>")


def architecture_picker(architecture: str = ARCHITECTURES[0]) -> ArchitecturePicker:
    """The architecture picker of notebook 08."""
    return ArchitecturePicker(architecture)
