"""Layer specs: one framework-neutral description of a network.

Everything in the course that reasons about a network (receptive-field
tables, parameter counts, the Assignment 3 grader, plots and widgets) reads a
:class:`Network`: a list of :class:`LayerSpec` in topological order, each
naming its inputs. This module is the ONE place that understands Keras layers;
nothing else walks them: the few questions other modules ask about a Keras model
(its layers for a transformation, a truncated copy, a layer inventory for the
Assignment 3 rules) are answered by the functions of the "Keras access" section
(tests/test_package_structure.py enforces it).

A network is built from

* a plain list, for teaching (:func:`from_list`)::

      ["conv3", "conv3", "pool2", "conv3"]            # 3x3 convs, 2x2 max-pool
      ["conv3-32", "bn", "relu", "sep3-64", "gap", "dense-10"]
      [{"kind": "conv", "kernel": 3, "dilation": 2}, {"kind": "pool", "kernel": 2}]

  Tokens: ``<kind><k>[x<k2>][s<stride>][d<dilation>][p<pad>|same|valid][op<n>][-<filters>]``
  with kinds ``conv``, ``pool``/``maxpool``/``avgpool`` (stride defaults to the
  pool size), ``dw`` (depthwise), ``sep`` (separable), ``tconv`` (transposed),
  ``up`` (nearest up-sampling by ``k``; ``up2bilinear``), ``pad``/``crop``
  (``k`` pixels on every side) and the kernel-less ``bn``, ``relu``,
  ``dropout``, ``flatten``, ``gap`` / ``gmp`` (global pooling to 1x1) and
  ``dense-<units>`` (a classifier layer: it sees the whole input).
  Convolutions default to stride 1 and no padding (``"conv3"`` is 3x3,
  stride 1, ``p=0``), as in the course notes; ``-<filters>`` is needed only
  for parameter counts.

* any Keras model (:func:`from_keras`): Sequential or Functional, with
  branches and merges, shared layers and nested sub-models (inlined, their layers
  named ``outer/inner``). Layers this module does not know raise
  :class:`UnsupportedLayerError` naming the layer: an unknown layer could change
  the receptive field, so it is never passed over silently. Teach it a layer of
  your own with :func:`register_layer`.

:func:`as_network` accepts either (or a ready :class:`Network`).

Conventions: sizes are ``(height, width)`` pairs, tensors NHWC as in TensorFlow.
A spec's ``padding`` is ``"same"``, ``"valid"`` or explicit
``((top, bottom), (left, right))``; the padding TensorFlow really applies for
``"same"`` (which may be asymmetric) is worked out per input size by
:meth:`LayerSpec.padding_before`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Iterator, Sequence, Union

from course_utils import arithmetic as ar

__all__ = [
    "KINDS",
    "LayerSpec",
    "Network",
    "UnsupportedLayerError",
    "WeightSpec",
    "as_network",
    "from_keras",
    "from_list",
    "KerasLayerInfo",
    "image_input_shape",
    "is_keras_model",
    "last_spatial_layer",
    "layer_inventory",
    "leaf_layers",
    "moving_statistics",
    "register_layer",
    "size_pair",
    "top_layers",
    "truncated",
]

HW = tuple[int, int]
Pads = tuple[tuple[int, int], tuple[int, int]]
PaddingSpec = Union[str, Pads]

#: What each kind of layer does to the spatial grid.
KINDS: dict[str, str] = {
    "input": "the network input",
    "conv": "convolution (Conv2D)",
    "depthwise": "depthwise convolution (DepthwiseConv2D)",
    "separable": "depthwise-separable convolution (SeparableConv2D)",
    "transposed": "transposed convolution (Conv2DTranspose)",
    "pool": "max or average pooling",
    "upsample": "up-sampling by an integer factor (UpSampling2D)",
    "pad": "zero padding (ZeroPadding2D)",
    "crop": "cropping (Cropping2D)",
    "batchnorm": "batch normalisation: per-channel, keeps the grid",
    "neutral": "keeps the grid and the receptive field (activation, dropout, ...)",
    "dense": "Dense: a 1x1 convolution on a feature map, global on a vector",
    "global_pool": "global pooling: every output sees the whole input",
    "flatten": "every unit sees the whole input: Flatten, Reshape, statistics over the feature map",
    "merge": "merges several inputs (Add, Concatenate, Multiply, ...)",
}
#: Kinds whose geometry is a sliding window (kernel, stride, padding, dilation).
WINDOW_KINDS = frozenset({"conv", "depthwise", "separable", "pool"})
#: Kinds after which every output unit depends on the whole input.
GLOBAL_KINDS = frozenset({"global_pool", "flatten"})


class UnsupportedLayerError(ValueError):
    """A layer whose effect on the receptive field this module does not know."""


@dataclass(frozen=True)
class WeightSpec:
    """One weight tensor of a layer, as Keras built it."""

    name: str
    shape: tuple[int, ...]
    trainable: bool = True

    @property
    def size(self) -> int:
        n = 1
        for d in self.shape:
            n *= int(d)
        return n


@dataclass
class LayerSpec:
    """One layer (one call of a layer, for shared layers) of a network.

    Geometry fields are ``(height, width)`` pairs: ``kernel``, ``stride``,
    ``dilation`` (for ``upsample`` the stride holds the up-sampling factor);
    ``padding`` is ``"same"``, ``"valid"`` or ``((top, bottom), (left, right))``
    (for ``pad`` / ``crop`` the pixels added / removed). ``filters`` is the
    number of output channels of a convolution or Dense layer, ``channels`` the
    last-axis size of the output. ``out_hw`` is the spatial output size
    (``(None, None)`` when unknown) and ``spatial`` says whether the output is
    still a feature map (``False`` after Flatten or global pooling without
    ``keepdims``). ``weights`` holds the weight shapes Keras built (``None`` for
    specs written by hand); ``shared_with`` names the first call of a shared
    layer, which owns its weights.
    """

    name: str
    kind: str
    inputs: tuple[str, ...] = ()
    type: str = ""
    kernel: HW = (1, 1)
    stride: HW = (1, 1)
    dilation: HW = (1, 1)
    padding: PaddingSpec = "valid"
    output_padding: HW | None = None
    filters: int | None = None
    groups: int = 1
    depth_multiplier: int = 1
    use_bias: bool = True
    pool: str | None = None
    merge: str | None = None
    interpolation: str = "nearest"
    center: bool = True
    scale: bool = True
    out_hw: tuple[int | None, int | None] = (None, None)
    channels: int | None = None
    spatial: bool = True
    weights: tuple[WeightSpec, ...] | None = None
    shared_with: str | None = None
    note: str = ""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"layer {self.name!r}: unknown kind {self.kind!r}; kinds are {', '.join(KINDS)}")
        self.inputs = tuple(self.inputs)

    # ------------------------------------------------------------------ geometry
    @property
    def effective_kernel(self) -> HW:
        """Pixels the (dilated) kernel spans along each axis: ``d*(k-1) + 1``."""
        return (ar.effective_kernel(self.kernel[0], self.dilation[0]),
                ar.effective_kernel(self.kernel[1], self.dilation[1]))

    def axis_padding(self, axis: int) -> ar.Padding:
        """This layer's padding along ``axis`` (0: height, 1: width) as :mod:`arithmetic` takes it."""
        if isinstance(self.padding, str):
            return self.padding
        return tuple(self.padding[axis])  # type: ignore[return-value]

    def output_length(self, axis: int, n: int | None) -> int | None:
        """Output length along ``axis`` for an input of length ``n`` (``None``: unknown)."""
        if n is None:
            return None
        k, s, d = self.kernel[axis], self.stride[axis], self.dilation[axis]
        kind = self.kind
        if kind in WINDOW_KINDS:
            return ar.conv_output_size(n, k, s, self.axis_padding(axis), d)
        if kind == "transposed":
            op = None if self.output_padding is None else self.output_padding[axis]
            return ar.transposed_conv_output_size(n, k, s, self.axis_padding(axis), op, d)
        if kind == "upsample":
            return n * s
        if kind in ("pad", "crop"):
            before, after = self.padding[axis]  # type: ignore[index]
            out = n + before + after if kind == "pad" else n - before - after
            if out <= 0:
                raise ValueError(f"layer {self.name!r} crops {before}+{after} pixels from a length of {n}: "
                                 f"nothing would be left")
            return out
        if kind == "global_pool":
            return 1
        return n

    def output_size(self, in_hw: tuple[int | None, int | None]) -> tuple[int | None, int | None]:
        """Spatial output size for an input of size ``in_hw``."""
        return (self.output_length(0, in_hw[0]), self.output_length(1, in_hw[1]))

    def padding_before(self, axis: int, n_in: int | None, n_out: int | None = None) -> int | None:
        """Zeros TensorFlow really adds before (top / left of) the input along ``axis``.

        For a transposed convolution this is the padding of the convolution it
        inverts, which depends on the *output* length ``n_out``. ``None`` when it
        cannot be known without the input size.
        """
        k, s, d, p = self.kernel[axis], self.stride[axis], self.dilation[axis], self.axis_padding(axis)
        if self.kind in WINDOW_KINDS:
            pair = ar.padding_pair(n_in, k, s, p, d)
            return None if pair is None else pair[0]
        if self.kind == "transposed":
            if n_out is None:
                pair = ar.padding_pair(None, k, s, p, d)
                return None if pair is None else pair[0]
            return ar.transposed_padding(n_out, k, s, p, d)[0]
        return 0

    # ------------------------------------------------------------------ display
    def describe(self) -> dict[str, str]:
        """Short strings for the kernel / stride / dilation / padding columns of a table."""
        def pair(v: HW, sep: str = "x") -> str:
            return str(v[0]) if v[0] == v[1] else f"{v[0]}{sep}{v[1]}"

        out = {"kernel": "", "stride": "", "dilation": "", "padding": ""}
        if self.kind in WINDOW_KINDS or self.kind == "transposed":
            out["kernel"] = f"{self.kernel[0]}x{self.kernel[1]}"
            out["stride"] = pair(self.stride)
            out["dilation"] = pair(self.dilation)
            out["padding"] = _padding_text(self.padding)
        elif self.kind == "upsample":
            out["stride"] = f"1/{pair(self.stride)}"
        elif self.kind in ("pad", "crop"):
            out["padding"] = _padding_text(self.padding) if self.kind == "pad" else f"-{_padding_text(self.padding)}"
        return out


