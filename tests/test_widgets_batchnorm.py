"""The batch-normalisation explorer of notebook 06 follows its controls."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402

from course_utils import widgets  # noqa: E402
from course_utils.widgets import batchnorm  # noqa: E402


def test_training_mode_gives_mean_beta_and_std_gamma():
    w = widgets.batchnorm_explorer(mean=5.0, scale=3.0)
    w.gamma.value, w.beta.value = 2.0, -1.0
    s = w.stats
    assert abs(s["out_mean"] - (-1.0)) < 1e-6 and abs(s["out_std"] - 2.0) < 1e-3
    assert abs(s["batch_mean"] - 5.0) < 1.0 and "mean mu_B" in w.summary.value
    assert len(w.output.outputs) == 1


def test_inference_uses_the_moving_statistics_and_says_when_they_are_stale():
    w = widgets.batchnorm_explorer(mean=5.0, scale=3.0, steps=0)
    w.mode.value = batchnorm.INFERENCE
    s = w.stats
    assert (s["moving_mean"], s["moving_var"]) == (0.0, 1.0)  # Keras' initial values
    assert np.isclose(s["out_mean"], s["batch_mean"] / np.sqrt(1 + batchnorm.EPSILON))
    assert "not caught up" in w.summary.value
    w.momentum.value, w.steps.value = 0.9, 200
    s = w.stats
    assert abs(s["moving_mean"] - 5.0) < 0.5 and abs(s["out_mean"]) < 0.2
    assert "not caught up" not in w.summary.value
