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
"""

from __future__ import annotations

from typing import Sequence

import keras
import numpy as np
from keras import layers

__all__ = [
    "CONTEXT_DILATIONS",
    "CONTEXT_KERNELS",
    "ConvIdentity",
    "NumpyContextNet",
    "context_classifier",
    "context_layers",
    "context_module",
    "context_widths",
    "INITS",
    "identity_kernel",
    "kernel_initializer",
    "train_numpy",
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


# ============================================================================ numpy twin
class NumpyContextNet:
    """The classifier of :func:`context_classifier` in numpy, trained with a chosen conv backward pass.

    Same layers, weight layout and initialisation choices as the Keras model
    (``to_keras()`` copies the weights into one, to compare with autodiff), built
    from :mod:`course_utils.ops`: ``conv2d_forward`` with ``padding="same"`` and
    the layer's dilation, ReLU, Flatten, dense, softmax cross-entropy.
    ``params`` maps ``front_end``, ``ctx1`` ... ``ctx8``, ``logits`` to ``[kernel, bias]``.
    """

    def __init__(self, input_shape: Sequence[int], num_classes: int, channels: int = 4,
                 init: str = "identity", seed: int = 0, dtype: str = "float32"):
        rng = np.random.default_rng(seed)
        h, w, c_in = input_shape
        self.input_shape, self.num_classes, self.channels = tuple(input_shape), num_classes, channels

        def glorot(shape, fan_in, fan_out):
            limit = np.sqrt(6.0 / (fan_in + fan_out))
            return rng.uniform(-limit, limit, shape)

        def bias(n):
            return np.zeros(n)

        self.params: dict[str, list[np.ndarray]] = {
            "front_end": [glorot((3, 3, c_in, channels), 9 * c_in, 9 * channels), bias(channels)]}
        for i, (k, d) in enumerate(zip(CONTEXT_KERNELS, CONTEXT_DILATIONS), start=1):
            if init == "identity":
                kernel = identity_kernel(k, k, channels, channels)
            elif init == "random_normal":
                kernel = rng.normal(0.0, 0.05, (k, k, channels, channels))
            elif init == "he_normal":
                kernel = rng.normal(0.0, np.sqrt(2.0 / (k * k * channels)), (k, k, channels, channels))
            else:
                raise ValueError(f"init must be one of {', '.join(INITS)}; got {init!r}")
            self.params[f"ctx{i}"] = [kernel, bias(channels)]
        flat = h * w * channels
        self.params["logits"] = [glorot((flat, num_classes), flat, num_classes), bias(num_classes)]
        self.params = {name: [np.asarray(p, dtype=dtype) for p in ps] for name, ps in self.params.items()}

    @property
    def conv_layers(self) -> list[tuple[str, int]]:
        """``(name, dilation)`` of the convolutions, in order."""
        return [("front_end", 1)] + [(f"ctx{i}", d) for i, d in enumerate(CONTEXT_DILATIONS, start=1)]

    def forward(self, x: np.ndarray):
        """Logits and the caches the backward pass needs."""
        from course_utils import ops

        caches = []
        h = x
        for name, d in self.conv_layers:
            h, conv_cache = ops.conv2d_forward(h, *self.params[name], padding="same", dilation=d)
            relu_cache = None
            if name != "ctx8":  # every layer but the last 1x1 is truncated by a ReLU
                h, relu_cache = ops.relu_forward(h)
            caches.append((conv_cache, relu_cache))
        logits, dense_cache = ops.dense_forward(h.reshape(len(h), -1), *self.params["logits"])
        return logits, (caches, dense_cache, h.shape)

    def predict(self, x: np.ndarray, batch_size: int = 500) -> np.ndarray:
        """Predicted classes, in batches."""
        return np.concatenate([self.forward(x[i:i + batch_size])[0].argmax(axis=1)
                               for i in range(0, len(x), batch_size)])

    def loss_and_grads(self, x: np.ndarray, y: np.ndarray, conv_backward=None):
        """Mean cross-entropy on ``(x, y)`` and its gradient for every parameter.

        ``conv_backward(dout, cache) -> (dx, dw, db)`` is the backward pass used
        for every convolution (default :func:`course_utils.ops.conv2d_backward`);
        pass :func:`course_utils.ops.dilated_conv2d_backward_broken` to train with the bug.
        """
        from course_utils import ops

        conv_backward = conv_backward or ops.conv2d_backward
        logits, (caches, dense_cache, shape) = self.forward(x)
        loss, dlogits = ops.softmax_cross_entropy(logits, y)
        grads: dict[str, list[np.ndarray]] = {}
        dflat, dw, db = ops.dense_backward(dlogits, dense_cache)
        grads["logits"] = [dw, db]
        dh = dflat.reshape(shape)
        for (name, _), (conv_cache, relu_cache) in zip(reversed(self.conv_layers), reversed(caches)):
            if relu_cache is not None:
                dh = ops.relu_backward(dh, relu_cache)
            dh, dw, db = conv_backward(dh, conv_cache)
            grads[name] = [dw, db]
        return loss, grads

    def keras_weights(self) -> list[np.ndarray]:
        """The weights in the order of ``context_classifier(...).get_weights()``."""
        names = ["front_end"] + [f"ctx{i}" for i in range(1, 9)] + ["logits"]
        return [p for name in names for p in self.params[name]]

    def to_keras(self):
        """A :func:`context_classifier` holding these weights (for comparing with autodiff)."""
        model = context_classifier(self.input_shape, self.num_classes, channels=self.channels)
        model.set_weights(self.keras_weights())
        return model


def train_numpy(net: NumpyContextNet, x: np.ndarray, y: np.ndarray, epochs: int = 1, batch_size: int = 64,
                conv_backward=None, learning_rate: float = 1e-3, seed: int = 0) -> list[float]:
    """Train ``net`` in place with Adam (Keras' defaults) on shuffled mini-batches; returns the step losses."""
    rng = np.random.default_rng(seed)
    beta1, beta2, eps = 0.9, 0.999, 1e-7
    moments = {name: [(np.zeros_like(p), np.zeros_like(p)) for p in ps] for name, ps in net.params.items()}
    losses, step = [], 0
    for _ in range(epochs):
        order = rng.permutation(len(x))
        for start in range(0, len(x), batch_size):
            batch = order[start:start + batch_size]
            loss, grads = net.loss_and_grads(x[batch], y[batch], conv_backward)
            losses.append(loss)
            step += 1
            rate = learning_rate * np.sqrt(1 - beta2 ** step) / (1 - beta1 ** step)
            for name, params in net.params.items():
                for k, (p, g) in enumerate(zip(params, grads[name])):
                    m, v = moments[name][k]
                    m += (1 - beta1) * (g - m)
                    v += (1 - beta2) * (g * g - v)
                    p -= (rate * m / (np.sqrt(v) + eps)).astype(p.dtype)
    return losses