def _padding_text(p: PaddingSpec) -> str:
    if isinstance(p, str):
        return p
    (t, b), (l, r) = p
    if t == b == l == r:
        return str(t)
    if t == b and l == r:
        return f"{t},{l}"
    return f"({t},{b}),({l},{r})"


# ============================================================================ Network
@dataclass
class Network:
    """A network as layer specs in topological order (inputs first).

    ``input_size`` is the (height, width) of the first input when known.
    ``keras_param_count`` is ``model.count_params()`` when built from a Keras
    model, and ``extra_weights`` lists weights that belong to no layer (rare:
    variables created by the model itself).
    """

    layers: list[LayerSpec]
    name: str = "network"
    input_size: tuple[int | None, int | None] | None = None
    keras_param_count: int | None = None
    extra_weights: tuple[WeightSpec, ...] = ()
    _index: dict[str, int] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._index = {}
        for i, spec in enumerate(self.layers):
            if spec.name in self._index:
                raise ValueError(f"two layers are named {spec.name!r}; layer names must be unique")
            for inp in spec.inputs:
                if inp not in self._index:
                    raise ValueError(f"layer {spec.name!r} reads {inp!r}, which is not an earlier layer")
            if spec.kind == "input" and spec.inputs:
                raise ValueError(f"input {spec.name!r} cannot have inputs")
            if spec.kind != "input" and not spec.inputs:
                raise ValueError(f"layer {spec.name!r} has no inputs")
            self._index[spec.name] = i

    def __iter__(self) -> Iterator[LayerSpec]:
        return iter(self.layers)

    def __len__(self) -> int:
        return len(self.layers)

    def __getitem__(self, name: str) -> LayerSpec:
        try:
            return self.layers[self._index[name]]
        except KeyError:
            raise KeyError(f"no layer named {name!r} in {self.name!r}") from None

    def __contains__(self, name: object) -> bool:
        return name in self._index

    @property
    def inputs(self) -> list[LayerSpec]:
        return [s for s in self.layers if s.kind == "input"]

    @property
    def names(self) -> list[str]:
        return [s.name for s in self.layers]

    def is_chain(self) -> bool:
        """True when every layer reads exactly the layer listed just before it."""
        return all(s.inputs == (self.layers[i - 1].name,) for i, s in enumerate(self.layers) if i)


