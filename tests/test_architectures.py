"""The Keras builders of notebook 08 against the papers' structure, Keras' own models and numpy."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from course_utils import architectures as A
from course_utils import ops, segmentation
from course_utils.params import parameter_table
from course_utils.receptive_field import receptive_field_table


def test_lenet5_parameters_follow_the_layer_formulas():
    model = A.lenet5()
    table = parameter_table(model)
    assert table["params"].sum() == model.count_params()
    expected = (5 * 5 * 1 * 6 + 6) + (5 * 5 * 6 * 16 + 16) + (5 * 5 * 16 * 120 + 120) + (120 * 84 + 84) + (84 * 10 + 10)
    assert model.count_params() == expected
    assert receptive_field_table(model).set_index("layer").loc["C5", "rf"] == 32  # C5 sees the whole image


def test_alexnet_groups_halve_the_weights_of_conv2_conv4_conv5_only():
    split, single = A.alexnet(groups=2, small=True), A.alexnet(groups=1, small=True)
    for name in ("conv1", "conv2", "conv3", "conv4", "conv5", "fc6"):
        w2, w1 = split.get_layer(name).kernel.shape, single.get_layer(name).kernel.shape
        if name in ("conv2", "conv4", "conv5"):
            assert w2[2] * 2 == w1[2] and w2[3] == w1[3]
        else:
            assert w2 == w1
    assert split.output_shape == (None, 1000)


def test_alexnet_full_size_maps_are_55_27_13_6():
    model = A.alexnet()
    sizes = [model.get_layer(n).output.shape[1] for n in ("conv1", "pool1", "conv2", "pool2", "conv5", "pool5")]
    assert sizes == [55, 27, 27, 13, 13, 6]


def test_vgg_block_stacks_3x3_convs_and_the_rf_grows_by_two_per_conv():
    model = A.vgg(input_shape=(32, 32, 3), blocks=((8, 2), (16, 3)), hidden=16, num_classes=5)
    rf = receptive_field_table(model).set_index("layer")["rf"]
    assert [rf[f"block1_conv{i}"] for i in (1, 2)] == [3, 5]
    assert model.name == "vgg8" and model.output_shape == (None, 5)


def test_residual_and_plain_nets_differ_only_by_the_projections():
    res, plain = A.cifar_resnet(20), A.cifar_resnet(20, residual=False)
    assert len([l for l in res.layers if l.name.endswith("_add")]) == 9
    assert not any(l.name.endswith("_add") for l in plain.layers)
    projections = (16 * 32 + 4 * 32) + (32 * 64 + 4 * 64)  # 1x1 conv + BN at the two stage changes
    assert res.count_params() - plain.count_params() == projections
    with pytest.raises(ValueError, match="6n"):
        A.cifar_resnet(21)


@pytest.mark.parametrize("depth", [8, 20])
def test_plain_cifar_net_has_depth_weight_layers_and_the_counted_parameters(depth):
    """Notebook 08's degradation experiment: plain nets of 8 and 20 layers on 28x28x1 images."""
    widths, channels, classes = (8, 16, 32), 1, 10
    plain = A.cifar_resnet(depth, residual=False, input_shape=(28, 28, channels), num_classes=classes, widths=widths)
    weighted = [l for l in plain.layers if type(l).__name__ in ("Conv2D", "Dense")]
    assert len(weighted) == depth  # He et al. count the convolutions and the classifier
    n = (depth - 2) // 6
    count = 9 * channels * widths[0] + 4 * widths[0]  # 3x3 conv without bias, BN (gamma, beta, mean, var)
    previous = widths[0]
    for filters in widths:  # n blocks of two 3x3 convolutions, each followed by BN
        for _ in range(n):
            count += 9 * previous * filters + 4 * filters + 9 * filters * filters + 4 * filters
            previous = filters
    count += widths[-1] * classes + classes
    assert plain.count_params() == count
    assert plain.output_shape == (None, classes) and plain.name == f"plain{depth}"


def test_residual_block_matches_a_numpy_forward_pass():
    import keras

    rng = np.random.default_rng(0)
    inputs = keras.Input((6, 6, 4))
    block = keras.Model(inputs, A.residual_block(inputs, 8, stride=2, name="b"))
    for layer in block.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            c = layer.gamma.shape
            layer.set_weights([rng.uniform(0.5, 2, c), rng.normal(size=c), rng.normal(size=c), rng.uniform(0.5, 2, c)])
    x = rng.standard_normal((2, 6, 6, 4)).astype("float32")
    weights = {layer.name: layer.get_weights() for layer in block.layers}

    def conv_bn(h, conv, bn, stride=1):
        h = ops.conv2d_forward(h, weights[conv][0], None, stride=stride, padding="same")[0]
        return ops.batchnorm_forward(h, *weights[bn], training=False)[0]

    out = np.maximum(conv_bn(x, "b_conv1", "b_bn1", 2), 0)
    out = np.maximum(conv_bn(out, "b_conv2", "b_bn2") + conv_bn(x, "b_downsample", "b_downsample_bn", 2), 0)
    assert ops.rel_error(block(x, training=False).numpy(), out) < 1e-5


