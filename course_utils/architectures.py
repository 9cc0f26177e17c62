"""Keras builders of the classic CNN architectures of notebook 08.

Every builder returns a Functional ``keras.Model`` made of standard Keras layers
with readable names, so that :func:`course_utils.params.parameter_table` and
:func:`course_utils.receptive_field.receptive_field_table` can describe it, and
``count_params()`` can be compared with the papers' numbers.

=====================  ======================================================================
builder                what it is
=====================  ======================================================================
:func:`lenet5`         LeCun et al. 1998: C1-S2-C3-S4-C5-F6-output (tanh, average pooling)
:func:`alexnet`        Krizhevsky et al. 2012, with the two-GPU split as ``groups=2``
                       in conv2, conv4 and conv5; ``small=True`` for 32x32 inputs
:func:`vgg`            Simonyan & Zisserman 2014, built from :func:`vgg_block` (VGG-16 default)
:func:`residual_block` the ResNet basic block (the seed's PyTorch ``forward`` line by line);
                       ``shortcut=False`` gives the "plain" block
:func:`cifar_resnet`   He et al.'s 6n+2-layer CIFAR networks, plain or residual
:func:`dense_block`,   DenseNet (Huang et al. 2017): growth rate ``k``, layer ``l`` sees
:func:`transition`     ``k0 + k(l-1)`` channels; transitions BN-ReLU-1x1 conv-2x2 avg-pool
:func:`mobilenet`      MobileNet v1 (Howard et al. 2017) from :func:`mobilenet_block`
:func:`convolutionalize`  a Sequential classifier with Dense layers -> the same network as convolutions
:func:`fcn`            a small FCN-32s / 16s / 8s (Long et al. 2015) with bilinear-initialised
                       transposed convolutions
=====================  ======================================================================

:func:`synthetic_shapes`, the seeded segmentation data set (discs, squares and
triangles on a noisy background) the FCN is trained on, lives in
:mod:`course_utils.segmentation` and is re-exported here for the notebook.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

import course_utils  # noqa: F401  (quiet TensorFlow before Keras loads it)
import keras
from keras import layers

from course_utils import spec as specs
from course_utils.segmentation import SHAPE_CLASSES, bilinear_kernel, synthetic_shapes  # noqa: F401

__all__ = [
    "SHAPE_CLASSES",
    "VGG16",
    "alexnet",
    "cifar_resnet",
    "convolutionalize",
    "dense_block",
    "densenet",
    "fcn",
    "lenet5",
    "mobilenet",
    "mobilenet_block",
    "residual_block",
    "synthetic_shapes",
    "transition",
    "vgg",
    "vgg_block",
]


# ----------------------------------------------------------------------------- LeNet, AlexNet
def lenet5(input_shape: tuple[int, int, int] = (32, 32, 1), num_classes: int = 10) -> keras.Model:
    """LeNet-5: two conv + average-pool stages, C5 (a 5x5 conv that sees the whole 5x5 map), F6, output.

    C3 connects to all six S2 maps here (the 1998 paper used a hand-made partial
    connection table to save parameters).
    """
    inputs = keras.Input(input_shape, name="input")
    x = layers.Conv2D(6, 5, activation="tanh", name="C1")(inputs)
    x = layers.AveragePooling2D(2, name="S2")(x)
    x = layers.Conv2D(16, 5, activation="tanh", name="C3")(x)
    x = layers.AveragePooling2D(2, name="S4")(x)
    x = layers.Conv2D(120, 5, activation="tanh", name="C5")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(84, activation="tanh", name="F6")(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="output")(x)
    return keras.Model(inputs, outputs, name="lenet5")


def alexnet(input_shape: tuple[int, int, int] = (227, 227, 3), num_classes: int = 1000, groups: int = 2,
            small: bool = False) -> keras.Model:
    """AlexNet: five conv layers (ReLU), three max-pools, two 4096-unit hidden layers, softmax.

    ``groups=2`` reproduces the split over two GPUs: conv2, conv4 and conv5 only see
    the half of the channels computed on their own GPU; conv1, conv3 and the dense
    layers see everything. ``small=True`` is the same design for 32x32 images
    (5x5 stride-1 first layer, a quarter of the channels, 256-unit hidden layers).
    Local response normalisation is left out (later work found it unnecessary).
    """
    scale, first, hidden = (4, (5, 1, "same"), 256) if small else (1, (11, 4, "valid"), 4096)
    inputs = keras.Input(input_shape, name="input")
    x = layers.Conv2D(96 // scale, first[0], strides=first[1], padding=first[2], activation="relu",
                      name="conv1")(inputs)
    x = layers.MaxPooling2D(3, strides=2, name="pool1")(x)
    x = layers.Conv2D(256 // scale, 5, padding="same", groups=groups, activation="relu", name="conv2")(x)
    x = layers.MaxPooling2D(3, strides=2, name="pool2")(x)
    x = layers.Conv2D(384 // scale, 3, padding="same", activation="relu", name="conv3")(x)
    x = layers.Conv2D(384 // scale, 3, padding="same", groups=groups, activation="relu", name="conv4")(x)
    x = layers.Conv2D(256 // scale, 3, padding="same", groups=groups, activation="relu", name="conv5")(x)
    x = layers.MaxPooling2D(3, strides=2, name="pool5")(x)
    x = layers.Flatten(name="flatten")(x)
    for i in (6, 7):
        x = layers.Dropout(0.5, name=f"dropout{i}")(x)
        x = layers.Dense(hidden, activation="relu", name=f"fc{i}")(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="fc8")(x)
    name = "alexnet" + ("_small" if small else "") + f"_groups{groups}"
    return keras.Model(inputs, outputs, name=name)


# ----------------------------------------------------------------------------- VGG
#: (filters, number of 3x3 convolutions) of each VGG-16 block.
VGG16 = ((64, 2), (128, 2), (256, 3), (512, 3), (512, 3))


def vgg_block(x, filters: int, convs: int, name: str):
    """``convs`` 3x3 convolutions (stride 1, 'same', ReLU) followed by a 2x2 max-pool."""
    for i in range(1, convs + 1):
        x = layers.Conv2D(filters, 3, padding="same", activation="relu", name=f"{name}_conv{i}")(x)
    return layers.MaxPooling2D(2, name=f"{name}_pool")(x)


def vgg(input_shape: tuple[int, int, int] = (224, 224, 3), num_classes: int = 1000,
        blocks: Sequence[tuple[int, int]] = VGG16, hidden: int = 4096) -> keras.Model:
    """VGG: blocks of 3x3 convolutions and max-pools, then two hidden dense layers and softmax."""
    inputs = keras.Input(input_shape, name="input")
    x = inputs
    for b, (filters, convs) in enumerate(blocks, start=1):
        x = vgg_block(x, filters, convs, name=f"block{b}")
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(hidden, activation="relu", name="fc1")(x)
    x = layers.Dense(hidden, activation="relu", name="fc2")(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="predictions")(x)
    depth = sum(c for _, c in blocks) + 3
    return keras.Model(inputs, outputs, name=f"vgg{depth}")


# ----------------------------------------------------------------------------- ResNet
def residual_block(x, filters: int, stride: int = 1, shortcut: bool = True, name: str = "block",
                   bn_momentum: float = 0.99):
    """The ResNet basic block, written like the PyTorch ``forward`` of the lecture.

    ``shortcut=False`` drops the identity path: the "plain" block of the same depth.
    When the block changes the size or the channels (``stride > 1`` or new ``filters``)
    the identity is projected by a 1x1 convolution + BN (torchvision's ``downsample``).
    ``bn_momentum`` is the momentum of the moving statistics of every BN layer (Keras' default 0.99).
    """
    identity = x

    out = layers.Conv2D(filters, 3, strides=stride, padding="same", use_bias=False, name=f"{name}_conv1")(x)
    out = layers.BatchNormalization(momentum=bn_momentum, name=f"{name}_bn1")(out)
    out = layers.ReLU(name=f"{name}_relu1")(out)

    out = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"{name}_conv2")(out)
    out = layers.BatchNormalization(momentum=bn_momentum, name=f"{name}_bn2")(out)

    if shortcut:
        if stride != 1 or x.shape[-1] != filters:
            identity = layers.Conv2D(filters, 1, strides=stride, use_bias=False, name=f"{name}_downsample")(x)
            identity = layers.BatchNormalization(momentum=bn_momentum, name=f"{name}_downsample_bn")(identity)
        out = layers.Add(name=f"{name}_add")([out, identity])  # out += identity
    out = layers.ReLU(name=f"{name}_relu2")(out)
    return out


def cifar_resnet(depth: int = 20, residual: bool = True, input_shape: tuple[int, int, int] = (32, 32, 3),
                 num_classes: int = 10, widths: Sequence[int] = (16, 32, 64),
                 bn_momentum: float = 0.99) -> keras.Model:
    """He et al.'s CIFAR-10 networks: a 3x3 conv, three stages of ``n`` blocks, global pooling, softmax.

    ``depth = 6n + 2`` (20, 32, 44, 56, 110); each stage halves the size and doubles
    the width. ``residual=False`` builds the plain network with the same layers.
    ``bn_momentum``: the moving statistics' momentum of every BN layer (0.99, Keras' default,
    settles after thousands of steps; 0.9 after tens, for short runs evaluated in inference mode).
    """
    if (depth - 2) % 6:
        raise ValueError(f"depth must be 6n + 2 (20, 32, 44, 56, ...), got {depth}")
    n = (depth - 2) // 6
    inputs = keras.Input(input_shape, name="input")
    x = layers.Conv2D(widths[0], 3, padding="same", use_bias=False, name="conv1")(inputs)
    x = layers.BatchNormalization(momentum=bn_momentum, name="bn1")(x)
    x = layers.ReLU(name="relu1")(x)
    for stage, filters in enumerate(widths, start=1):
        for i in range(1, n + 1):
            stride = 2 if stage > 1 and i == 1 else 1
            x = residual_block(x, filters, stride, shortcut=residual, name=f"stage{stage}_block{i}",
                               bn_momentum=bn_momentum)
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="fc")(x)
    return keras.Model(inputs, outputs, name=f"{'resnet' if residual else 'plain'}{depth}")


# ----------------------------------------------------------------------------- DenseNet
def dense_block(x, num_layers: int, growth_rate: int, name: str = "dense"):
    """``num_layers`` composite functions H = BN-ReLU-3x3 conv, each adding ``growth_rate`` maps.

    Layer ``l`` (1-based) receives the concatenation ``[x_0, x_1, ..., x_{l-1}]``:
    ``k0 + k(l-1)`` channels. Its BN layer is named ``{name}_layer{l}_bn``.
    """
    for l in range(1, num_layers + 1):
        h = layers.BatchNormalization(name=f"{name}_layer{l}_bn")(x)
        h = layers.ReLU(name=f"{name}_layer{l}_relu")(h)
        h = layers.Conv2D(growth_rate, 3, padding="same", use_bias=False, name=f"{name}_layer{l}_conv")(h)
        x = layers.Concatenate(name=f"{name}_layer{l}_concat")([x, h])
    return x


def transition(x, compression: float = 1.0, name: str = "transition"):
    """BN, ReLU, 1x1 conv to ``floor(compression * C)`` channels, 2x2 average pooling."""
    channels = int(x.shape[-1] * compression)
    x = layers.BatchNormalization(name=f"{name}_bn")(x)
    x = layers.ReLU(name=f"{name}_relu")(x)
    x = layers.Conv2D(channels, 1, use_bias=False, name=f"{name}_conv")(x)
    return layers.AveragePooling2D(2, name=f"{name}_pool")(x)


def densenet(input_shape: tuple[int, int, int] = (32, 32, 3), num_classes: int = 10, growth_rate: int = 12,
             block_layers: Sequence[int] = (6, 6, 6), compression: float = 0.5,
             initial_channels: int | None = None) -> keras.Model:
    """A small CIFAR-style DenseNet: 3x3 stem with ``k0`` maps (default ``2k``), dense blocks and transitions."""
    k0 = 2 * growth_rate if initial_channels is None else initial_channels
    inputs = keras.Input(input_shape, name="input")
    x = layers.Conv2D(k0, 3, padding="same", use_bias=False, name="stem")(inputs)
    for b, n in enumerate(block_layers, start=1):
        x = dense_block(x, n, growth_rate, name=f"dense{b}")
        if b < len(block_layers):
            x = transition(x, compression, name=f"transition{b}")
    x = layers.BatchNormalization(name="final_bn")(x)
    x = layers.ReLU(name="final_relu")(x)
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="fc")(x)
    return keras.Model(inputs, outputs, name=f"densenet_k{growth_rate}")


# ----------------------------------------------------------------------------- MobileNet
#: (pointwise filters, stride) of the 13 depthwise-separable blocks of MobileNet v1.
MOBILENET_V1 = ((64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2),
                (512, 1), (512, 1), (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1))


def mobilenet_block(x, filters: int, stride: int = 1, name: str = "block"):
    """3x3 depthwise conv + BN + ReLU6, then 1x1 pointwise conv + BN + ReLU6 (no biases)."""
    x = layers.DepthwiseConv2D(3, strides=stride, padding="same", use_bias=False, name=f"{name}_dw")(x)
    x = layers.BatchNormalization(name=f"{name}_dw_bn")(x)
    x = layers.ReLU(6.0, name=f"{name}_dw_relu")(x)
    x = layers.Conv2D(filters, 1, use_bias=False, name=f"{name}_pw")(x)
    x = layers.BatchNormalization(name=f"{name}_pw_bn")(x)
    return layers.ReLU(6.0, name=f"{name}_pw_relu")(x)


def mobilenet(input_shape: tuple[int, int, int] = (224, 224, 3), num_classes: int = 1000,
              alpha: float = 1.0) -> keras.Model:
    """MobileNet v1: a strided 3x3 conv, 13 depthwise-separable blocks, global pooling, classifier.

    ``alpha`` is the width multiplier (channels scaled by it).
    """
    inputs = keras.Input(input_shape, name="input")
    x = layers.Conv2D(int(32 * alpha), 3, strides=2, padding="same", use_bias=False, name="conv1")(inputs)
    x = layers.BatchNormalization(name="conv1_bn")(x)
    x = layers.ReLU(6.0, name="conv1_relu")(x)
    for i, (filters, stride) in enumerate(MOBILENET_V1, start=1):
        x = mobilenet_block(x, int(filters * alpha), stride, name=f"block{i}")
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, outputs, name="mobilenet")


# ----------------------------------------------------------------------------- FCN
def convolutionalize(classifier: keras.Model, input_shape: tuple[int | None, int | None, int] | None = None
                     ) -> keras.Model:
    """The same network with every Dense layer turned into a convolution (FCN, section 3.1).

    ``classifier`` is a Sequential model ``[spatial layers..., Flatten, Dense, ..., Dense]``.
    The first Dense sees the flattened ``h x w x c`` map, so it becomes an ``h x w``
    convolution with ``units`` filters (its kernel reshaped to ``(h, w, c, units)``: Keras
    flattens NHWC row by row); later Dense layers become 1x1 convolutions. The weights
    are copied, so on an input of the original size the outputs are equal; on a larger
    input the result is a map of class scores, one per input window.
    """
    if not isinstance(classifier, keras.Sequential):
        raise ValueError("convolutionalize expects a keras.Sequential classifier ending in Flatten + Dense layers")
    channels = classifier.input_shape[-1]
    inputs = keras.Input(input_shape or (None, None, channels), name="input")
    x, feature_shape = inputs, None
    for layer in specs.top_layers(classifier):
        if isinstance(layer, layers.Flatten):
            feature_shape = layer.input.shape[1:]
            continue
        if isinstance(layer, layers.Dense):
            if feature_shape is None:
                raise ValueError(f"Dense layer {layer.name!r} comes before any Flatten layer")
            kernel, bias = layer.get_weights()
            h, w, c = feature_shape
            conv = layers.Conv2D(layer.units, (h, w), activation=layer.activation, name=f"{layer.name}_conv")
            x = conv(x)
            conv.set_weights([kernel.reshape(h, w, c, layer.units), bias])
            feature_shape = (1, 1, layer.units)
            continue
        if feature_shape is not None:
            raise ValueError(f"cannot convolutionalize layer {layer.name!r} after Flatten")
        clone = layer.__class__.from_config(layer.get_config())
        x = clone(x)
        clone.set_weights(layer.get_weights())
    return keras.Model(inputs, x, name=f"{classifier.name}_fully_convolutional")


def _upsample(x, num_classes: int, factor: int, name: str):
    """Learnable transposed convolution, ``2f x 2f`` kernel and stride ``f``, initialised bilinearly."""
    size = 2 * factor
    return layers.Conv2DTranspose(
        num_classes, size, strides=factor, padding="same", use_bias=False, name=name,
        kernel_initializer=keras.initializers.Constant(bilinear_kernel(size, num_classes)))(x)


def fcn(input_shape: tuple[int, int, int] = (64, 64, 3), num_classes: int = 4, variant: str = "8s",
        widths: Sequence[int] = (8, 16, 32, 64, 64), convs: Sequence[int] = (1, 2, 2, 2, 2),
        head: int = 64) -> keras.Model:
    """A small fully convolutional network with FCN's skip architecture.

    Backbone: five stages of ``convs[i]`` 3x3 convs with ``widths[i]`` filters (ReLU)
    and a 2x2 max-pool (``pool1`` ... ``pool5``, strides 2 ... 32). Head: ``fc6`` (3x3) and ``fc7`` (1x1) as convolutions,
    then a 1x1 ``score5``. ``variant``:

    * ``"32s"``: upsample ``score5`` 32x;
    * ``"16s"``: upsample 2x, add a 1x1 score of ``pool4``, upsample 16x;
    * ``"8s"``: as 16s, then upsample 2x, add a score of ``pool3``, upsample 8x.

    Upsampling uses transposed convolutions initialised to bilinear interpolation.
    The output has the input's size and ``num_classes`` channels of logits.
    """
    if variant not in ("32s", "16s", "8s"):
        raise ValueError(f"variant must be '32s', '16s' or '8s', got {variant!r}")
    inputs = keras.Input(input_shape, name="input")
    x, pools = inputs, {}
    for stage, (filters, count) in enumerate(zip(widths, convs), start=1):
        for i in range(1, count + 1):
            x = layers.Conv2D(filters, 3, padding="same", activation="relu", name=f"conv{stage}_{i}")(x)
        x = layers.MaxPooling2D(2, name=f"pool{stage}")(x)
        pools[stage] = x
    x = layers.Conv2D(head, 3, padding="same", activation="relu", name="fc6")(x)
    x = layers.Conv2D(head, 1, activation="relu", name="fc7")(x)
    score = layers.Conv2D(num_classes, 1, name="score5")(x)
    factor = 32
    for skip in {"32s": (), "16s": (4,), "8s": (4, 3)}[variant]:
        score = _upsample(score, num_classes, 2, name=f"up_to_pool{skip}")
        skip_score = layers.Conv2D(num_classes, 1, kernel_initializer="zeros", name=f"score{skip}")(pools[skip])
        score = layers.Add(name=f"fuse_pool{skip}")([score, skip_score])
        factor //= 2
    outputs = _upsample(score, num_classes, factor, name=f"up{factor}")
    return keras.Model(inputs, outputs, name=f"fcn{variant}")