# ============================================================================ shape inference
def _complete(network: Network, keras_checked: bool) -> Network:
    """Fill in unknown output sizes and channels from the arithmetic.

    For specs built from Keras the sizes Keras computed are kept, and checked
    against :mod:`course_utils.arithmetic` whenever both are known: the two must
    agree for every layer of every network (the tests run this on the Keras
    applications).
    """
    for spec in network.layers:
        if spec.kind == "input":
            continue
        srcs = [network[i] for i in spec.inputs]
        first = srcs[0]
        if spec.kind in GLOBAL_KINDS or spec.kind == "dense" or not first.spatial:
            # No window arithmetic: the grid is kept (1x1 for global pooling) or lost.
            if not first.spatial and not keras_checked:
                spec.spatial = False  # a hand-written layer after Flatten (Keras says so itself)
            if not spec.spatial:
                spec.out_hw = (None, None)
            elif None in spec.out_hw:
                spec.out_hw = (1, 1) if spec.kind == "global_pool" else first.out_hw
        else:
            try:
                computed = spec.output_size(first.out_hw)
            except ValueError as exc:
                raise ValueError(f"layer {spec.name!r} ({spec.type or spec.kind}): {exc}") from None
            given = spec.out_hw
            if keras_checked:
                for axis in (0, 1):
                    if given[axis] is not None and computed[axis] is not None and given[axis] != computed[axis]:
                        raise RuntimeError(
                            f"layer {spec.name!r} ({spec.type}): Keras gives an output of {given} but "
                            f"course_utils.arithmetic computes {computed} for input {first.out_hw}. "
                            f"This is a bug in course_utils: please report it with the model."
                        )
            spec.out_hw = tuple(g if g is not None else c for g, c in zip(given, computed))  # type: ignore[assignment]
        if spec.channels is None:
            spec.channels = _channels(spec, srcs)
    return network


def _channels(spec: LayerSpec, srcs: list[LayerSpec]) -> int | None:
    c_in = srcs[0].channels
    if spec.kind in ("conv", "separable", "transposed", "dense"):
        return spec.filters
    if spec.kind == "depthwise":
        return None if c_in is None else c_in * spec.depth_multiplier
    if spec.kind == "merge" and spec.merge == "concat":
        cs = [s.channels for s in srcs]
        return None if None in cs else sum(cs)  # type: ignore[arg-type]
    if spec.kind == "flatten":
        h, w = srcs[0].out_hw
        return None if None in (h, w, c_in) else h * w * c_in  # type: ignore[operator]
    return c_in


# ============================================================================ plain lists
_TOKEN = re.compile(
    r"^(?P<kind>[a-z_]+)(?P<k>\d+)?(?:x(?P<k2>\d+))?"
    r"(?P<opts>(?:s\d+|d\d+|op\d+|p\d+|same|valid|bilinear)*)(?:-(?P<filters>\d+))?$"
)
_OPT = re.compile(r"op\d+|s\d+|d\d+|p\d+|same|valid|bilinear")

# token / dict kind -> (spec kind, extra fields)
_LIST_KINDS: dict[str, tuple[str, dict[str, Any]]] = {
    "conv": ("conv", {}),
    "pool": ("pool", {"pool": "max"}),
    "maxpool": ("pool", {"pool": "max"}),
    "avgpool": ("pool", {"pool": "avg"}),
    "dw": ("depthwise", {}),
    "dwconv": ("depthwise", {}),
    "depthwise": ("depthwise", {}),
    "sep": ("separable", {}),
    "sepconv": ("separable", {}),
    "separable": ("separable", {}),
    "tconv": ("transposed", {}),
    "deconv": ("transposed", {}),
    "transposed": ("transposed", {}),
    "up": ("upsample", {}),
    "upsample": ("upsample", {}),
    "pad": ("pad", {}),
    "crop": ("crop", {}),
    "bn": ("batchnorm", {}),
    "batchnorm": ("batchnorm", {}),
    "relu": ("neutral", {}),
    "dropout": ("neutral", {}),
    "activation": ("neutral", {}),
    "neutral": ("neutral", {}),
    "flatten": ("flatten", {}),
    "gap": ("global_pool", {"pool": "avg"}),
    "gmp": ("global_pool", {"pool": "max"}),
    "global_pool": ("global_pool", {"pool": "avg"}),
    "dense": ("dense", {}),
}
_NEEDS_KERNEL = {"conv", "pool", "depthwise", "separable", "transposed", "upsample", "pad", "crop"}
_DICT_KEYS = {
    "kind", "name", "kernel", "stride", "padding", "dilation", "filters", "output_padding", "groups",
    "depth_multiplier", "use_bias", "size", "interpolation", "pool",
}
_DICT_ALIASES = {"kernel_size": "kernel", "strides": "stride", "dilation_rate": "dilation", "units": "filters",
                 "type": "kind"}


def _hw(value: Any, what: str, where: str) -> HW:
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError(f"{where}: {what} must be an int or an (height, width) pair, got {value!r}")
        h, w = value
    else:
        h = w = value
    for v in (h, w):
        if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
            raise ValueError(f"{where}: {what} must be a positive int or pair of them, got {value!r}")
    return (h, w)


