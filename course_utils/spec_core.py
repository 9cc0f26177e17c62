"""The core of :mod:`course_utils.spec`: layer specs, networks and shape inference.

A :class:`Network` is a list of :class:`LayerSpec` in topological order, each naming
its inputs; :func:`_complete` fills in the output sizes and channels from
:mod:`course_utils.arithmetic`. Nothing here knows Keras or the teaching lists:
:mod:`.spec_lists` and :mod:`.spec_keras` build networks, :mod:`.spec` is the public face.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterator, Union

from course_utils import arithmetic as ar

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


# ============================================================================ sizes
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


def size_pair(size: int | tuple[int, int] | None) -> tuple[int, int] | None:
    """``input_size`` as a ``(height, width)`` pair (an int means a square; ``None`` stays ``None``)."""
    if size is None:
        return None
    if isinstance(size, str):
        raise ValueError(f"input_size must be an int or a (height, width) pair, got {size!r}")
    return _hw(size, "input_size", "input")
