"""``course rf`` and ``course params``: formats, model files, application names, errors."""

from __future__ import annotations

import io
import json
import subprocess
import sys

import pandas as pd
import pytest

from course_utils import cli, cli_analysis, params, receptive_field


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory, keras):
    L = keras.layers
    model = keras.Sequential([keras.Input((32, 32, 3)), L.Conv2D(8, 3, name="c1"), L.BatchNormalization(name="bn"),
                              L.MaxPooling2D(name="pool"), L.SeparableConv2D(16, 3, dilation_rate=2, name="sep"),
                              L.GlobalAveragePooling2D(name="gap"), L.Dense(10, name="head")], name="small")
    path = tmp_path_factory.mktemp("models") / "small.keras"
    model.save(path)
    return path, model


def _run(capsys, *argv):
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_rf_formats(capsys, saved_model):
    path, model = saved_model
    expected = receptive_field.receptive_field_table(model)
    code, out, _ = _run(capsys, "rf", str(path), "--format", "json")
    assert code == 0
    rows = json.loads(out)
    assert [r["layer"] for r in rows] == expected["layer"].tolist()
    assert [r["rf"] for r in rows] == expected["rf"].tolist()
    code, out, _ = _run(capsys, "rf", str(path), "--format", "csv")
    assert code == 0 and pd.read_csv(io.StringIO(out))["jump"].fillna(-1).tolist() == \
        expected["jump"].astype("float").fillna(-1).tolist()
    code, out, _ = _run(capsys, "rf", str(path), "--format", "markdown")
    assert code == 0 and out.splitlines()[0].replace(" ", "").startswith("|layer|type|")
    code, out, _ = _run(capsys, "rf", str(path))
    assert code == 0 and "sep" in out and "<NA>" not in out


def test_params_formats(capsys, saved_model):
    path, model = saved_model
    code, out, _ = _run(capsys, "params", str(path), "--format", "json")
    assert code == 0
    rows = json.loads(out)
    assert sum(r["params"] for r in rows) == model.count_params()
    code, out, _ = _run(capsys, "params", str(path))
    assert code == 0 and f"total: {model.count_params():,} parameters" in out
    assert params.parameter_table(model).loc[3, "formula"] in out  # the separable layer's formula


def test_application_by_name(capsys, keras):
    code, out, _ = _run(capsys, "rf", "mobilenet", "--no-top", "--input-size", "64x96", "--format", "csv")
    assert code == 0
    table = pd.read_csv(io.StringIO(out))
    model = keras.applications.MobileNet(weights=None, include_top=False, input_shape=(64, 96, 3))
    assert table["n_out_w"].tolist() == receptive_field.receptive_field_table(model)["n_out_w"].tolist()


@pytest.mark.parametrize("argv, words", [
    (["rf", "VGG17"], ["'VGG17'", "VGG16"]),
    (["params", "no/such/model.keras"], ["no such model file"]),
    (["rf", "ResNet50", "--input-size", "16"], ["ResNet50 at 16x16", "32"]),
])
def test_bad_models_give_one_line_and_exit_code_2(capsys, argv, words):
    code, out, err = _run(capsys, *argv)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and err.startswith("error: ")
    for word in words:
        assert word in err


def test_unreadable_file_and_wrong_input_size(capsys, tmp_path, saved_model):
    broken = tmp_path / "broken.keras"
    broken.write_bytes(b"not a zip file")
    code, _, err = _run(capsys, "rf", str(broken))
    assert code == 2 and err.startswith("error: cannot load") and len(err.strip().splitlines()) == 1
    code, _, err = _run(capsys, "rf", str(saved_model[0]), "--input-size", "64")
    assert code == 2 and "built for 32x32" in err and len(err.strip().splitlines()) == 1


def test_input_size_parsing():
    assert cli_analysis.parse_size("224") == (224, 224)
    assert cli_analysis.parse_size("480x640") == (480, 640)
    for bad in ("0", "ax3", "1x2x3"):
        with pytest.raises(Exception, match="N or HxW"):
            cli_analysis.parse_size(bad)


def test_end_to_end_and_help_stays_light():
    """`course rf` in a fresh process; `course --help` must not import TensorFlow."""
    probe = ("import sys; from course_utils import cli; cli.build_parser(); "
             "print('tensorflow' in sys.modules, 'keras' in sys.modules)")
    light = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert light.stdout.split() == ["False", "False"], light.stderr
    done = subprocess.run([sys.executable, "-m", "course_utils.cli", "rf", "VGG16", "--format", "csv"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    last = pd.read_csv(io.StringIO(done.stdout)).set_index("layer").loc["block5_pool"]
    import keras

    expected = receptive_field.receptive_field_table(keras.applications.VGG16(weights=None)).set_index("layer")
    assert (last["rf"], last["jump"], last["start"]) == tuple(expected.loc["block5_pool", ["rf", "jump", "start"]])