def _padding_spec(value: Any, where: str) -> PaddingSpec:
    """int / (ph, pw) / ((t, b), (l, r)) / 'same' / 'valid' -> the spec's padding."""
    if isinstance(value, str):
        if value.lower() not in ("same", "valid"):
            raise ValueError(f"{where}: padding must be 'same', 'valid' or a number, got {value!r}")
        return value.lower()
    try:
        if isinstance(value, int) and not isinstance(value, bool):
            pads = ((value, value), (value, value))
        elif len(value) == 2 and all(isinstance(v, int) for v in value):
            pads = ((value[0], value[0]), (value[1], value[1]))
        else:
            pads = (tuple(value[0]), tuple(value[1]))  # type: ignore[assignment]
    except TypeError:
        raise ValueError(f"{where}: cannot read padding {value!r}") from None
    if any(isinstance(v, bool) or not isinstance(v, int) or v < 0 for pair in pads for v in pair):
        raise ValueError(f"{where}: padding must be non-negative integers, got {value!r}")
    return pads  # type: ignore[return-value]


def _parse_token(token: str, where: str) -> dict[str, Any]:
    m = _TOKEN.match(token.strip().lower())
    if not m or m.group("kind") not in _LIST_KINDS:
        known = ", ".join(sorted(_LIST_KINDS))
        raise ValueError(
            f"{where}: cannot read {token!r}. Write e.g. 'conv3' (3x3 conv), 'conv3d2' (dilation 2), "
            f"'conv3s2p1-64' (stride 2, padding 1, 64 filters), 'pool2' (2x2 max-pool); kinds: {known}"
        )
    d: dict[str, Any] = {"kind": m.group("kind")}
    if m.group("k"):
        k = int(m.group("k"))
        d["kernel"] = (k, int(m.group("k2"))) if m.group("k2") else k
    for opt in _OPT.findall(m.group("opts") or ""):
        if opt in ("same", "valid"):
            d["padding"] = opt
        elif opt == "bilinear":
            d["interpolation"] = "bilinear"
        elif opt.startswith("op"):
            d["output_padding"] = int(opt[2:])
        else:
            d[{"s": "stride", "d": "dilation", "p": "padding"}[opt[0]]] = int(opt[1:])
    if m.group("filters"):
        d["filters"] = int(m.group("filters"))
    return d


def _spec_from_dict(d: dict[str, Any], name: str, inputs: tuple[str, ...], where: str) -> LayerSpec:
    d = {_DICT_ALIASES.get(k, k): v for k, v in d.items()}
    unknown = set(d) - _DICT_KEYS
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {sorted(unknown)}; allowed: {sorted(_DICT_KEYS)}")
    kind_word = str(d.get("kind", "")).lower()
    if kind_word not in _LIST_KINDS:
        raise ValueError(f"{where}: 'kind' must be one of {', '.join(sorted(_LIST_KINDS))}; got {d.get('kind')!r}")
    kind, extra = _LIST_KINDS[kind_word]
    fields: dict[str, Any] = dict(extra)
    fields["type"] = kind_word
    if "pool" in d:
        fields["pool"] = d["pool"]
    if kind in _NEEDS_KERNEL:
        size = d.get("kernel", d.get("size"))
        if size is None:
            raise ValueError(f"{where}: a {kind_word} layer needs a kernel size (e.g. 'kernel': 3)")
        kernel = _hw(size, "kernel", where)
    if kind in WINDOW_KINDS or kind == "transposed":
        fields["kernel"] = kernel
        fields["stride"] = _hw(d.get("stride", kernel if kind == "pool" else 1), "stride", where)
        fields["dilation"] = _hw(d.get("dilation", 1), "dilation", where)
        fields["padding"] = _padding_spec(d.get("padding", 0), where)
        if kind == "transposed" and d.get("output_padding") is not None:
            op = d["output_padding"]
            fields["output_padding"] = (op, op) if isinstance(op, int) else tuple(op)
        if kind == "pool" and fields["dilation"] != (1, 1):
            raise ValueError(f"{where}: pooling layers have no dilation")
    elif kind == "upsample":
        fields["stride"] = kernel
        fields["interpolation"] = d.get("interpolation", "nearest")
    elif kind in ("pad", "crop"):
        amount = d.get("padding", d.get("kernel", d.get("size")))
        fields["padding"] = _padding_spec(amount, where)
    for key in ("filters", "groups", "depth_multiplier", "use_bias"):
        if key in d:
            fields[key] = d[key]
    if kind in ("conv", "separable", "transposed", "dense") and fields.get("filters") is not None:
        f = fields["filters"]
        if isinstance(f, bool) or not isinstance(f, int) or f <= 0:
            raise ValueError(f"{where}: filters must be a positive int, got {f!r}")
    spec = LayerSpec(name=name, kind=kind, inputs=inputs, **fields)
    if kind == "dense":
        spec.spatial = False  # a Dense layer in a teaching list follows Flatten / global pooling
    return spec


def from_list(
    layers: Sequence[str | dict | LayerSpec],
    input_size: int | tuple[int, int] | None = None,
    input_channels: int | None = None,
    name: str = "network",
) -> Network:
    """A chain network from a teaching list (see the module docstring for the tokens).

    >>> net = from_list(["conv3", "conv3", "pool2", "conv3"], input_size=10)
    >>> [s.out_hw[0] for s in net][1:]
    [8, 6, 3, 1]
    """
    if isinstance(layers, (str, bytes)) or not isinstance(layers, Sequence):
        raise TypeError("layers must be a list such as ['conv3', 'conv3', 'pool2']")
    size = size_pair(input_size)
    specs = [LayerSpec(name="input", kind="input", type="input", out_hw=size or (None, None),
                       channels=input_channels)]
    used: dict[str, int] = {"input": 1}
    for i, item in enumerate(layers, start=1):
        where = f"layer {i} ({item!r})"
        prev = (specs[-1].name,)
        if isinstance(item, LayerSpec):
            # re-chained, and its sizes worked out again for this input
            spec = replace(item, inputs=prev, out_hw=(None, None), channels=None)
        else:
            if isinstance(item, str):
                d = _parse_token(item, where)
                label = item.strip()
            elif isinstance(item, dict):
                d = dict(item)
                label = str(d.pop("name", "")) or _label_of(d)
            else:
                raise ValueError(f"{where}: expected a string like 'conv3', a dict or a LayerSpec")
            used[label] = used.get(label, 0) + 1
            unique = label if used[label] == 1 else f"{label}_{used[label]}"
            spec = _spec_from_dict(d, unique, prev, where)
            if isinstance(item, str):
                spec.type = label
        specs.append(spec)
    return _complete(Network(specs, name=name, input_size=size), keras_checked=False)


