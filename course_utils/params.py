"""Parameter and multiply-accumulate counts, with the formula behind every number.

:func:`parameter_table` gives one row per layer: its parameters, the formula
that produced them (``3*3*16 + 16*32 = 656``), the trainable / non-trainable
split and the multiply-accumulates (MACs) of one forward pass of one example.
For a Keras model the total equals ``model.count_params()``: the formula is
derived from the layer's description and checked against the weight shapes
Keras built (should they ever disagree, the weight shapes win, the formula
lists them and :attr:`LayerParams.source` says ``"weights"``; the tests
require ``"formula"`` for every kind in :data:`FORMULA_KINDS`).

Formulas (``k_h x k_w`` kernel, ``C_in`` input and ``C_out`` output channels,
``g`` groups, ``m`` depth multiplier, ``+ C_out`` only with a bias):

=====================  ==========================================  ===============================================
layer                  parameters                                  MACs per example
=====================  ==========================================  ===============================================
Conv2D                 ``k_h*k_w*(C_in/g)*C_out + C_out``           ``H_out*W_out*k_h*k_w*(C_in/g)*C_out``
DepthwiseConv2D        ``k_h*k_w*C_in*m + C_in*m``                  ``H_out*W_out*k_h*k_w*C_in*m``
SeparableConv2D        ``k_h*k_w*C_in*m + C_in*m*C_out + C_out``    ``H_out*W_out*(k_h*k_w*C_in*m + C_in*m*C_out)``
Conv2DTranspose        ``k_h*k_w*C_in*C_out + C_out``               ``H_in*W_in*k_h*k_w*C_in*C_out``
Dense                  ``C_in*C_out + C_out``                       ``C_in*C_out`` (per pixel on a feature map)
BatchNormalization     ``2*C`` trainable (gamma, beta) ``+ 2*C``    0 (folded into the convolution at inference)
                       non-trainable (moving mean, variance)
=====================  ==========================================  ===============================================

Pooling, activations, merges and the like have no parameters; their few
comparisons and additions are not counted as MACs.

A teaching list (``["conv3-16", "sep3-32"]``) works too when the channels are
known: give ``input_channels`` and the filters of each layer (``-32``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from course_utils import spec as specs
from course_utils.spec import LayerSpec, Network

__all__ = [
    "LayerParams",
    "MOBILENET_TABLE2",
    "SeparableComparison",
    "compare_standard_vs_separable",
    "cost_shares",
    "layer_role",
    "layer_params",
    "mobilenet_reduction",
    "parameter_table",
    "totals",
]

#: The layer kinds whose parameters the formulas of this module give.
FORMULA_KINDS = ("conv", "depthwise", "separable", "transposed", "dense", "batchnorm")


@dataclass(frozen=True)
class _Term:
    """A product of factors, e.g. ``3*3*16*32`` (a factor may be shown as ``16/2``)."""

    factors: tuple[tuple[str, int], ...]
    trainable: bool = True

    @property
    def value(self) -> int:
        v = 1
        for _, f in self.factors:
            v *= f
        return v

    def text(self) -> str:
        shown = [t for t, f in self.factors if f != 1]
        return "*".join(shown) if shown else "1"


def _term(*factors: int | tuple[str, int], trainable: bool = True) -> _Term:
    return _Term(tuple(f if isinstance(f, tuple) else (str(f), f) for f in factors), trainable)


@dataclass(frozen=True)
class LayerParams:
    """Parameters of one layer: total, formula, trainable split and MACs (``None``: unknown)."""

    params: int
    formula: str
    trainable: int
    non_trainable: int
    macs: int | None
    #: ``"formula"``: from the layer's description (the formulas above); ``"weights"``: a layer the
    #: formulas do not cover, listed by the shapes of the weights Keras built.
    source: str = "formula"


def _formula(terms: list[_Term]) -> str:
    total = sum(t.value for t in terms)
    if not terms or total == 0:
        return ""
    body = " + ".join(t.text() for t in terms)
    return body if len(terms) == 1 and body == str(total) else f"{body} = {total}"


def _terms(spec: LayerSpec, c_in: int | None) -> list[_Term] | None:
    """The parameter terms of a layer from its description (``None`` if channels are missing)."""
    kh, kw = spec.kernel
    c_out = spec.channels
    kind = spec.kind
    if kind in FORMULA_KINDS and c_in is None:
        return None
    bias = [_term(c_out)] if spec.use_bias and c_out is not None else []
    if kind == "conv":
        per_group: int | tuple[str, int] = c_in if spec.groups == 1 else (f"({c_in}/{spec.groups})",
                                                                           c_in // spec.groups)
        return [_term(kh, kw, per_group, c_out)] + bias
    if kind == "depthwise":
        m = spec.depth_multiplier
        return [_term(kh, kw, c_in, m)] + ([_term(c_in, m)] if spec.use_bias else [])
    if kind == "separable":
        m = spec.depth_multiplier
        return [_term(kh, kw, c_in, m), _term(c_in, m, c_out)] + bias
    if kind == "transposed":
        return [_term(kh, kw, c_in, c_out)] + bias
    if kind == "dense":
        return [_term(c_in, c_out)] + bias
    if kind == "batchnorm":
        n = int(spec.scale) + int(spec.center)
        return ([_term(n, c_in)] if n else []) + [_term(2, c_in, trainable=False)]
    return []


def _macs(spec: LayerSpec, c_in: int | None, in_hw: tuple[int | None, int | None]) -> int | None:
    kh, kw = spec.kernel
    c_out = spec.channels
    h, w = spec.out_hw
    kind = spec.kind
    if kind not in ("conv", "depthwise", "separable", "transposed", "dense"):
        return 0
    if c_in is None or c_out is None:
        return None
    if kind == "dense" and not spec.spatial:
        return c_in * c_out
    if kind == "transposed":
        h, w = in_hw
    if h is None or w is None:
        return None
    per_pixel = {
        "conv": kh * kw * (c_in // spec.groups) * c_out,
        "depthwise": kh * kw * c_in * spec.depth_multiplier,
        "separable": kh * kw * c_in * spec.depth_multiplier + c_in * spec.depth_multiplier * c_out,
        "transposed": kh * kw * c_in * c_out,
        "dense": c_in * c_out,
    }[kind]
    return h * w * per_pixel


def layer_params(spec: LayerSpec, network: Network) -> LayerParams:
    """Parameters of ``spec`` (a layer of ``network``), with its formula."""
    src = network[spec.inputs[0]] if spec.inputs else None
    c_in = src.channels if src is not None else None
    in_hw = src.out_hw if src is not None else (None, None)
    macs = _macs(spec, c_in, in_hw)
    if spec.shared_with is not None:
        return LayerParams(0, f"shared with {spec.shared_with}", 0, 0, macs)
    terms = _terms(spec, c_in)
    weights = spec.weights
    if weights is not None:
        total = sum(w.size for w in weights)
        trainable = sum(w.size for w in weights if w.trainable)
        source = "formula"
        if terms is None or sum(t.value for t in terms) != total:
            # A layer the formulas do not cover (PReLU, LayerNormalization, a layer with
            # extra weights such as LoRA...): list the weight shapes Keras built.
            terms = [_term(*w.shape) if w.shape else _term(1) for w in weights]
            source = "weights"
        return LayerParams(total, _formula(terms), trainable, total - trainable, macs, source)
    if terms is None:
        raise ValueError(
            f"layer {spec.name!r} ({spec.type or spec.kind}): its parameters depend on the input channels, "
            f"which are not known. Pass input_channels=... and give every convolution its filters "
            f"(e.g. 'conv3-32' or {{'kind': 'conv', 'kernel': 3, 'filters': 32}})")
    if spec.kind in ("conv", "separable", "transposed", "dense") and spec.channels is None:
        raise ValueError(f"layer {spec.name!r}: give its number of filters (e.g. '{spec.type}-32')")
    total = sum(t.value for t in terms)
    trainable = sum(t.value for t in terms if t.trainable)
    return LayerParams(total, _formula(terms), trainable, total - trainable, macs)


def parameter_table(
    model_or_layers: Any,
    input_size: int | tuple[int, int] | None = None,
    input_channels: int | None = None,
) -> Any:
    """One row per layer: ``layer, type, output, params, formula, trainable, non_trainable, macs``.

    ``table["params"].sum()`` equals ``model.count_params()``; the totals are
    also in ``table.attrs`` (see :func:`totals`). Layers without parameters
    (pooling, activations, ...) are listed with 0 so that the rows follow the
    model. A shared layer's weights are counted at its first call.

    >>> t = parameter_table(["sep3-32"], input_size=8, input_channels=16)
    >>> t.loc[1, "formula"]
    '3*3*16 + 16*32 + 32 = 688'
    """
    import pandas as pd

    network = specs.as_network(model_or_layers, input_size, input_channels)
    rows = []
    for spec in network:
        if spec.kind == "input":
            continue
        p = layer_params(spec, network)
        rows.append({
            "layer": spec.name,
            "type": spec.type or spec.kind,
            "output": _shape_text(spec),
            "params": p.params,
            "formula": p.formula,
            "trainable": p.trainable,
            "non_trainable": p.non_trainable,
            "macs": p.macs,
        })
    for w in network.extra_weights:
        rows.append({"layer": f"(model weight) {w.name}", "type": "", "output": "", "params": w.size,
                     "formula": "*".join(str(d) for d in w.shape), "trainable": w.size if w.trainable else 0,
                     "non_trainable": 0 if w.trainable else w.size, "macs": 0})
    table = pd.DataFrame.from_records(rows, columns=["layer", "type", "output", "params", "formula", "trainable",
                                                     "non_trainable", "macs"])
    known = table["macs"].notna().all()
    table["macs"] = table["macs"].astype("Int64")
    table.attrs.update({
        "network": network.name,
        "total": int(table["params"].sum()),
        "trainable": int(table["trainable"].sum()),
        "non_trainable": int(table["non_trainable"].sum()),
        "macs": int(table["macs"].sum()) if known else None,
        "keras_count_params": network.keras_param_count,
    })
    return table


def totals(table: Any) -> dict[str, int | None]:
    """``{"total", "trainable", "non_trainable", "macs"}`` of a :func:`parameter_table`."""
    return {k: table.attrs[k] for k in ("total", "trainable", "non_trainable", "macs")}


def _shape_text(spec: LayerSpec) -> str:
    if spec.spatial:
        h, w = ("?" if v is None else v for v in spec.out_hw)
        return f"{h}x{w}x{'?' if spec.channels is None else spec.channels}"
    return "?" if spec.channels is None else str(spec.channels)


# ============================================================================ cost per layer type
#: Table 2 of Howard et al. (2017), *MobileNets: Efficient Convolutional Neural Networks for
#: Mobile Vision Applications*, "Resource per layer type": ``role -> (% of mult-adds, % of
#: parameters)``, as printed. The roles are the names :func:`layer_role` gives. The paper's
#: mult-add column adds up to 99.29 %: its 1.19 % for the first layer is a slip for 1.91 %.
MOBILENET_TABLE2 = {
    "pointwise 1x1": (94.86, 74.59),
    "depthwise 3x3": (3.06, 1.06),
    "standard 3x3": (1.19, 0.02),
    "fully connected": (0.18, 24.33),
}


def layer_role(spec: LayerSpec) -> str:
    """The type of a layer in the sense of MobileNet's Table 2, read from its kind and shape.

    ``"batch normalisation"``, ``"depthwise KxK"``, ``"pointwise 1x1"``, ``"standard KxK"``,
    ``"separable KxK"``, ``"transposed KxK"``, ``"fully connected"`` (a Dense layer, or a 1x1
    convolution on a 1x1 map, as MobileNet's classifier is) or ``"other"``. The layer's *name* is
    never read: Keras names MobileNet's batch-norm layers ``conv_dw_1_bn``, ``conv_pw_1_bn``, ...,
    so a test on name prefixes files them under the convolutions they follow.
    """
    kh, kw = spec.kernel
    if spec.kind == "batchnorm":
        return "batch normalisation"
    if spec.kind == "dense" or (spec.kind == "conv" and (kh, kw) == (1, 1) and spec.out_hw == (1, 1)):
        return "fully connected"
    if spec.kind == "depthwise":
        return f"depthwise {kh}x{kw}"
    if spec.kind == "conv":
        return "pointwise 1x1" if (kh, kw) == (1, 1) else f"standard {kh}x{kw}"
    if spec.kind in ("separable", "transposed"):
        return f"{spec.kind} {kh}x{kw}"
    return "other"


def _weights_without_bias(spec: LayerSpec, network: Network) -> int:
    src = network[spec.inputs[0]] if spec.inputs else None
    c_in = src.channels if src is not None else None
    terms = _terms(spec, c_in)
    if terms is None:
        raise ValueError(f"layer {spec.name!r}: its input channels are not known")
    if spec.use_bias and spec.kind in ("conv", "depthwise", "separable", "transposed", "dense"):
        terms = terms[:-1]
    return sum(t.value for t in terms)


def cost_shares(
    model_or_layers: Any,
    input_size: int | tuple[int, int] | None = None,
    input_channels: int | None = None,
    *,
    biases: bool = False,
    leave_out: tuple[str, ...] = ("batch normalisation", "other"),
) -> Any:
    """Parameters and MACs summed per layer type (:func:`layer_role`), with their shares in %.

    One row per role: ``params``, ``macs``, ``% of params``, ``% of MACs`` (rounded to 0.01),
    sorted by MACs. As in MobileNet's Table 2 the parameters are the weights without the
    biases (``biases=True`` counts them) and batch normalisation is left out (its parameters
    are folded into the convolutions at inference; it has no MACs); give ``leave_out=()`` to
    keep every role. Shared layers are counted once.

    >>> cost_shares(["conv3-8", "bn", "dw3", "conv1-16"], input_size=8, input_channels=3)["params"].to_dict()
    {'standard 3x3': 216, 'pointwise 1x1': 128, 'depthwise 3x3': 72}
    """
    import pandas as pd

    network = specs.as_network(model_or_layers, input_size, input_channels)
    sums: dict[str, list[int]] = {}
    for spec in network:
        if spec.kind == "input":
            continue
        role = layer_role(spec)
        if role in leave_out:
            continue
        p = layer_params(spec, network)
        if p.macs is None:
            raise ValueError(f"layer {spec.name!r}: its MACs are not known (give the input size)")
        weights = 0 if spec.shared_with is not None else (
            p.params if biases or spec.kind not in FORMULA_KINDS else _weights_without_bias(spec, network))
        row = sums.setdefault(role, [0, 0])
        row[0] += weights
        row[1] += p.macs
    table = pd.DataFrame.from_dict(sums, orient="index", columns=["params", "macs"])
    table.index.name = "role"
    table["% of params"] = (100 * table["params"] / table["params"].sum()).round(2)
    table["% of MACs"] = (100 * table["macs"] / table["macs"].sum()).round(2)
    return table.sort_values("macs", ascending=False)


# ============================================================================ standard vs separable
def mobilenet_reduction(n: int, dk: int) -> float:
    """MobileNet's cost ratio of a depthwise-separable to a standard convolution: ``1/N + 1/Dk^2``.

    ``N`` output channels, ``Dk x Dk`` kernel (Howard et al., 2017, eq. 5).
    It is the exact ratio of the parameters (without biases) and of the MACs.
    """
    if n <= 0 or dk <= 0:
        raise ValueError(f"N and Dk must be positive, got N={n}, Dk={dk}")
    return 1 / n + 1 / dk**2


@dataclass(frozen=True)
class SeparableComparison:
    """A standard and a depthwise-separable convolution with the same input, output and kernel."""

    c_in: int
    c_out: int
    k: int
    standard: int
    separable: int
    standard_formula: str
    separable_formula: str
    standard_macs: int | None
    separable_macs: int | None

    @property
    def ratio(self) -> float:
        """``separable / standard`` (equals :attr:`mobilenet_factor` without biases)."""
        return self.separable / self.standard

    @property
    def mobilenet_factor(self) -> float:
        return mobilenet_reduction(self.c_out, self.k)

    def table(self) -> Any:
        import pandas as pd

        return pd.DataFrame({
            "convolution": ["standard", "depthwise-separable"],
            "params": [self.standard, self.separable],
            "formula": [self.standard_formula, self.separable_formula],
            "macs": [self.standard_macs, self.separable_macs],
        })

    def __str__(self) -> str:
        return (f"{self.c_in} -> {self.c_out} channels, {self.k}x{self.k} kernel: standard {self.standard_formula}, "
                f"separable {self.separable_formula} (ratio {self.ratio:.4f}; 1/N + 1/Dk^2 = "
                f"{self.mobilenet_factor:.4f})")


def compare_standard_vs_separable(c_in: int, c_out: int, k: int, use_bias: bool = False,
                                  size: int | tuple[int, int] | None = None) -> SeparableComparison:
    """Parameters (and, given the output ``size``, MACs) of a standard vs a separable convolution.

    >>> c = compare_standard_vs_separable(16, 32, 3)
    >>> c.standard, c.separable, c.separable_formula
    (4608, 656, '3*3*16 + 16*32 = 656')
    """
    out = {}
    for kind, word in (("standard", "conv"), ("separable", "sep")):
        layer = {"kind": word, "kernel": k, "filters": c_out, "padding": "same", "use_bias": use_bias}
        net = specs.from_list([layer], input_size=size, input_channels=c_in)
        out[kind] = layer_params(net.layers[1], net)
    return SeparableComparison(c_in, c_out, k, out["standard"].params, out["separable"].params,
                               out["standard"].formula, out["separable"].formula,
                               out["standard"].macs, out["separable"].macs)
