"""Networks from plain teaching lists (``["conv3", "conv3", "pool2"]``): :func:`from_list`.

The tokens are described in :mod:`course_utils.spec`, the public face of the layer specs.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any, Sequence

from course_utils.spec_core import WINDOW_KINDS, LayerSpec, Network, PaddingSpec, _complete, _hw, size_pair

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
    """A chain network from a teaching list (the tokens: see :mod:`course_utils.spec`).

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