def _label_of(d: dict[str, Any]) -> str:
    kind = str(d.get("kind", d.get("type", "layer"))).lower()
    k = d.get("kernel", d.get("kernel_size", d.get("size", "")))
    k = f"{k[0]}x{k[1]}" if isinstance(k, (tuple, list)) else str(k)
    dil = d.get("dilation", d.get("dilation_rate", 1))
    return f"{kind}{k}" + (f"d{dil}" if dil not in (1, (1, 1)) else "")


def size_pair(size: int | tuple[int, int] | None) -> tuple[int, int] | None:
    """``input_size`` as a ``(height, width)`` pair (an int means a square; ``None`` stays ``None``)."""
    if size is None:
        return None
    if isinstance(size, str):
        raise ValueError(f"input_size must be an int or a (height, width) pair, got {size!r}")
    return _hw(size, "input_size", "input")


# ============================================================================ Keras
#: Layer classes taught by users: class -> kind ("neutral" or "flatten").
_REGISTERED: dict[type, str] = {}

#: Keras layers that keep the grid and the receptive field (looked up by name,
#: so that a Keras version without one of them still works).
_NEUTRAL_LAYERS = (
    "Activation", "ReLU", "LeakyReLU", "PReLU", "ELU", "Softmax", "Dropout", "SpatialDropout2D",
    "GaussianNoise", "GaussianDropout", "AlphaDropout", "ActivityRegularization", "Identity",
    "Rescaling", "Normalization", "Masking",
)
_MERGE_LAYERS = {"Add": "add", "Subtract": "subtract", "Multiply": "multiply", "Average": "average",
                 "Maximum": "maximum", "Minimum": "minimum", "Concatenate": "concat"}
#: keras.ops operations that may appear in a Functional graph (``x + y``, ``ops.relu(x)``).
_OP_MERGES = {"Add": "add", "Subtract": "subtract", "Multiply": "multiply", "Maximum": "maximum",
              "Minimum": "minimum", "Divide": "divide", "TrueDivide": "divide", "Concatenate": "concat"}
_OP_NEUTRAL = {"Relu", "Relu6", "Sigmoid", "HardSigmoid", "Tanh", "Silu", "Swish", "HardSilu", "HardSwish",
               "Gelu", "Elu", "Selu", "Softplus", "Softsign", "LeakyRelu", "Softmax", "Abs", "Square",
               "Sqrt", "Exp", "Log", "Negative", "Cast", "Identity"}


def register_layer(layer_class: type, kind: str = "neutral") -> None:
    """Teach :func:`from_keras` a layer class of your own.

    ``kind="neutral"`` for layers that keep the spatial grid pixel by pixel
    (custom activations, per-channel scalings); ``kind="flatten"`` for layers
    after which every unit sees the whole input. Layers that slide a window
    must be expressed with the built-in Keras layers instead.
    """
    if kind not in ("neutral", "flatten"):
        raise ValueError("register_layer: kind must be 'neutral' or 'flatten'")
    _REGISTERED[layer_class] = kind


def is_keras_model(obj: Any) -> bool:
    """True for Keras models (checked without importing Keras for other objects)."""
    module = type(obj).__module__ or ""
    return (module.startswith("keras") or module.startswith("tf_keras") or hasattr(obj, "count_params")) \
        and hasattr(obj, "layers")


# ---------------------------------------------------------------- one Keras layer -> its spec
# A describer reads a layer's attributes (never get_config) into a LayerSpec; ``base`` holds
# the spec's name, inputs and type, ``node`` the layer's graph node (None when unbuilt).
Describer = Callable[[Any, dict[str, Any], Any], LayerSpec]


def _conv_fields(layer: Any, base: dict[str, Any]) -> dict[str, Any]:
    return dict(kernel=tuple(layer.kernel_size), stride=tuple(layer.strides), dilation=tuple(layer.dilation_rate),
                padding=layer.padding.lower(), use_bias=bool(layer.use_bias), **base)


def _describe_separable(layer: Any, base: dict[str, Any], node: Any) -> LayerSpec:
    return LayerSpec(kind="separable", filters=layer.filters, depth_multiplier=layer.depth_multiplier,
                     **_conv_fields(layer, base))


def _describe_depthwise(layer: Any, base: dict[str, Any], node: Any) -> LayerSpec:
    return LayerSpec(kind="depthwise", depth_multiplier=layer.depth_multiplier, **_conv_fields(layer, base))


def _describe_transposed(layer: Any, base: dict[str, Any], node: Any) -> LayerSpec:
    op = None if layer.output_padding is None else tuple(layer.output_padding)
    return LayerSpec(kind="transposed", filters=layer.filters, output_padding=op, **_conv_fields(layer, base))


def _describe_conv(layer: Any, base: dict[str, Any], node: Any) -> LayerSpec:
    return LayerSpec(kind="conv", filters=layer.filters, groups=getattr(layer, "groups", 1),
                     **_conv_fields(layer, base))


def _pooling(pool: str) -> Describer:
    return lambda layer, base, node: LayerSpec(kind="pool", kernel=tuple(layer.pool_size), stride=tuple(layer.strides),
                                               padding=layer.padding.lower(), pool=pool, **base)


