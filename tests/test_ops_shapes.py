"""2-D worked examples as 4-D tensors."""

import numpy as np

from course_utils.ops import image4d, kernel4d


def test_image_and_kernel_views():
    a = np.arange(6).reshape(2, 3)
    x, w = image4d(a), kernel4d(a, dtype=np.float64)
    assert x.shape == (1, 2, 3, 1) and x.dtype == np.float32
    assert w.shape == (2, 3, 1, 1) and w.dtype == np.float64
    np.testing.assert_array_equal(x[0, :, :, 0], a)
    np.testing.assert_array_equal(w[:, :, 0, 0], a)
