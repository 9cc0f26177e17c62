"""Quick mode and the dataset choice live in course_utils.config."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

from course_utils import config


def test_quick_mode_shrinks_every_budget(monkeypatch):
    monkeypatch.setenv("COURSE_QUICK", "0")
    full = {name: config.budget(name) for name in config.BUDGETS}
    monkeypatch.setenv("COURSE_QUICK", "1")
    quick = {name: config.budget(name) for name in config.BUDGETS}
    for name in config.BUDGETS:
        assert quick[name].epochs <= full[name].epochs, name
        assert quick[name].train_size is not None, f"quick budget {name} must use a subset"
        if full[name].train_size is not None:
            assert quick[name].train_size < full[name].train_size, name
    assert config.budget("a3").epochs == 1
    monkeypatch.setenv("COURSE_QUICK", "0")
    assert config.budget("a3").epochs == 50  # the assignment's 50 epochs


def test_epochs_override_and_unknown_budget(monkeypatch):
    monkeypatch.setenv("COURSE_EPOCHS", "3")
    assert config.budget("batchnorm").epochs == 3
    with pytest.raises(KeyError, match="known budgets"):
        config.budget("no-such-experiment")


def test_notebooks_read_every_budget_from_the_table():
    """A budget typed into a notebook escapes quick mode's checks above and COURSE_EPOCHS."""
    notebooks = sorted((config.REPO_ROOT / "notebooks").glob("[0-9][0-9]_*.py"))
    assert notebooks
    inline = {p.name: [line.strip() for line in p.read_text().splitlines()
                       if "Budget(" in line or "config.quick()" in line]
              for p in notebooks}
    assert not {name: lines for name, lines in inline.items() if lines}, \
        "notebooks must read their budget with config.budget(name) from config.BUDGETS"
    used = {name for p in notebooks for name in re.findall(r"config\.budget\(\"(\w+)\"\)", p.read_text())}
    assert used <= set(config.BUDGETS), used - set(config.BUDGETS)


def test_dataset_parameter(monkeypatch):
    monkeypatch.setenv("COURSE_DATASET", "Fashion-MNIST")
    assert config.dataset() == "fashion_mnist"
    monkeypatch.setenv("COURSE_DATASET", "imagenet")
    with pytest.raises(ValueError, match="cifar10"):
        config.dataset()
    monkeypatch.delenv("COURSE_DATASET")
    monkeypatch.setenv("COURSE_OFFLINE", "1")
    # Offline, with no CIFAR-10 in the cache, the course falls back to Fashion-MNIST.
    from course_utils import data

    if not data.is_available("cifar10"):
        assert config.dataset() == "fashion_mnist"


def test_importing_the_package_silences_tensorflow():
    code = (
        "import course_utils, tensorflow as tf, keras\n"
        "x = tf.ones((1, 5, 5, 1)); tf.nn.conv2d(x, tf.ones((3, 3, 1, 1)), 1, 'SAME')\n"
        "m = keras.Sequential([keras.Input((5, 5, 1)), keras.layers.Conv2D(2, 3)])\n"
        "m.compile('sgd', 'mse'); m.fit(tf.ones((2, 5, 5, 1)), tf.ones((2, 3, 3, 2)), verbose=0)\n"
        "print('ok')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
    assert result.stderr == "", f"TensorFlow wrote to stderr:\n{result.stderr}"


def test_strided_1x1_convolution_gradients_are_right(tf):
    """With oneDNN's custom ops TensorFlow 2.21 got these wrong now and then (see course_utils/_quiet.py)."""
    import numpy as np

    for size in (56, 112, 225):
        for channels in (1, 2):
            x = tf.ones((1, size, size, channels))
            with tf.GradientTape() as tape:
                tape.watch(x)
                y = tf.nn.conv2d(x, tf.ones((1, 1, channels, 1)), 2, "SAME")
            grad = tape.gradient(y, x).numpy()
            expected = np.zeros_like(grad)
            expected[:, ::2, ::2, :] = 1  # each output pixel reads exactly one input pixel per channel
            np.testing.assert_array_equal(grad, expected, err_msg=f"size {size}, channels {channels}")


def _import_course_utils(prelude: str, **env: str):
    """``import course_utils`` in a fresh interpreter; returns (environment it leaves, warnings)."""
    code = (
        "import json, os, sys, types, warnings\n"
        f"{prelude}\n"
        "with warnings.catch_warnings(record=True) as caught:\n"
        "    warnings.simplefilter('always')\n"
        "    import course_utils\n"
        "print(json.dumps([{k: os.environ.get(k) for k in ('TF_ENABLE_ONEDNN_OPTS', 'TF_CPP_MIN_LOG_LEVEL')},\n"
        "                  [type(w.message).__name__ for w in caught]]))\n"
    )
    base = {k: v for k, v in os.environ.items() if k not in ("TF_ENABLE_ONEDNN_OPTS", "TF_CPP_MIN_LOG_LEVEL",
                                                              "COURSE_TF_VERBOSE")}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                            env={**base, **env})
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_the_onednn_setting_applies_with_verbose_logs_too():
    (variables, caught) = _import_course_utils("")
    assert variables == {"TF_ENABLE_ONEDNN_OPTS": "0", "TF_CPP_MIN_LOG_LEVEL": "3"} and caught == []
    (variables, caught) = _import_course_utils("", COURSE_TF_VERBOSE="1")
    assert variables == {"TF_ENABLE_ONEDNN_OPTS": "0", "TF_CPP_MIN_LOG_LEVEL": None} and caught == []


def test_a_setting_too_late_or_turned_off_is_reported():
    # TensorFlow already imported (a stand-in module: the variable is read at its import)
    (variables, caught) = _import_course_utils("sys.modules['tensorflow'] = types.ModuleType('tensorflow')")
    assert caught == ["OneDNNWarning"]
    (variables, caught) = _import_course_utils("", TF_ENABLE_ONEDNN_OPTS="1")
    assert variables["TF_ENABLE_ONEDNN_OPTS"] == "1" and caught == ["OneDNNWarning"]