def _global_pooling(pool: str) -> Describer:
    return lambda layer, base, node: LayerSpec(kind="global_pool", spatial=bool(layer.keepdims), pool=pool, **base)


def _describe_upsample(layer: Any, base: dict[str, Any], node: Any) -> LayerSpec:
    if layer.interpolation not in ("nearest", "bilinear"):
        raise UnsupportedLayerError(
            f"layer {layer.name!r} (UpSampling2D) uses interpolation={layer.interpolation!r}; only "
            f"'nearest' and 'bilinear' have a receptive-field rule here")
    return LayerSpec(kind="upsample", stride=tuple(layer.size), interpolation=layer.interpolation, **base)


def _describe_batchnorm(layer: Any, base: dict[str, Any], node: Any) -> LayerSpec:
    return LayerSpec(kind="batchnorm", center=bool(layer.center), scale=bool(layer.scale), **base)


def _describe_dense(layer: Any, base: dict[str, Any], node: Any) -> LayerSpec:
    rank = len(node.input_tensors[0].shape) if node is not None else 2
    return LayerSpec(kind="dense", filters=layer.units, use_bias=bool(layer.use_bias), spatial=rank == 4, **base)


def _merging(merge: str) -> Describer:
    def describe(layer: Any, base: dict[str, Any], node: Any) -> LayerSpec:
        if merge == "concat" and layer.axis not in (-1, 3):
            raise UnsupportedLayerError(
                f"layer {layer.name!r} (Concatenate) joins along axis {layer.axis}: only channel "
                f"concatenation (axis=-1) keeps the spatial grid")
        return LayerSpec(kind="merge", merge=merge, **base)

    return describe


def _describe_layer_norm(layer: Any, base: dict[str, Any], node: Any) -> LayerSpec:
    axes = layer.axis if isinstance(layer.axis, (list, tuple)) else [layer.axis]
    if all(a in (-1, 3) for a in axes):
        return LayerSpec(kind="neutral", **base)
    return LayerSpec(kind="flatten", note="normalises over the spatial axes", **base)


def _same(**fields: Any) -> Describer:
    """The describer of layers whose spec has the same fields for every instance."""
    return lambda layer, base, node: LayerSpec(**fields, **base)


#: ``(Keras layer class names, describer)``, tried in order (a subclass before its base
#: class); names the installed Keras lacks are skipped. A new kind of layer is one entry
#: here, and its rule in :mod:`course_utils.receptive_field`.
_DESCRIBERS: list[tuple[tuple[str, ...], Describer]] = [
    (("InputLayer",), _same(kind="input")),
    (("SeparableConv2D",), _describe_separable),
    (("DepthwiseConv2D",), _describe_depthwise),
    (("Conv2DTranspose",), _describe_transposed),
    (("Conv2D",), _describe_conv),
    (("MaxPooling2D",), _pooling("max")),
    (("AveragePooling2D",), _pooling("avg")),
    (("GlobalMaxPooling2D",), _global_pooling("max")),
    (("GlobalAveragePooling2D",), _global_pooling("avg")),
    (("UpSampling2D",), _describe_upsample),
    (("ZeroPadding2D",), lambda layer, base, node: LayerSpec(kind="pad", padding=_pads(layer.padding), **base)),
    (("Cropping2D",), lambda layer, base, node: LayerSpec(kind="crop", padding=_pads(layer.cropping), **base)),
    (("BatchNormalization",), _describe_batchnorm),
    (("Dense",), _describe_dense),
    (("Flatten", "Reshape"), _same(kind="flatten", spatial=False)),
    *(((name,), _merging(merge)) for name, merge in _MERGE_LAYERS.items()),
    (_NEUTRAL_LAYERS, _same(kind="neutral")),
    (("LayerNormalization", "UnitNormalization"), _describe_layer_norm),
    (("GroupNormalization",), _same(kind="flatten", spatial=True,
                                    note="statistics over the whole feature map: every unit sees the whole input")),
]


