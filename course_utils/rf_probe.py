"""Receptive fields measured with gradients, independently of the formulas.

The gradient of one output unit with respect to the input is non-zero exactly on
the pixels the unit depends on, provided nothing cancels: :func:`positive_linear_copy`
makes a copy of a Keras model on which nothing can (linear, positive weights, average
pooling), :class:`GradientProbe` differentiates it, and
:func:`empirical_receptive_field` measures one unit. :mod:`course_utils.receptive_field`
re-exports these names; its tables are what the measurement checks.

This is model surgery (a changed copy of the model); it reads the model through the
Keras access functions of :mod:`course_utils.spec`.

The copy keeps strided 1x1 convolutions as they are: their input gradients are right
only with oneDNN's custom CPU kernels off, which :mod:`course_utils._quiet` ensures
(and warns about when it cannot).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from course_utils import spec as specs

__all__ = ["EmpiricalRF", "GradientProbe", "empirical_receptive_field", "mean_effective_gradient",
           "positive_linear_copy"]


@dataclass
class EmpiricalRF:
    """A receptive field measured with the gradient of one output unit.

    ``gradient`` is the (H, W) map of |d output / d input| summed over input
    channels (draw it as a heat map); ``bbox`` = ``(top, left, bottom, right)``
    of the pixels where it exceeds ``threshold * max`` (inclusive pixel indices);
    ``size`` = ``(height, width)`` of that box.
    """

    layer: str
    unit: tuple[int, int]
    gradient: Any
    bbox: tuple[int, int, int, int]
    exact: bool
    threshold: float

    @property
    def size(self) -> tuple[int, int]:
        top, left, bottom, right = self.bbox
        return (bottom - top + 1, right - left + 1)

    @property
    def centre(self) -> tuple[float, float]:
        top, left, bottom, right = self.bbox
        return ((top + bottom) / 2, (left + right) / 2)


class GradientProbe:
    """Measures the receptive fields of the units of one layer with gradients.

    Build it once, then :meth:`measure` as many units as needed; see
    :func:`empirical_receptive_field` for what is measured and when it is exact.
    """

    def __init__(self, model: Any, layer: str | None = None, input_size: int | tuple[int, int] | None = None,
                 exact: bool = True, seed: int = 0):
        import tensorflow as tf

        shape = specs.image_input_shape(model)
        if layer is None:
            layer = specs.last_spatial_layer(model)
        self.layer, self.exact = layer, exact
        self.model = positive_linear_copy(model, layer) if exact else specs.truncated(model, layer)
        size = specs.size_pair(input_size)
        if size is not None:
            shape[1:3] = size
        if None in shape[1:]:
            raise ValueError("the model accepts any input size: pass input_size=(height, width)")
        shape[0] = 1
        self.input = tf.ones(shape) if exact else tf.random.stateless_normal(shape, seed=(seed, 0))
        out = self.model.compute_output_shape(tuple(shape))
        if len(out) != 4:
            raise ValueError(f"layer {layer!r} has no spatial output (shape {tuple(out)})")
        self.output_size: tuple[int, int] = (out[1], out[2])

    def measure(self, unit: tuple[int, int] | None = None, threshold: float = 0.0) -> "EmpiricalRF":
        """The receptive field of output ``unit`` (default: the central one)."""
        import numpy as np
        import tensorflow as tf

        n_h, n_w = self.output_size
        row, col = ((n_h - 1) // 2, (n_w - 1) // 2) if unit is None else unit
        if not (0 <= row < n_h and 0 <= col < n_w):
            raise ValueError(f"unit {(row, col)} is outside the {n_h}x{n_w} output of {self.layer!r}")
        x = self.input
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = self.model(x, training=False)
            target = tf.reduce_sum(y[0, row, col, :])
        grad = np.abs(tape.gradient(target, x).numpy()[0]).sum(axis=-1)
        peak = grad.max()
        if peak <= 0:
            raise ValueError(f"the gradient of unit {(row, col)} of {self.layer!r} is zero everywhere; "
                             f"try exact=True or another unit")
        rows, cols = np.nonzero(grad > threshold * peak)
        bbox = (int(rows.min()), int(cols.min()), int(rows.max()), int(cols.max()))
        return EmpiricalRF(layer=self.layer, unit=(int(row), int(col)), gradient=grad, bbox=bbox,
                           exact=self.exact, threshold=threshold)


def empirical_receptive_field(
    model: Any,
    layer: str | None = None,
    unit: tuple[int, int] | None = None,
    input_size: int | tuple[int, int] | None = None,
    exact: bool = True,
    threshold: float = 0.0,
    seed: int = 0,
) -> EmpiricalRF:
    """Measure a receptive field with a gradient, like the ``receptivefield`` package.

    The gradient of output unit ``unit`` (default: the central one) of
    ``layer`` (default: the last layer with a spatial output), summed over
    channels, with respect to the input is non-zero exactly on the pixels the
    unit depends on, provided nothing cancels. With ``exact=True`` (default)
    this is guaranteed by measuring on
    :func:`positive_linear_copy` of the model with an all-ones
    input: linear activations, average instead of max pooling, positive
    kernels, zero biases. The box is then the *theoretical* receptive field,
    cut to the image: an independent check of :func:`receptive_field_table`
    (compare with ``analyse(model).box(layer, unit, clip=True)``).

    With ``exact=False`` the model's own weights and activations are used on a
    random input (``seed``): the map shows the *effective* receptive field of
    Luo et al. (2016), usually concentrated in the centre of the theoretical
    one; choose e.g. ``threshold=0.05`` to box its significant part.

    Needs a single-input model; the model itself is not changed. To measure
    several units, build a :class:`GradientProbe` once.
    """
    return GradientProbe(model, layer, input_size, exact, seed).measure(unit, threshold)



def mean_effective_gradient(model: Any, layer: str | None = None, unit: tuple[int, int] | None = None,
                            inputs: int = 8) -> Any:
    """Luo et al.'s (2016) effective receptive field map of one unit.

    The (H, W) map of |d unit / d input| (summed over input channels) of output ``unit``
    (default: the central one) of ``layer``, measured on the model's own weights and
    activations and averaged over ``inputs`` random normal inputs (seeds ``0 .. inputs-1``).
    Measure the same model before and after training to see how training moves it.
    """
    import numpy as np

    if inputs < 1:
        raise ValueError(f"inputs must be at least 1, got {inputs}")
    probes = [GradientProbe(model, layer, exact=False, seed=s) for s in range(inputs)]
    return np.mean([p.measure(unit).gradient for p in probes], axis=0)

def positive_linear_copy(model: Any, layer: str | None = None, thin: bool = True) -> Any:
    """A copy of ``model`` (up to ``layer``) on which input gradients reveal the exact receptive field.

    The copy has every activation replaced by the identity, max-pooling by
    average-pooling with the same window, Subtract / Maximum / Minimum merges by
    Add, all kernels set to the positive constant ``1/fan_in`` and all biases,
    betas and moving means set to zero. Every function on the path is then
    linear with non-negative coefficients, so the gradient of an output unit
    with respect to an all-ones input is strictly positive exactly on the
    pixels the unit depends on and zero elsewhere: nothing cancels and no ReLU
    is "dead". (A Multiply merge keeps this property while both of its inputs
    are positive; zeros brought in by ZeroPadding2D can hide pixels behind it.)

    With ``thin=True`` every convolution and Dense layer of the copy has a
    single filter (and ``groups=1``, ``depth_multiplier=1``): with positive
    weights the channels do not change which pixels a unit depends on, and the
    copy of a large network is then cheap to differentiate at a large input
    size. Models whose layers fix a channel count (a Reshape to ``(1, 1, C)``,
    say) are copied at full width instead.
    """
    import keras

    L = keras.layers
    target = model if layer is None else specs.truncated(model, layer)
    activations = tuple(getattr(L, n) for n in ("Activation", "ReLU", "LeakyReLU", "PReLU", "ELU", "Softmax")
                        if hasattr(L, n))
    to_add = tuple(getattr(L, n) for n in ("Subtract", "Maximum", "Minimum") if hasattr(L, n))

    def clone(lay: Any, narrow: bool) -> Any:
        if isinstance(lay, L.MaxPooling2D):
            return L.AveragePooling2D(lay.pool_size, lay.strides, lay.padding, name=lay.name)
        if isinstance(lay, L.GlobalMaxPooling2D):
            return L.GlobalAveragePooling2D(keepdims=lay.keepdims, name=lay.name)
        if isinstance(lay, activations):
            return L.Identity(name=lay.name)
        if isinstance(lay, to_add):
            return L.Add(name=lay.name)
        config = lay.get_config()
        if "activation" in config:
            config["activation"] = "linear"
        if narrow:
            for key in ("filters", "units", "groups", "depth_multiplier"):
                if key in config:
                    config[key] = 1
        return type(lay).from_config(config)

    try:
        copy = keras.models.clone_model(target, clone_function=lambda lay: clone(lay, thin), recursive=True)
    except (ValueError, TypeError):
        if not thin:
            raise
        copy = keras.models.clone_model(target, clone_function=lambda lay: clone(lay, False), recursive=True)
    for lay in specs.leaf_layers(copy):
        for w in lay.weights:
            w.assign(_probe_value(lay, w, L))
    return copy


def _probe_value(layer: Any, weight: Any, L: Any) -> Any:
    import numpy as np

    shape = tuple(int(d) for d in weight.shape)
    name = weight.name
    if name in ("bias", "beta", "moving_mean", "mean"):
        return np.zeros(shape, dtype="float32")
    if name in ("kernel", "depthwise_kernel", "pointwise_kernel") and len(shape) >= 2:
        if isinstance(layer, L.DepthwiseConv2D) or name == "depthwise_kernel":
            fan_in = shape[0] * shape[1]
        elif isinstance(layer, L.Conv2DTranspose):
            fan_in = shape[0] * shape[1] * shape[3]
        else:
            fan_in = 1
            for d in shape[:-1]:
                fan_in *= d
        return np.full(shape, 1.0 / fan_in, dtype="float32")
    return np.ones(shape, dtype="float32")
