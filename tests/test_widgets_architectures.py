"""The explorers of notebook 08 react to their controls."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

from course_utils import widgets  # noqa: E402


def test_densenet_explorer_lists_k0_plus_k_times_l_minus_1():
    w = widgets.densenet_growth_explorer(k0=24, k=12, layers=3)
    assert "24, 36, 48" in w.summary.value and "96" not in w.summary.value.split("channels:")[1].split(".")[0]
    w.layers.value = 6
    assert "24, 36, 48, 60, 72, 84" in w.summary.value and "k0 + kL = 96" in w.summary.value
    w.compression.value = 0.5
    assert "= 48 of them" in w.summary.value
    w.k.value = 32
    assert "24, 56, 88" in w.summary.value and len(w.output.outputs) == 1


def test_architecture_picker_shows_counts_and_tables():
    w = widgets.architecture_picker()
    assert "61,706 parameters" in w.summary.value and "C5" in w.tables.value
    assert "S2" not in w.tables.value  # only layers with parameters by default
    w.layers.value = "all layers"
    assert "S2" in w.tables.value
    w.architecture.value = "DenseNet k=12 (32x32x3)"
    assert "DenseNet" in w.summary.value and "dense1_layer1_conv" in w.tables.value
    assert set(widgets.ARCHITECTURES) >= {"FCN-8s (64x64x3)", "MobileNet (224x224x3)"}