class _KerasWalker:
    """Turns a Keras model into specs. Reads layer attributes only (no get_config)."""

    def __init__(self, keras: Any, input_size: tuple[int, int] | None):
        self.keras = keras
        self.L = keras.layers
        self.input_size = input_size
        self.specs: list[LayerSpec] = []
        self.used: dict[str, int] = {}
        self.first_node: dict[int, str] = {}  # id(layer) -> name of its first spec
        self.owned: set[int] = set()  # ids of weights attributed to a spec
        L = self.L
        self.describers = [(classes, describer) for names, describer in _DESCRIBERS
                           if (classes := tuple(getattr(L, n) for n in names if hasattr(L, n)))]

    # ------------------------------------------------------------ names and inputs
    def _unique(self, name: str) -> str:
        n = self.used.get(name, 0) + 1
        self.used[name] = n
        return name if n == 1 else f"{name}#{n}"

    def _add_input(self, tensor: Any, prefix: str) -> str:
        layer = tensor._keras_history.operation
        shape = tuple(tensor.shape)
        if len(shape) != 4:
            raise UnsupportedLayerError(
                f"input {layer.name!r} has shape {shape}: receptive fields need image inputs (batch, H, W, C)")
        hw = (shape[1], shape[2])
        if self.input_size is not None:
            for given, have in zip(self.input_size, hw):
                if have is not None and given != have:
                    raise ValueError(
                        f"the model is built for {hw[0]}x{hw[1]} inputs but input_size={self.input_size} was "
                        f"given: rebuild the model with that input shape, or leave input_size out")
            hw = self.input_size
        name = self._unique(prefix + layer.name)
        self.specs.append(LayerSpec(name=name, kind="input", type="InputLayer", out_hw=hw, channels=shape[3]))
        return name

    # ------------------------------------------------------------ walking
    def walk(self, model: Any, prefix: str = "", outer_inputs: list[str] | None = None) -> list[str]:
        """Add the specs of ``model``; return the names that carry its outputs."""
        graph = model
        if isinstance(model, self.keras.Sequential):
            graph = getattr(model, "_functional", None)
            if graph is None:
                return self._walk_unbuilt_sequential(model, prefix, outer_inputs)
        tensor_names: dict[int, str] = {}
        for i, t in enumerate(graph.inputs):
            tensor_names[id(t)] = outer_inputs[i] if outer_inputs is not None else self._add_input(t, prefix)
        order = {id(op): i for i, op in enumerate(graph.operations)}
        nodes = [n for depth in sorted(graph._nodes_by_depth, reverse=True) for n in
                 sorted(graph._nodes_by_depth[depth], key=lambda n: order.get(id(n.operation), 0))]
        for node in nodes:
            if node.is_input:
                continue
            op = node.operation
            try:
                in_names = [tensor_names[id(t)] for t in node.input_tensors]
            except KeyError:
                raise UnsupportedLayerError(f"layer {op.name!r} reads a tensor that is not computed from the "
                                            f"model's inputs") from None
            if isinstance(op, self.keras.Model):
                outs = self.walk(op, prefix + op.name + "/", in_names)
            else:
                outs = [self._add_layer(op, node, in_names, prefix)] * len(node.outputs)
            for t, name in zip(node.outputs, outs):
                tensor_names[id(t)] = name
        return [tensor_names[id(t)] for t in graph.outputs]

    def _walk_unbuilt_sequential(self, model: Any, prefix: str, outer_inputs: list[str] | None) -> list[str]:
        if outer_inputs is None:
            name = self._unique(prefix + "input")
            self.specs.append(LayerSpec(name=name, kind="input", type="InputLayer",
                                        out_hw=self.input_size or (None, None)))
            outer_inputs = [name]
        prev = outer_inputs[0]
        for layer in model.layers:
            if isinstance(layer, self.keras.Model):
                prev = self.walk(layer, prefix + layer.name + "/", [prev])[0]
            else:
                prev = self._add_layer(layer, None, [prev], prefix)
        return [prev]

    # ------------------------------------------------------------ one layer
    def _add_layer(self, layer: Any, node: Any, in_names: list[str], prefix: str) -> str:
        name = self._unique(prefix + layer.name)
        spec = self.describe(layer, name, tuple(in_names), node)
        out = node.outputs[0] if node is not None and node.outputs else None
        if out is not None:
            shape = tuple(out.shape)
            spec.spatial = len(shape) == 4
            spec.out_hw = (shape[1], shape[2]) if spec.spatial else (None, None)
            spec.channels = shape[-1] if len(shape) >= 2 else None
            if spec.kind == "global_pool" and not spec.spatial:
                spec.out_hw = (None, None)
        if id(layer) in self.first_node:
            spec.shared_with = self.first_node[id(layer)]
            spec.weights = ()
        else:
            self.first_node[id(layer)] = name
            spec.weights = self._weights(layer)
        self.specs.append(spec)
        return name

    def _weights(self, layer: Any) -> tuple[WeightSpec, ...]:
        if not hasattr(layer, "weights"):
            return ()
        trainable = {id(w) for w in layer.trainable_weights}
        out = []
        for w in layer.weights:
            self.owned.add(id(w))
            out.append(WeightSpec(w.name, tuple(int(d) for d in w.shape), id(w) in trainable))
        return tuple(out)

    def describe(self, layer: Any, name: str, inputs: tuple[str, ...], node: Any) -> LayerSpec:
        """The spec of one Keras layer (or keras.ops operation): the first entry of
        :data:`_DESCRIBERS` whose class the layer is an instance of describes it."""
        cls = type(layer)
        base = dict(name=name, inputs=inputs, type=cls.__name__)
        if getattr(layer, "data_format", "channels_last") == "channels_first":
            raise UnsupportedLayerError(
                f"layer {layer.name!r} ({cls.__name__}) uses data_format='channels_first'; the course "
                f"works in NHWC (channels_last)")
        for registered, kind in _REGISTERED.items():
            if isinstance(layer, registered):
                return LayerSpec(kind=kind, spatial=kind != "flatten", **base)
        for classes, describer in self.describers:
            if isinstance(layer, classes):
                return describer(layer, base, node)
        if not isinstance(layer, self.L.Layer):
            return self._operation(layer, base, node)
        raise UnsupportedLayerError(
            f"layer {layer.name!r} ({cls.__name__}) is not understood by course_utils.spec, and it may change "
            f"the receptive field. If it keeps the spatial grid pixel by pixel, register it with "
            f"course_utils.spec.register_layer({cls.__name__}, 'neutral'); otherwise build the model from "
            f"standard 2D Keras layers.")

    def _operation(self, op: Any, base: dict[str, Any], node: Any) -> LayerSpec:
        """A keras.ops operation in a Functional graph (``x + y``, ``keras.ops.relu(x)``, ...)."""
        cls = type(op).__name__
        n_tensors = len(node.input_tensors) if node is not None else 1
        if cls in _OP_MERGES and (n_tensors > 1 or cls == "Concatenate"):
            if cls == "Concatenate" and getattr(op, "axis", -1) not in (-1, 3):
                raise UnsupportedLayerError(f"operation {op.name!r} concatenates along a spatial axis")
            return LayerSpec(kind="merge", merge=_OP_MERGES[cls], **base)
        if cls in _OP_NEUTRAL or (cls in _OP_MERGES and n_tensors == 1):
            return LayerSpec(kind="neutral", **base)
        raise UnsupportedLayerError(
            f"operation {op.name!r} ({cls}) in the model graph is not understood by course_utils.spec and may "
            f"change the receptive field; use Keras layers for it")


def _pads(value: Any) -> Pads:
    (t, b), (l, r) = value
    return ((int(t), int(b)), (int(l), int(r)))


