r"""Keras model builders shared by the notebooks and the tests.

Notebook 03 (dilated convolution) builds the *context module* of Yu & Koltun,
"Multi-Scale Context Aggregation by Dilated Convolutions" (ICLR 2016): eight
layers, 3x3 convolutions with dilations 1, 1, 2, 4, 8, 16, 1 and a final 1x1,
every layer but the last followed by a ReLU ("truncation"), 'same' padding so
the output has the shape of the input.

* :data:`CONTEXT_DILATIONS`, :data:`CONTEXT_KERNELS`, :func:`context_widths`:
  the architecture table (Basic: C channels everywhere; Large: 2C ... 32C, C).
* :func:`context_layers`: the module as a list of layer descriptions (for
  ``receptive_field_table`` and the plots), no Keras needed.
* :class:`ConvIdentity`: the identity initialisation
  :math:`k^b(t, a) = \mathbb 1_{[t=0]}\mathbb 1_{[a=b]}` (and the paper's
  generalisation when the channel count changes).
* :func:`context_module`: the module as a ``keras.Sequential``.
* :func:`context_classifier`: front-end conv + context module + dense head,
  the classification experiment of notebook 03.
* :func:`dense_predictor`: a full-resolution front-end of 3x3 convolutions and a
  1x1 classifier giving per-pixel class scores, optionally with the context
  module on those scores (the dense-prediction experiment of notebook 03).
* :func:`vgg16_layers` / :func:`dilated_front_end`: VGG-16 as a teaching list,
  and Yu & Koltun's front-end derived from it (pooling layers removed, the
  convolutions after them dilated).
"""

from __future__ import annotations

from typing import Sequence

import keras
import numpy as np
from keras import layers

from course_utils import spec as specs
from course_utils.architectures import VGG16  # (filters, 3x3 convolutions) of each block

__all__ = [
    "CONTEXT_DILATIONS",
    "CONTEXT_KERNELS",
    "ConvIdentity",
    "context_classifier",
    "context_layers",
    "context_module",
    "context_widths",
    "dense_predictor",
    "dilated_front_end",
    "vgg16_layers",
    "INITS",
    "identity_kernel",
    "kernel_initializer",
]

#: Dilation of each of the eight layers of the context module.
CONTEXT_DILATIONS: tuple[int, ...] = (1, 1, 2, 4, 8, 16, 1, 1)
#: Kernel size of each layer (the last one is a 1x1 convolution).
CONTEXT_KERNELS: tuple[int, ...] = (3, 3, 3, 3, 3, 3, 3, 1)
#: Output channels of the Large module, in multiples of C.
_LARGE_FACTORS: tuple[int, ...] = (2, 2, 4, 8, 16, 32, 32, 1)


def context_widths(channels: int, variant: str = "basic") -> list[int]:
    """Output channels of the eight layers: Basic ``[C]*8``, Large ``[2C, 2C, 4C, ..., 32C, C]``."""
    variant = variant.lower()
    if variant == "basic":
        return [channels] * len(CONTEXT_DILATIONS)
    if variant == "large":
        return [f * channels for f in _LARGE_FACTORS]
    raise ValueError(f"variant must be 'basic' or 'large', got {variant!r}")


def context_layers(channels: int | None = None, variant: str = "basic") -> list[dict]:
    """The module as a teaching list for :mod:`course_utils.spec` (layers named ``ctx1`` ... ``ctx8``).

    ``channels`` (C) adds the output widths of :func:`context_widths`; without it
    the list describes only the geometry, which is all a receptive-field table needs::

        receptive_field_table(context_layers())["rf"]   # 1, 3, 5, 9, ..., 67, 67
    """
    widths = context_widths(channels, variant) if channels is not None else [None] * len(CONTEXT_DILATIONS)
    layers_ = []
    for i, (k, d, f) in enumerate(zip(CONTEXT_KERNELS, CONTEXT_DILATIONS, widths), start=1):
        layer = {"name": f"ctx{i}", "kind": "conv", "kernel": k, "dilation": d, "padding": "same"}
        if f is not None:
            layer["filters"] = f
        layers_.append(layer)
    return layers_


