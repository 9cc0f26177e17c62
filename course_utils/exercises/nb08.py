"""Exercises of notebook 08 (architectures). References are computed from Keras layers, never typed in."""

from __future__ import annotations

import numpy as np

from course_utils.exercises import Exercise, expect_equal, require

__all__ = ["dense_channels", "grouped_saving", "vgg_saving", "dense_to_conv", "buggy_iou", "fix_iou"]

#: Exercise 1: the block input and growth rate, and which layer.
DENSE_K0, DENSE_K, DENSE_LAYER = 64, 32, 7
#: Exercise 2: AlexNet's conv4 (3x3, 384 -> 384 channels, bias) split over two GPUs.
GROUPED_KERNEL, GROUPED_CHANNELS, GROUPS = 3, 384, 2
#: Exercise 3: three stacked 3x3 convolutions vs one 7x7, C -> C channels, no biases.
VGG_CHANNELS = 256


def _conv_params(kernel: int, c_in: int, c_out: int, groups: int = 1, use_bias: bool = True) -> int:
    import keras

    layer = keras.layers.Conv2D(c_out, kernel, groups=groups, use_bias=use_bias)
    layer.build((None, 32, 32, c_in))
    return layer.count_params()


def _dense_block_input_channels(k0: int, k: int, layer: int) -> int:
    import keras

    from course_utils.architectures import dense_block

    x = keras.Input((8, 8, k0))
    model = keras.Model(x, dense_block(x, layer, k, name="ex"))
    return model.get_layer(f"ex_layer{layer}_bn").input.shape[-1]


def _check_dense_channels(answer) -> None:
    expected = _dense_block_input_channels(DENSE_K0, DENSE_K, DENSE_LAYER)
    if answer == DENSE_K0 + DENSE_K * DENSE_LAYER:
        raise AssertionError("one group too many: layer l sees the maps of the l-1 layers *before* it, "
                             "not its own.")
    expect_equal(answer, expected, "the block input's k0 maps are concatenated with k new maps from each "
                                   "earlier layer of the block.")


def _check_grouped_saving(answer) -> None:
    c, k = GROUPED_CHANNELS, GROUPED_KERNEL
    expected = _conv_params(k, c, c) - _conv_params(k, c, c, groups=GROUPS)
    expect_equal(answer, expected, "with g groups each filter sees only C_in/g input channels, so the "
                                   "weights shrink from k*k*C_in*C_out to k*k*(C_in/g)*C_out; the biases stay.")


def _check_vgg_saving(answer) -> None:
    c = VGG_CHANNELS
    expected = _conv_params(7, c, c, use_bias=False) - 3 * _conv_params(3, c, c, use_bias=False)
    if answer == -expected:
        raise AssertionError("right size, wrong sign: the single 7x7 layer is the larger one.")
    expect_equal(answer, expected, "one k x k layer from C to C channels has k*k*C*C weights; compare 49*C*C "
                                   "with three times 9*C*C.")


def _check_dense_to_conv(answer) -> None:
    require(callable(answer), "answer should be a function dense_to_conv(kernel, feature_shape).")
    rng = np.random.default_rng(0)
    for h, w, c, units in ((5, 5, 16, 32), (3, 4, 2, 5), (1, 1, 8, 3)):
        kernel = rng.standard_normal((h * w * c, units))
        result = np.asarray(answer(kernel.copy(), (h, w, c)))
        require(result.shape == (h, w, c, units), (
            f"for a {h}x{w}x{c} feature map and {units} units the conv kernel must have shape "
            f"(h, w, c, units) = {(h, w, c, units)}, yours is {result.shape}."))
        nchw = kernel.reshape(c, h, w, units).transpose(1, 2, 0, 3)
        if not np.allclose(result, kernel.reshape(h, w, c, units)) and np.allclose(result, nchw):
            raise AssertionError("that is the PyTorch (channels-first) order. Keras' Flatten reads an NHWC map "
                                 "row by row, channels fastest.")
        require(np.allclose(result, kernel.reshape(h, w, c, units)), (
            "the values are in the wrong places: row i of the Dense kernel multiplies the i-th entry of the "
            "flattened map; find which (y, x, channel) that entry came from."))


dense_channels = Exercise(
    "nb08-dense-channels",
    f"A dense block gets k0 = {DENSE_K0} maps and has growth rate k = {DENSE_K}. "
    f"How many input channels does its layer {DENSE_LAYER} receive?",
    _check_dense_channels)
grouped_saving = Exercise(
    "nb08-grouped-saving",
    f"AlexNet's conv4 is a {GROUPED_KERNEL}x{GROUPED_KERNEL} convolution from {GROUPED_CHANNELS} to "
    f"{GROUPED_CHANNELS} channels with biases. How many parameters does splitting it into "
    f"groups={GROUPS} save?",
    _check_grouped_saving)
vgg_saving = Exercise(
    "nb08-vgg-saving",
    f"Three stacked 3x3 convolutions and one 7x7 convolution have the same receptive field. With "
    f"C = {VGG_CHANNELS} channels in and out and no biases, how many more parameters does the 7x7 layer have?",
    _check_vgg_saving)
dense_to_conv = Exercise(
    "nb08-dense-to-conv",
    "Write dense_to_conv(kernel, feature_shape): the Conv2D kernel (h, w, c, units) equivalent to a Dense "
    "kernel (h*w*c, units) applied after Flatten to an h x w x c map.",
    _check_dense_to_conv)


# ----------------------------------------------------------------------------- find the bug
def buggy_iou(y_true, y_pred, c):
    """Intersection over union of class c between two label maps. It has a bug."""
    true, pred = np.asarray(y_true) == c, np.asarray(y_pred) == c
    return (true & pred).sum() / (true.sum() + pred.sum())


def _check_fix_iou(answer) -> None:
    from course_utils.segmentation import segmentation_scores

    require(callable(answer), "answer should be the repaired function iou(y_true, y_pred, c).")
    rng = np.random.default_rng(8)
    for size in (6, 10, 16):
        y_true, y_pred = rng.integers(0, 3, (size, size)), rng.integers(0, 3, (size, size))
        y_pred[: size // 2] = y_true[: size // 2]      # half the map right, so that the IoU is not tiny
        expected = segmentation_scores(y_true, y_pred, 3)["iou"]
        for c in range(3):
            got = float(answer(y_true.copy(), y_pred.copy(), c))
            if np.isclose(got, expected[c]):
                continue
            if np.isclose(got, buggy_iou(y_true, y_pred, c)):
                raise AssertionError("still the buggy result. Draw two overlapping sets: how often does "
                                     "|A| + |B| count the pixels they share?")
            raise AssertionError(f"iou(..., c={c}) returned {got:.3f}: divide the pixels both maps give class c "
                                 "by the pixels either map gives class c.")
    same = rng.integers(0, 3, (8, 8))
    require(np.isclose(float(answer(same, same.copy(), 1)), 1.0), "two identical maps must have an IoU of 1.")


fix_iou = Exercise(
    "nb08-fix-iou",
    "nb08.buggy_iou(y_true, y_pred, c) never reaches 1, not even for a perfect prediction. Find the bug and "
    "give the repaired function.",
    _check_fix_iou, style="find-the-bug")
