"""Networks from Keras models (:func:`from_keras`), and every other question about a
Keras model's layers: the ONE module of the course that reads Keras layer objects.

Other modules that need a model's layers (the receptive-field probe, convolutionalize,
the training probe, the A3 rules) ask the functions of the "Keras access" section,
through :mod:`course_utils.spec` (tests/test_package_structure.py enforces it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from course_utils.spec_core import LayerSpec, Network, Pads, UnsupportedLayerError, WeightSpec, _complete, \
    size_pair

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
