"""Classical segmentation, metrics, bilinear upsampling and shift-and-stitch (numpy)."""

from __future__ import annotations

import numpy as np
import pytest

from course_utils import ops, segmentation as S


def test_region_grow_fills_a_homogeneous_region_and_stops_at_its_border():
    image = np.zeros((10, 10, 3))
    image[2:6, 3:8] = 1.0
    region = S.region_grow(image, (3, 4), threshold=0.5)
    assert region.sum() == 20 and region[2:6, 3:8].all()
    assert S.region_grow(image, (0, 0), threshold=2.0).all()  # a loose predicate takes everything


def test_kmeans_separates_clear_clusters_and_is_seeded():
    image = np.zeros((8, 8))
    image[:, 4:] = 1.0
    labels = S.kmeans_segment(image, 2, seed=0)
    assert len(np.unique(labels[:, :4])) == 1 and len(np.unique(labels[:, 4:])) == 1
    assert labels[0, 0] != labels[0, 7]
    assert np.array_equal(labels, S.kmeans_segment(image, 2, seed=0))
    assert S.kmeans_segment(np.random.default_rng(0).uniform(size=(6, 6, 3)), 3, position_weight=1.0).shape == (6, 6)


def test_segmentation_scores():
    scores = S.segmentation_scores(np.array([0, 1, 1, 2]), np.array([0, 1, 2, 2]), 4)
    assert scores["pixel_accuracy"] == 0.75
    assert np.allclose(scores["iou"][:3], [1, 0.5, 0.5]) and np.isnan(scores["iou"][3])
    assert scores["mean_iou"] == pytest.approx(2 / 3)


@pytest.mark.parametrize("factor", [2, 4, 8])
def test_bilinear_kernel_upsamples_like_tf_image_resize(tf, factor):
    x = np.random.default_rng(0).standard_normal((1, 5, 5, 2))
    up = ops.conv2d_transpose_forward(x, S.bilinear_kernel(2 * factor, 2), None, stride=factor, padding="same")[0]
    ref = tf.image.resize(x, (5 * factor, 5 * factor), "bilinear").numpy()
    assert np.allclose(up[:, factor:-factor, factor:-factor], ref[:, factor:-factor, factor:-factor], atol=1e-6)


def test_coarse_mask_is_exact_at_stride_1_and_loses_small_shapes_at_large_strides():
    mask = np.zeros((1, 32, 32), int)
    mask[0, 4:8, 4:8] = 1
    assert np.array_equal(S.coarse_mask(mask, 1, 2), mask)
    assert not S.coarse_mask(mask, 16, 2).any()
    assert S.coarse_mask(mask, 2, 2)[0, 5, 5] == 1


def test_shift_and_stitch_equals_the_dense_network():
    rng = np.random.default_rng(0)
    w1, w2 = rng.standard_normal((3, 3, 1, 2)), rng.standard_normal((2, 2, 2, 1))
    x = rng.standard_normal((2, 15, 15, 1))

    def strided(v):
        return ops.conv2d_forward(ops.max_pool_forward(ops.conv2d_forward(v, w1, None)[0], 2)[0], w2, None)[0]

    def dense(v):
        h = ops.max_pool_forward(ops.conv2d_forward(v, w1, None)[0], 2, stride=1)[0]
        return ops.conv2d_forward(h, w2, None, dilation=2)[0]

    stitched = S.shift_and_stitch(strided, x, 2)
    assert stitched.shape == dense(x).shape and np.allclose(stitched, dense(x))
