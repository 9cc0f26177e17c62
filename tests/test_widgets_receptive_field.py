"""The receptive-field builder of notebook 02 grows the stack one button at a time."""

from __future__ import annotations

import re

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from course_utils import data, widgets  # noqa: E402
from course_utils import receptive_field as rfm  # noqa: E402
from course_utils.widgets import receptive_field as builder_module  # noqa: E402


def _shown_rf(builder) -> int:
    match = re.search(r"receptive field: (\d+) x (\d+)", builder.summary.value)
    assert match and match.group(1) == match.group(2)
    return int(match.group(1))


def _table_rf(tokens, size=28) -> int:
    layers = [token + "same" for token in tokens]
    return int(rfm.receptive_field_table(layers, input_size=size)["rf"].iloc[-1]) if layers else 1


def test_buttons_add_layers_and_the_summary_follows_the_table():
    b = widgets.receptive_field_builder()
    assert b.layers == [] and _shown_rf(b) == b.rf == 1 and b.undo.disabled
    for button, token in ((b.add_conv3, "conv3"), (b.add_conv3, "conv3"), (b.add_pool2, "pool2"),
                          (b.add_conv3_stride2, "conv3s2"), (b.add_conv3, "conv3")):
        button.click()
        assert b.layers[-1] == token
        assert _shown_rf(b) == b.rf == _table_rf(b.layers)
        assert len(b.output.outputs) == 1
    assert b.rf == _table_rf(["conv3", "conv3", "pool2", "conv3s2", "conv3"])
    assert "jump 4" in b.summary.value and f"RF = " in b.summary.value


def test_dilated_conv_uses_the_dropdown_and_undo_reset_work():
    b = widgets.receptive_field_builder(layers=["conv3"])
    b.dilation.value = 4
    b.add_dilated.click()
    assert b.layers == ["conv3", "conv3d4"] and b.rf == _table_rf(b.layers) == 3 + 8
    assert "k_eff = 4*(3-1) + 1 = 9" in b.summary.value
    b.undo.click()
    assert b.layers == ["conv3"] and b.rf == 3
    b.reset.click()
    assert b.layers == [] and b.rf == 1 and b.reset.disabled


def test_an_rf_larger_than_the_image_is_pointed_out():
    b = widgets.receptive_field_builder(layers=["conv3", "pool2", "pool2", "conv3", "conv3", "conv3"])
    assert b.rf > 28 and "larger than the 28x28 image" in b.summary.value


def test_the_stack_has_a_limit_and_unknown_layers_are_refused():
    b = widgets.receptive_field_builder(max_layers=2)
    b.add("conv3")
    b.add("maxpool2")
    b.add("conv3")
    assert len(b.layers) == 2 and "already has 2 layers" in b.summary.value
    with pytest.raises(ValueError, match="choose one of"):
        b.add("conv5")


def test_own_image_and_the_synthetic_fallback(monkeypatch):
    b = widgets.receptive_field_builder(image=np.ones((12, 16)), layers=["conv3"])
    assert "output 12x16" in b.summary.value and "your image" in b.summary.value

    def unavailable(*args, **kwargs):
        raise data.DatasetUnavailable("not here")

    monkeypatch.setattr(data, "load_dataset", unavailable)
    b = widgets.receptive_field_builder()
    assert "synthetic" in b.summary.value and b.image.shape == (28, 28)


def test_every_choice_maps_to_a_layer_token():
    for choice, token in builder_module.LAYER_CHOICES.items():
        layer = builder_module._layer(token.format(d=2))
        assert layer["padding"] == "same" and layer["name"] == token.format(d=2)