def from_keras(model: Any, input_size: int | tuple[int, int] | None = None) -> Network:
    """The network of a Keras model (Sequential or Functional, nested models inlined).

    ``input_size`` is needed only for models built without a fixed input
    size; for a model with a fixed size it must match (or be left out).
    """
    import keras

    walker = _KerasWalker(keras, size_pair(input_size))
    walker.walk(model)
    count = None
    extra: tuple[WeightSpec, ...] = ()
    if getattr(model, "built", False):
        try:
            count = int(model.count_params())
        except ValueError:
            count = None
        trainable = {id(w) for w in model.trainable_weights}
        extra = tuple(WeightSpec(w.name, tuple(int(d) for d in w.shape), id(w) in trainable)
                      for w in model.weights if id(w) not in walker.owned)
    first = next(s for s in walker.specs if s.kind == "input")
    net = Network(walker.specs, name=model.name, input_size=first.out_hw,
                  keras_param_count=count, extra_weights=extra)
    return _complete(net, keras_checked=True)


def as_network(
    model_or_layers: Any,
    input_size: int | tuple[int, int] | None = None,
    input_channels: int | None = None,
) -> Network:
    """A :class:`Network` from a Keras model, a teaching list, or a Network.

    This is the entry point the receptive-field and parameter tables, the
    grader and the plots share.
    """
    if isinstance(model_or_layers, Network):
        if input_size is None and input_channels is None:
            return model_or_layers
        if model_or_layers.is_chain():
            return from_list(model_or_layers.layers[1:], input_size, input_channels, model_or_layers.name)
        raise ValueError("input_size can only be changed for a chain network; build the network again instead")
    if isinstance(model_or_layers, (list, tuple)):
        return from_list(model_or_layers, input_size, input_channels)
    if is_keras_model(model_or_layers):
        return from_keras(model_or_layers, input_size)
    raise TypeError(
        f"expected a Keras model, a list such as ['conv3', 'pool2'] or a Network; got {type(model_or_layers).__name__}")


# ============================================================================ Keras access
# The few questions other modules ask about a Keras model, answered here so that
# only this module reads Keras layer objects (model transformations such as the
# receptive-field probe and convolutionalize get the layers from these functions).
def leaf_layers(model: Any) -> list[Any]:
    """Every layer inside ``model``: nested models and the sub-layers of subclassed layers
    included (Keras' own tracking of layer attributes), the model itself not."""
    return list(model._flatten_layers(include_self=False, recursive=True))


def top_layers(model: Any) -> list[Any]:
    """The layers of ``model`` in order, without the InputLayer (Sequential and Functional alike)."""
    import keras

    return [lay for lay in model.layers if not isinstance(lay, keras.layers.InputLayer)]


def image_input_shape(model: Any) -> list[int | None]:
    """The ``[batch, H, W, C]`` shape of the single input of ``model``."""
    if len(model.inputs) != 1:
        raise ValueError(f"{model.name!r} needs one image input, it has {len(model.inputs)}")
    return list(model.inputs[0].shape)


def truncated(model: Any, layer: str) -> Any:
    """``model`` up to (and with its output at) ``layer``; the layers and weights are shared."""
    import keras

    try:
        target = model.get_layer(layer)
    except ValueError:
        raise ValueError(f"{model.name!r} has no layer named {layer!r}") from None
    inputs = model.inputs[0] if len(model.inputs) == 1 else model.inputs  # called on a tensor, not a list
    return keras.Model(inputs, target.output, name=f"{model.name}_to_{layer}")


def last_spatial_layer(model: Any) -> str:
    """The name of the last layer of ``model`` whose output is a ``(batch, H, W, C)`` map."""
    for lay in reversed(model.layers):
        try:
            shape = lay.output.shape
        except (AttributeError, ValueError):
            continue
        if len(shape) == 4:
            return lay.name
    raise ValueError(f"{model.name!r} has no layer with a spatial (batch, H, W, C) output")


def moving_statistics(model: Any) -> list[Any]:
    """The non-trainable variables of every BatchNormalization layer (moving mean and variance)."""
    import keras

    return [v for lay in leaf_layers(model) if isinstance(lay, keras.layers.BatchNormalization)
            for v in lay.non_trainable_variables]


@dataclass(frozen=True)
class KerasLayerInfo:
    """What a rule about layer types needs to know of one layer inside a Keras model.

    ``keras_class``: the layer's class is a Keras class itself (not a subclass
    defined elsewhere). ``keras_conv``: the first Keras class in its ancestry whose
    name says convolution (``None`` if none). ``is_keras_conv``: it derives from
    Keras' convolution base classes. ``owns_4d_kernel``: the layer itself (not a
    sub-layer) holds a variable of rank 4 or more, a kernel whatever the class.
    ``role`` is ``"batchnorm"``, ``"dropout"`` or ``"other"``; ``rate`` the dropout rate.
    """

    name: str
    type: str
    keras_class: bool
    keras_conv: str | None
    is_keras_conv: bool
    owns_4d_kernel: bool
    role: str = "other"
    rate: float | None = None

    @property
    def convolves(self) -> bool:
        return self.is_keras_conv or self.owns_4d_kernel


def layer_inventory(model: Any) -> list[KerasLayerInfo]:
    """:class:`KerasLayerInfo` of every layer inside ``model`` (see :func:`leaf_layers`)."""
    import keras

    L = keras.layers
    out = []
    for lay in leaf_layers(model):
        cls = type(lay)
        keras_mro = [c.__name__ for c in cls.__mro__ if c.__module__.startswith("keras")]
        own = list(getattr(lay, "_trainable_variables", [])) + list(getattr(lay, "_non_trainable_variables", []))
        role, rate = "other", None
        if isinstance(lay, L.BatchNormalization):
            role = "batchnorm"
        elif isinstance(lay, (L.Dropout, L.SpatialDropout2D)):
            role, rate = "dropout", float(lay.rate)
        out.append(KerasLayerInfo(
            name=lay.name, type=cls.__name__, keras_class=cls.__module__.startswith("keras"),
            keras_conv=next((c for c in keras_mro if "Conv" in c), None),
            is_keras_conv=any(c in ("BaseConv", "BaseConvTranspose") for c in keras_mro),
            owns_4d_kernel=any(len(getattr(v, "shape", ())) >= 4 for v in own), role=role, rate=rate))
    return out
