"""The grader's output cap holds against every way a kernel can grow a notebook: streams and
displays (capped as they arrive), display updates that rewrite earlier outputs, and widget
state (never stored). Messages are fed to the executor as a kernel would send them."""

from __future__ import annotations

import json

import nbformat
import pytest

from course_utils.grading.preprocessors import ResilientExecute


def message(msg_type: str, **content) -> dict:
    return {"msg_type": msg_type, "header": {"msg_type": msg_type}, "parent_header": {}, "metadata": {},
            "content": content}


@pytest.fixture
def executor():
    ex = ResilientExecute()
    ex.nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("answer()")])
    ex.reset_execution_trackers()
    ex.clear_before_next_output = False  # set per cell by the executor
    return ex


def saved_size(ex) -> int:
    """Characters of the outputs and metadata as nbgrader would save them."""
    ex.set_widgets_metadata()
    return len(json.dumps(ex.nb))


def test_updates_of_empty_displays_cannot_grow_past_the_cap(executor):
    cell, cap, n = executor.nb.cells[0], executor.max_output_chars, 40
    for i in range(n):  # empty displays cost nothing when they arrive ...
        executor.process_message(message("display_data", data={"text/plain": ""}, metadata={},
                                         transient={"display_id": f"d{i}"}), cell, 0)
    for i in range(n):  # ... and are then rewritten with the cap's worth each
        executor.process_message(message("update_display_data", data={"text/plain": "x" * cap}, metadata={},
                                         transient={"display_id": f"d{i}"}), cell, 0)
    assert len(cell.outputs) == n
    assert saved_size(executor) < 2 * cap
    assert "output truncated by the grader" in cell.outputs[-1]["data"]["text/plain"]


def test_an_update_within_the_cap_is_kept(executor):
    cell = executor.nb.cells[0]
    executor.process_message(message("display_data", data={"text/plain": "0 %"}, metadata={},
                                     transient={"display_id": "bar"}), cell, 0)
    executor.process_message(message("update_display_data", data={"text/plain": "100 %"}, metadata={},
                                     transient={"display_id": "bar"}), cell, 0)
    assert [o["data"]["text/plain"] for o in cell.outputs] == ["100 %"]


def test_widget_state_is_not_stored(executor):
    cell, cap = executor.nb.cells[0], executor.max_output_chars
    for i in range(20):
        executor.process_message(message("comm_open", comm_id=f"w{i}", target_name="jupyter.widget",
                                         data={"state": {"_model_module": "@jupyter-widgets/controls", "_model_name": "TextModel",
                                                          "value": "x" * cap}, "buffer_paths": []}), cell, 0)
        executor.process_message(message("comm_msg", comm_id=f"w{i}",
                                         data={"method": "update", "state": {"value": "y" * cap}}), cell, 0)
    assert saved_size(executor) < cap