def test_dense_block_input_channels_are_k0_plus_k_times_l_minus_1():
    import keras

    from course_utils.widgets.architectures import dense_block_params

    k0, k, n = 10, 4, 5
    inputs = keras.Input((8, 8, k0))
    out = A.dense_block(inputs, n, k, name="d")
    model = keras.Model(inputs, out)
    assert [model.get_layer(f"d_layer{l}_bn").input.shape[-1] for l in range(1, n + 1)] == [
        k0 + k * (l - 1) for l in range(1, n + 1)]
    assert out.shape[-1] == k0 + k * n and model.count_params() == dense_block_params(k0, k, n)
    trans = A.transition(out, compression=0.5, name="t")
    assert tuple(trans.shape[1:]) == (4, 4, (k0 + k * n) // 2)


def test_densenet_and_mobilenet_build_and_mobilenet_matches_keras_applications():
    import keras

    assert A.densenet(block_layers=(2, 2)).output_shape == (None, 10)
    assert A.mobilenet().count_params() == keras.applications.MobileNet(weights=None).count_params()


def test_convolutionalize_gives_equal_outputs_and_a_sliding_score_map():
    import keras
    from keras import layers

    keras.utils.set_random_seed(1)
    clf = keras.Sequential([keras.Input((10, 10, 2)), layers.Conv2D(4, 3, activation="relu"), layers.MaxPooling2D(2),
                            layers.Flatten(), layers.Dense(6, activation="relu"), layers.Dense(3)])
    fc = A.convolutionalize(clf)
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(2, 10, 10, 2)).astype("float32")
    assert ops.rel_error(clf(x).numpy(), fc(x).numpy()[:, 0, 0]) < 1e-5
    big = rng.uniform(size=(1, 14, 14, 2)).astype("float32")
    scores = fc(big).numpy()
    assert scores.shape == (1, 3, 3, 3)
    assert ops.rel_error(clf(big[:, 4:14, 2:12]).numpy(), scores[:, 2, 1]) < 1e-5
    with pytest.raises(ValueError, match="Sequential"):
        A.convolutionalize(A.lenet5())


@pytest.mark.parametrize("variant,finest", [("32s", 32), ("16s", 16), ("8s", 8)])
def test_fcn_variants_output_full_resolution_logits(variant, finest):
    model = A.fcn(variant=variant)
    assert model.output_shape == (None, 64, 64, 4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rf = receptive_field_table(model)
    last_score = rf[rf["type"].isin(["Conv2D", "Add"])].iloc[-1]
    assert last_score["jump"] == finest
    with pytest.raises(ValueError):
        A.fcn(variant="4s")


def test_fcn_starts_as_bilinear_upsampling_of_the_coarse_scores():
    model = A.fcn(variant="32s")
    kernel = model.get_layer("up32").get_weights()[0]
    assert np.allclose(kernel, segmentation.bilinear_kernel(64, 4))


def test_synthetic_shapes_are_seeded_and_consistent():
    x, y = A.synthetic_shapes(6, size=32, seed=3)
    x2, y2 = A.synthetic_shapes(6, size=32, seed=3)
    assert np.array_equal(x, x2) and np.array_equal(y, y2)
    assert x.shape == (6, 32, 32, 3) and x.dtype == np.float32 and 0 <= x.min() and x.max() <= 1
    assert y.shape == (6, 32, 32) and set(np.unique(y)) <= set(range(len(A.SHAPE_CLASSES)))
    assert all((m > 0).any() for m in y)  # every image has a shape
    first, _ = A.synthetic_shapes(2, size=32, seed=3)
    assert np.array_equal(first, x[:2])  # a longer set starts with the shorter one
    assert not np.array_equal(A.synthetic_shapes(6, size=32, seed=4)[1], y)


@pytest.mark.parametrize("residual", [True, False])
def test_every_batch_norm_of_a_cifar_net_takes_the_momentum_asked_for(residual):
    """08's short degradation runs are scored in inference mode: each BN's moving statistics
    must use the momentum given (projection shortcuts included), not Keras' default 0.99."""
    net = A.cifar_resnet(8, residual=residual, widths=(4, 8, 16), bn_momentum=0.9)
    bns = [l for l in net.layers if type(l).__name__ == "BatchNormalization"]
    # 1 stem BN + 2 per block (3 blocks) + the two projections' BN of the residual net
    assert len(bns) == 1 + 2 * 3 + (2 if residual else 0)
    assert {l.momentum for l in bns} == {0.9}
    assert {l.momentum for l in A.cifar_resnet(8, residual=residual, widths=(4, 8, 16)).layers
            if type(l).__name__ == "BatchNormalization"} == {0.99}