def identity_kernel(
    kh: int, kw: int, c_in: int, c_out: int, base: int | None = None, noise: float = 0.0, seed: int = 0
) -> np.ndarray:
    r"""The identity initialisation of Yu & Koltun as a ``(kh, kw, c_in, c_out)`` array.

    With ``c_in == c_out == base`` this is :math:`k^b(t, a) = 1_{[t=0]} 1_{[a=b]}`: only
    the centre tap ``t = 0`` is non-zero and it copies input channel ``a`` to output
    channel ``b = a``, so the convolution (and a ReLU after it, on non-negative
    inputs) returns its input unchanged. For other widths (the Large module) the paper uses

    .. math:: k^b(t,a) = \frac{C}{c_{out}} 1_{[t=0]}
              1_{[\lfloor aC/c_{in}\rfloor = \lfloor bC/c_{out}\rfloor]} + \varepsilon

    where ``C = base`` is the width of the module's input and output (default
    ``min(c_in, c_out)``): channel groups are copied and averaged, so the whole
    module is still the identity. ``noise`` is the standard deviation of
    :math:`\varepsilon` (0: exact).
    """
    if kh % 2 == 0 or kw % 2 == 0:
        raise ValueError(f"an identity kernel needs odd sizes (a centre tap), got {kh}x{kw}")
    base = min(c_in, c_out) if base is None else base
    a = np.arange(c_in)[:, None] * base // c_in
    b = np.arange(c_out)[None, :] * base // c_out
    kernel = np.zeros((kh, kw, c_in, c_out), dtype="float32")
    kernel[kh // 2, kw // 2] = (a == b) * np.float32(base / c_out)
    if noise:
        kernel += np.random.default_rng(seed).normal(0.0, noise, kernel.shape).astype("float32")
    return kernel


@keras.saving.register_keras_serializable(package="course_utils")
class ConvIdentity(keras.initializers.Initializer):
    """Keras initializer for Conv2D kernels: :func:`identity_kernel` (``base``, ``noise``, ``seed``)."""

    def __init__(self, base: int | None = None, noise: float = 0.0, seed: int = 0):
        self.base, self.noise, self.seed = base, noise, seed

    def __call__(self, shape, dtype=None):
        if len(shape) != 4:
            raise ValueError(f"ConvIdentity initialises Conv2D kernels (kh, kw, c_in, c_out), got shape {shape}")
        kernel = identity_kernel(*shape, base=self.base, noise=self.noise, seed=self.seed)
        return keras.ops.convert_to_tensor(kernel, dtype=dtype or "float32")

    def get_config(self):
        return {"base": self.base, "noise": self.noise, "seed": self.seed}


INITS = ("identity", "random_normal", "he_normal")


def kernel_initializer(init: str, seed: int = 0, base: int | None = None):
    """``"identity"`` (:class:`ConvIdentity`), ``"random_normal"`` (N(0, 0.05²), the source
    blog post's choice) or ``"he_normal"``, as a seeded Keras initializer."""
    if init == "identity":
        return ConvIdentity(base=base)
    if init == "random_normal":
        return keras.initializers.RandomNormal(stddev=0.05, seed=seed)
    if init == "he_normal":
        return keras.initializers.HeNormal(seed=seed)
    raise ValueError(f"init must be one of {', '.join(INITS)}; got {init!r}")


def context_module(
    channels: int,
    variant: str = "basic",
    init: str = "identity",
    in_channels: int | None = None,
    seed: int = 0,
    name: str = "context_module",
):
    """The context module as a ``keras.Sequential`` taking ``(H, W, in_channels)`` inputs.

    ``in_channels`` defaults to ``channels`` (the module maps C channels to C).
    ``init`` is ``"identity"`` (Yu & Koltun), ``"random_normal"`` (N(0, 0.05^2),
    as in the source blog post) or ``"he_normal"``; biases start at zero.
    Layer names are ``ctx1`` ... ``ctx8``.
    """
    widths = context_widths(channels, variant)
    model = keras.Sequential(name=name)
    model.add(keras.Input((None, None, in_channels or channels)))
    for i, (k, d, f) in enumerate(zip(CONTEXT_KERNELS, CONTEXT_DILATIONS, widths)):
        last = i == len(widths) - 1
        model.add(layers.Conv2D(
            f, k, padding="same", dilation_rate=d, activation=None if last else "relu",
            kernel_initializer=kernel_initializer(init, seed + i, base=channels), name=f"ctx{i + 1}",
        ))
    return model


def context_classifier(
    input_shape: Sequence[int],
    num_classes: int,
    channels: int = 8,
    init: str = "identity",
    seed: int = 0,
):
    """Front-end + context module + dense head: the classifier of notebook 03.

    ``Input -> Conv2D(channels, 3, relu)`` (front-end: makes the C channels the
    module expects) ``-> context_module(channels) -> Flatten -> Dense(num_classes)``
    (logits). Only the context module uses ``init``; the front-end and the head
    use Keras' defaults, seeded.
    """
    keras.utils.set_random_seed(seed)
    inputs = keras.Input(tuple(input_shape), name="image")
    x = layers.Conv2D(channels, 3, padding="same", activation="relu", name="front_end",
                      kernel_initializer=keras.initializers.GlorotUniform(seed=seed))(inputs)
    x = context_module(channels, init=init, seed=seed + 1)(x)
    x = layers.Flatten(name="flatten")(x)
    outputs = layers.Dense(num_classes, name="logits",
                           kernel_initializer=keras.initializers.GlorotUniform(seed=seed + 100))(x)
    return keras.Model(inputs, outputs, name=f"context_classifier_{init}")


def dense_predictor(
    num_classes: int,
    widths: Sequence[int] = (32, 32, 32),
    context: str | None = None,
    init: str = "identity",
    input_shape: Sequence[int | None] = (None, None, 3),
    seed: int = 0,
    weights_from=None,
):
    """A dense-prediction network at full resolution: one score vector per pixel.

    ``Input -> len(widths) x Conv2D(w, 3, 'same', relu)`` (the front-end; no pooling, no
    stride) ``-> Conv2D(num_classes, 1)`` (the 1x1 classifier: class scores, logits). With
    ``context="basic"`` (or ``"large"``) the context module of :func:`context_module`, on
    ``num_classes`` channels and initialised with ``init``, follows the scores, so the output
    is again ``num_classes`` score maps of the input's size. The front-end and the classifier
    use Glorot-uniform kernels seeded by ``seed`` alone, so the networks with and without the
    module start from the same front-end.

    ``weights_from``: a (trained) dense predictor with the same ``widths`` and classes whose
    front-end and classifier weights are copied into the new network; the context module, if
    any, keeps its initialisation. This is how a module is put on a trained front-end.
    """
    keras.utils.set_random_seed(seed)
    inputs = keras.Input(tuple(input_shape), name="image")
    x = inputs
    for i, w in enumerate(widths, start=1):
        x = layers.Conv2D(w, 3, padding="same", activation="relu", name=f"front{i}",
                          kernel_initializer=keras.initializers.GlorotUniform(seed=seed + i))(x)
    x = layers.Conv2D(num_classes, 1, name="scores",
                      kernel_initializer=keras.initializers.GlorotUniform(seed=seed + 100))(x)
    if context is not None:
        x = context_module(num_classes, variant=context, init=init, seed=seed + 200)(x)
    name = "dense_predictor" + (f"_{context}_context" if context else "")
    model = keras.Model(inputs, x, name=name)
    if weights_from is not None:
        for layer in [f"front{i}" for i in range(1, len(widths) + 1)] + ["scores"]:
            try:
                source = weights_from.get_layer(layer).get_weights()
            except ValueError:
                raise ValueError(f"weights_from has no layer {layer!r}: pass a network built by "
                                 f"dense_predictor with widths={tuple(widths)}") from None
            target = model.get_layer(layer)
            shapes = [w.shape for w in target.get_weights()]
            if [w.shape for w in source] != shapes:
                raise ValueError(f"layer {layer!r} of weights_from has weights of shapes "
                                 f"{[w.shape for w in source]}, this network needs {shapes}: build both "
                                 f"with the same widths and number of classes")
            target.set_weights(source)
    return model


def vgg16_layers(fc: bool = True) -> list[dict]:
    """VGG-16 (Simonyan & Zisserman 2014) as a teaching list for :mod:`course_utils.spec`.

    ``conv{b}_{i}``: 3x3 convolutions, stride 1, 'same' padding; ``pool{b}``: 2x2 max-pools,
    stride 2. With ``fc=True`` the two hidden fully connected layers follow as the
    convolutions they are on a 7x7 map (FCN's reading, notebook 08): ``fc6`` a 7x7
    convolution with 4096 filters, ``fc7`` a 1x1 one ('same' padding, so every layer keeps
    the input size divided by the stride).
    """
    out: list[dict] = []
    for b, (filters, convs) in enumerate(VGG16, start=1):
        for i in range(1, convs + 1):
            out.append({"name": f"conv{b}_{i}", "kind": "conv", "kernel": 3, "padding": "same", "filters": filters})
        out.append({"name": f"pool{b}", "kind": "pool", "kernel": 2, "stride": 2})
    if fc:
        out.append({"name": "fc6", "kind": "conv", "kernel": 7, "padding": "same", "filters": 4096})
        out.append({"name": "fc7", "kind": "conv", "kernel": 1, "padding": "same", "filters": 4096})
    return out


def dilated_front_end(layer_list: Sequence[dict], remove: Sequence[str] = ("pool4", "pool5")) -> list[dict]:
    """Yu & Koltun's front-end: the layers named in ``remove`` deleted, later convolutions dilated.

    Every convolution after a removed layer of stride ``s`` has its dilation multiplied by
    ``s`` (by the product of the strides of all removed layers before it): with VGG-16's
    ``pool4`` and ``pool5`` removed, ``conv5_*`` get dilation 2 and ``fc6`` dilation 4
    (1x1 kernels, which dilation does not change, are left as they are). Each filter then meets the same input pixels as
    before, at every position instead of every ``s``-th one: the output stride shrinks by the
    product of the removed strides. The input list is not modified.
    """
    layer_list = list(layer_list)
    # each layer's kind and stride as the course's one layer description reads them
    described = specs.as_network(layer_list).layers[1:]
    names = [d.get("name") for d in layer_list]
    missing = [r for r in remove if r not in names]
    if missing:
        raise ValueError(f"no layer named {', '.join(map(repr, missing))} in the list")
    factor, out = 1, []
    for d, spec in zip(layer_list, described):
        if d.get("name") in remove:
            if spec.stride[0] != spec.stride[1]:
                raise ValueError(f"layer {d['name']!r} has strides {spec.stride}: only a square stride can be "
                                 "traded for a dilation")
            factor *= spec.stride[0]
            continue
        d = dict(d)
        if spec.kind == "conv" and factor > 1 and spec.kernel != (1, 1):
            d.pop("dilation_rate", None)  # the Keras spelling, which spec also reads
            rows, cols = (v * factor for v in spec.dilation)
            d["dilation"] = rows if rows == cols else (rows, cols)
        out.append(d)
    return out
