"""The `course` command: every sub-command has --help; `course data` works."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

import pytest

from course_utils import cli, data


def _course(*args, env=None, timeout=120):
    return subprocess.run([sys.executable, "-m", "course_utils.cli", *args], capture_output=True,
                          text=True, timeout=timeout, env=env)


def _all_command_paths(parser: argparse.ArgumentParser, prefix=()):
    """Every sub-command path of the parser, e.g. ('data', 'status')."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield prefix + (name,)
                yield from _all_command_paths(sub, prefix + (name,))


def test_every_subcommand_has_help():
    paths = list(_all_command_paths(cli.build_parser()))
    assert ("data", "status") in paths and ("data", "prepare") in paths and ("lab",) in paths
    for path in [()] + paths:
        with pytest.raises(SystemExit) as exit_:
            cli.main([*path, "--help"])
        assert exit_.value.code == 0, path


def test_course_help_is_fast_and_does_not_import_tensorflow():
    code = "import sys; from course_utils import cli; cli.build_parser(); print('tensorflow' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "False"


def test_data_status_table_and_json():
    result = _course("data", "status")
    assert result.returncode == 0, result.stderr
    for name in data.DATASETS:
        assert name in result.stdout
    assert "Training notebooks will use:" in result.stdout
    rows = json.loads(_course("data", "status", "--format", "json").stdout)
    assert {r["dataset"] for r in rows} == set(data.DATASETS)


def test_data_prepare_reports_bad_names_and_missing_data(tmp_path):
    env = dict(os.environ, COURSE_OFFLINE="1", COURSE_DATA_MIRROR=str(tmp_path))
    result = _course("data", "prepare", "imagenet", env=env)
    assert result.returncode == 1
    assert "unknown dataset 'imagenet'" in result.stderr and "Traceback" not in result.stderr
    result = _course("data", "prepare", "cifar10", env=env)
    assert result.returncode == 1
    assert "CIFAR-10" in result.stderr and "Traceback" not in result.stderr


def test_lab_command_serves_the_repository_with_notebooks_open():
    cmd = cli.lab_command(port=8899, open_browser=False)
    assert "--no-browser" in cmd and f"--ServerApp.root_dir={cli.REPO_ROOT}" in cmd
    assert "--ServerApp.default_url=/lab/tree/notebooks" in cmd


@pytest.mark.parametrize("action", ["sync", "run", "check", "colab-cell"])
def test_notebooks_commands_name_an_unknown_notebook(action):
    result = _course("notebooks", action, "99_no_such_notebook")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "no notebook matches ['99_no_such_notebook']" in result.stderr
    assert "01_convolution_basics" in result.stderr  # the names to choose from


def test_colab_cell_of_a_notebook_by_its_number():
    result = _course("notebooks", "colab-cell", "02")
    assert result.returncode == 0, result.stderr
    assert "notebooks/02_receptive_field.ipynb" in result.stdout and "google.colab" in result.stdout


@pytest.mark.parametrize("argv, dataset, quick", [
    (["--dataset", "mnist", "--no-quick"], "mnist", "0"),
    (["--quick"], None, "1"),
    ([], None, None),
])
def test_grade_takes_the_dataset_and_quick_mode_from_its_command_line(monkeypatch, argv, dataset, quick):
    from course_utils import cli
    from course_utils.grading.cli import _grader_settings

    for name in ("COURSE_DATASET", "COURSE_QUICK"):  # set first, so that the test restores them
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)
    args = cli.build_parser().parse_args(["grade", "a3_depthwise", *argv])
    _grader_settings(args)
    import os

    assert os.environ.get("COURSE_DATASET") == dataset and os.environ.get("COURSE_QUICK") == quick
