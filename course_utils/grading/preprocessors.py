"""nbgrader preprocessors that make autograding survive bad submissions.

They slot into nbgrader's own autograde pipeline (see :mod:`.course`):

``ForgetUnknownCells``  (sanitising) strips nbgrader metadata that does not
                        belong to the assignment (a cell pasted from another
                        notebook, hand-edited metadata), which would otherwise
                        abort the whole notebook.
``RestoreGraderCells``  (sanitising) removes every cell tag (``skip-execution``,
                        ``raises-exception``, nbval's: whatever changes how a cell
                        runs), and puts every cell the grader owns back as the
                        release has it, metadata included, where the student
                        deleted, duplicated, re-typed or re-flagged it.
``ResilientExecute``    nbgrader's ``Execute`` plus: graded test cells run on the
                        trusted side when ``trusted_tests`` is set (:mod:`.trusted`),
                        output capped per cell as it
                        arrives (a student printing megabytes cannot exhaust the
                        grader's memory), and a kernel that died (``os._exit``,
                        a crash, the memory limit) or ignores the timeout
                        interrupt is replaced by a fresh one: the cell is marked
                        as failed and the rest of the notebook is still graded.
``DropBenignStderr``    removes from test cells the stderr lines that TensorFlow,
                        Keras and absl print by themselves (listed in
                        :data:`BENIGN_STDERR`); nbgrader scores *any* stderr as a
                        failure, so these would turn a correct answer into zero.
``RedactHiddenTests``   (feedback) what a student sees of the hidden tests before the
                        deadline: their name, points, pass or fail and the check's
                        hint, not their code nor the expected values (:mod:`.feedback`).
"""

from __future__ import annotations

import copy
import re
import uuid
from pathlib import Path
from typing import Any

import nbformat

from jupyter_core.utils import run_sync
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbformat.notebooknode import NotebookNode
from nbgrader import utils
from nbgrader.api import Gradebook
from nbgrader.preprocessors import Execute, NbGraderPreprocessor
from traitlets import Bool, Dict, Integer, Unicode

from course_utils.grading.trusted import Setting, error_output, is_test_cell, run_test_cell

# ----------------------------------------------------------------------------- sanitising


class ForgetUnknownCells(NbGraderPreprocessor):
    """Turn cells with foreign, broken or emptied nbgrader metadata into ordinary cells.

    nbgrader's own preprocessors fail on such cells and abort the notebook: on
    metadata that is not a dict, and on the empty ``nbgrader`` dict that its
    ``DeduplicateIds`` leaves on the earlier copies of a duplicated cell.
    """

    def preprocess(self, nb: NotebookNode, resources: dict) -> tuple[NotebookNode, dict]:
        info = resources["nbgrader"]
        with Gradebook(info["db_url"]) as gb:
            source = gb.find_notebook(info["notebook"], info["assignment"])
            self._known = {cell.name for cell in source.source_cells}
        return super().preprocess(nb, resources)

    def preprocess_cell(self, cell: NotebookNode, resources: dict, index: int) -> tuple[NotebookNode, dict]:
        if forget_unknown_metadata(cell, self._known):
            self.log.warning("Cell %s has unknown or broken nbgrader metadata: treated as a student cell", index)
        return cell, resources


def usable_grader_metadata(meta: Any, known: set[str]) -> bool:
    """Whether ``meta`` is nbgrader metadata of one of the cells ``known`` that nbgrader can read."""
    if not isinstance(meta, dict):
        return False
    if not any(meta.get(flag) for flag in ("grade", "solution", "locked", "task")):
        return False
    if meta.get("grade_id") not in known:
        return False
    if meta.get("grade"):
        try:
            float(meta.get("points"))
        except (TypeError, ValueError):
            return False
    return True


def forget_unknown_metadata(cell: NotebookNode, known: set[str]) -> bool:
    """Drop the cell's nbgrader metadata unless it is usable; True when something non-empty went."""
    meta = cell.metadata.get("nbgrader")
    if "nbgrader" not in cell.metadata or usable_grader_metadata(meta, known):
        return False
    del cell.metadata["nbgrader"]
    return bool(meta)


def grader_id(cell: NotebookNode) -> str | None:
    """The ``grade_id`` of a cell with nbgrader metadata, else None."""
    meta = cell.get("metadata")
    nbgrader = meta.get("nbgrader") if isinstance(meta, dict) else None
    grade_id = nbgrader.get("grade_id") if isinstance(nbgrader, dict) else None
    return grade_id if isinstance(grade_id, str) else None


def restore_grader_cells(nb: NotebookNode, release: NotebookNode) -> NotebookNode:
    """``nb`` with no cell tags, and every cell of ``release`` that carries nbgrader
    metadata present exactly once, as the release has it (type, metadata; the source
    too unless it is an answer cell). The last copy of a duplicated cell is kept in
    place, earlier copies become plain cells; a deleted cell is put back after the
    grader cell that precedes it in the release (a deleted answer as its stub)."""
    owned = {grader_id(c): c for c in release.cells if grader_id(c)}
    last = {grader_id(c): i for i, c in enumerate(nb.cells) if grader_id(c) in owned}
    cells = []
    for index, cell in enumerate(nb.cells):
        cell = copy.deepcopy(cell)
        if isinstance(cell.get("metadata"), dict):
            cell.metadata.pop("tags", None)
        else:
            cell.metadata = NotebookNode()
        gid = grader_id(cell)
        if gid in owned and last[gid] == index:
            original = owned[gid]
            cell.cell_type = original.cell_type
            cell.metadata = copy.deepcopy(original.metadata)
            if not original.metadata.nbgrader.get("solution", False):
                cell.source = original.source
            _fit_cell_type(cell)
        elif gid is not None:
            del cell.metadata["nbgrader"]
        cells.append(cell)
    ids = {c.get("id") for c in cells}
    previous: str | None = None
    for gid, original in owned.items():
        if gid not in last:
            position = next((i + 1 for i, c in enumerate(cells) if previous and grader_id(c) == previous), 0)
            restored = copy.deepcopy(original)
            if restored.get("id") in ids:
                restored["id"] = uuid.uuid4().hex[:8]
            cells.insert(position, restored)
        previous = gid
    nb = copy.deepcopy(nb)
    nb.cells = cells
    return nb


def _fit_cell_type(cell: NotebookNode) -> None:
    """The fields a cell of its (restored) type must and must not have."""
    if cell.cell_type == "code":
        cell.setdefault("outputs", [])
        cell.setdefault("execution_count", None)
        cell.pop("attachments", None)
    else:
        cell.pop("outputs", None)
        cell.pop("execution_count", None)


class RestoreGraderCells(NbGraderPreprocessor):
    """:func:`restore_grader_cells` against the release of the notebook being graded."""

    release_dir = Unicode("", help="folder of the assignment's release notebooks").tag(config=True)

    def preprocess(self, nb: NotebookNode, resources: dict) -> tuple[NotebookNode, dict]:
        path = Path(self.release_dir) / f"{resources['nbgrader']['notebook']}.ipynb"
        return restore_grader_cells(nb, nbformat.read(path, as_version=4)), resources


# ----------------------------------------------------------------------------- execution
TRUNCATED = "\n[... output truncated by the grader ...]\n"
#: ``ename`` of the error output given to a cell whose kernel had to be replaced.
KERNEL_DIED = "KernelDied"
KERNEL_STUCK = "KernelStuck"


class ResilientExecute(Execute):
    """nbgrader's Execute with an output cap and kernel replacement."""

    max_output_chars = Integer(20_000, help="output characters kept per cell").tag(config=True)
    #: Widget state would be saved into the notebook's metadata, outside every cap.
    store_widget_state = Bool(False, help="never store the kernel's widget state").tag(config=True)
    max_kernel_restarts = Integer(5, help="fresh kernels started after deaths before giving up").tag(config=True)
    trusted_tests = Bool(False, help="run graded test cells in this process, not in the kernel "
                                     "(course_utils.grading.trusted)").tag(config=True)
    trusted_assignment = Unicode("", help="the assignment whose test cells run here (what the grader "
                                          "gives them: course_utils.grading.trusted.Setting)").tag(config=True)
    trusted_folder = Unicode("", help="where the trusted side reads the submitted files (empty: the "
                                      "notebook's folder; course_utils.grading.trusted.prepare)").tag(config=True)
    trusted_left_out = Dict(help="submitted files left out of trusted_folder, and why").tag(config=True)

    def __init__(self, **kwargs: Any):
        from course_utils.grading.isolation import SandboxedKernelManager

        kwargs["kernel_manager_class"] = SandboxedKernelManager
        super().__init__(**kwargs)

    def reset_execution_trackers(self) -> None:
        super().reset_execution_trackers()
        self._chars: dict[int, int] = {}
        self._cut: dict[int, set[str]] = {}
        self._restarts = 0
        self.trusted_setting = None

    # -- output cap -----------------------------------------------------------
    def output(self, outs: list, msg: dict, display_id: str | None, cell_index: int) -> Any:
        content = msg.get("content", {})
        if msg["msg_type"] == "stream":
            size = len(content.get("text", ""))
            kind = content.get("name", "stdout")
        elif msg["msg_type"] in ("display_data", "execute_result"):
            size = sum(len(str(v)) for v in content.get("data", {}).values())
            kind = "display"
        else:  # errors are always kept (their tracebacks are cut by LimitOutput)
            return super().output(outs, msg, display_id, cell_index)
        used = self._chars.get(cell_index, 0)
        left = self.max_output_chars - used
        if size <= left:
            self._chars[cell_index] = used + size
            return super().output(outs, msg, display_id, cell_index)
        cut = self._cut.setdefault(cell_index, set())
        if kind in cut:
            return None
        cut.add(kind)
        self._chars[cell_index] = self.max_output_chars
        # Keep one truncated piece of each stream, so that stderr still counts as stderr.
        name = kind if kind in ("stdout", "stderr") else "stdout"
        text = content.get("text", "")[: max(left, 0)] if kind != "display" else ""
        stub = {"header": {"msg_type": "stream"}, "parent_header": msg.get("parent_header", {}),
                "msg_type": "stream", "content": {"name": name, "text": text + TRUNCATED}}
        return super().output(outs, stub, None, cell_index)

    def _update_display_id(self, display_id: str, msg: dict) -> None:
        """A display update rewrites earlier outputs (``update_display_data``, or a display
        that reuses an id) without passing through :meth:`output`: its data counts against
        the cap of every cell it rewrites, and over the cap it becomes the truncation note."""
        data = msg.get("content", {}).get("data", {})
        size = sum(len(str(v)) for v in data.values())
        cells = self._display_id_map.get(display_id, {})
        if any(size > self.max_output_chars - self._chars.get(index, 0) for index in cells):
            msg = {**msg, "content": {**msg["content"], "data": {"text/plain": TRUNCATED.strip()}}}
            size = len(TRUNCATED)
        for index in cells:
            self._chars[index] = self._chars.get(index, 0) + size
        super()._update_display_id(display_id, msg)

    # -- dead or stuck kernels ------------------------------------------------
    async def async_execute_cell(self, cell: NotebookNode, cell_index: int,
                                 execution_count: int | None = None, store_history: bool = True) -> NotebookNode:
        if self._restarts > self.max_kernel_restarts:
            if cell.cell_type == "code" and cell.source.strip():
                cell.outputs = [error_output("NotRun", "not run: the kernel died too many times")]
            return cell
        try:
            if self.trusted_tests and is_test_cell(cell) and cell.source.strip():
                if self.trusted_setting is None:  # one per notebook: where its submitted files are
                    folder = self.trusted_folder or (getattr(self, "resources", None) or {}).get(
                        "metadata", {}).get("path") or "."
                    self.trusted_setting = Setting(self.trusted_assignment, str(folder), self.trusted_left_out)
                await run_test_cell(self, cell, cell_index)
                return cell
            return await super().async_execute_cell(cell, cell_index, execution_count, store_history)
        except DeadKernelError:
            reason = ("the kernel died while running this cell (os._exit, a crash or the memory limit); "
                      "the following cells run in a fresh kernel")
            cell.outputs.append(error_output(KERNEL_DIED, reason))
        except CellTimeoutError:
            reason = (f"the cell ran past the {self.timeout} s limit and ignored the interrupt; "
                      "the following cells run in a fresh kernel")
            cell.outputs.append(error_output(KERNEL_STUCK, reason))
        self.log.warning("Cell %s: %s", cell_index, reason)
        self._restarts += 1
        await self._fresh_kernel()
        return cell

    # nbclient binds the synchronous wrapper to its own coroutine: bind it to ours.
    execute_cell = run_sync(async_execute_cell)

    async def _fresh_kernel(self) -> None:
        try:
            await self._async_cleanup_kernel()
        except Exception as exc:  # the old kernel is gone either way
            self.log.warning("Cleaning up the dead kernel failed: %s", exc)
        self.km = self.create_kernel_manager()
        await self.async_start_new_kernel()
        await self.async_start_new_kernel_client()


# ----------------------------------------------------------------------------- stderr
#: Whole stderr lines dropped from test cells. Each pattern is anchored at both
#: ends, so a line is dropped only if it is *entirely* such a message.
BENIGN_STDERR: tuple[tuple[str, str], ...] = (
    ("TensorFlow / XLA C++ log (I, W or E level)",
     r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+: [IWE] (tensorflow|external/local_xla|external/local_tsl|xla)/\S+:\d+\] .*"),
    ("absl C++ log (I, W or E level)",
     r"[IWE]\d{4} \d\d:\d\d:[\d.]+ +\d+ \S+\.(cc|h):\d+\] .*"),
    ("TensorFlow / absl Python logger (INFO or WARNING level)",
     r"(INFO|WARNING):(tensorflow|absl):.*"),
    ("absl start-up notice",
     r"WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"),
    ("TensorFlow CPU-feature notice (second line)",
     r"To enable the following instructions: .*, in other operations, rebuild TensorFlow with the appropriate compiler flags\."),
    ("Python warning raised inside TensorFlow / Keras / absl / protobuf code",
     r"\S*/(site|dist)-packages/(tensorflow|keras|tf_keras|absl|google/protobuf|ml_dtypes|h5py)/\S+\.py:\d+: "
     r"\w*Warning: .*"),
)
_BENIGN = [re.compile(pattern) for _, pattern in BENIGN_STDERR]
_PY_WARNING = _BENIGN[-1]


def strip_benign_stderr(text: str) -> tuple[str, int]:
    """``text`` without benign lines, and how many lines were dropped.

    The indented source line that Python prints under a warning goes with it.
    """
    kept: list[str] = []
    dropped = 0
    after_warning = False
    for line in text.splitlines(keepends=True):
        bare = line.rstrip("\r\n")
        if after_warning and bare[:1] in (" ", "\t") and bare.strip():
            dropped += 1
            after_warning = False
            continue
        after_warning = False
        if any(p.fullmatch(bare) for p in _BENIGN):
            dropped += 1
            after_warning = bool(_PY_WARNING.fullmatch(bare))
            continue
        kept.append(line)
    return "".join(kept), dropped


class DropBenignStderr(NbGraderPreprocessor):
    """Remove TensorFlow's own stderr chatter from grade cells (see :data:`BENIGN_STDERR`).

    Only whole lines matching a pattern go; a stream with anything else left
    stays, so a student's own stderr output still fails a test as nbgrader
    intends. Errors (exceptions) are never touched.
    """

    def preprocess_cell(self, cell: NotebookNode, resources: dict, index: int) -> tuple[NotebookNode, dict]:
        if cell.cell_type != "code" or not utils.is_grade(cell):
            return cell, resources
        outputs = []
        for output in cell.outputs:
            if output.output_type == "stream" and output.name == "stderr":
                text, dropped = strip_benign_stderr(output.text)
                if dropped:
                    self.log.info("Cell %s: dropped %d benign stderr line(s)", index, dropped)
                    resources.setdefault("course_dropped_stderr", 0)
                    resources["course_dropped_stderr"] += dropped
                    if not text.strip():
                        continue
                    output.text = text
            outputs.append(output)
        cell.outputs = outputs
        return cell, resources


# ----------------------------------------------------------------------------- feedback
class RedactHiddenTests(NbGraderPreprocessor):
    """Feedback (``GenerateFeedback``, after ``GetGrades``): with ``mode`` ``hidden``, the
    hidden test cells of the instructor's notebook in ``source_dir`` show a placeholder and
    a redacted message instead of their code and the check's details
    (:func:`.feedback.redact_notebook`); with ``full``, the notebook is left as it is."""

    mode = Unicode("hidden", help="what feedback shows of hidden tests: hidden or full").tag(config=True)
    source_dir = Unicode("", help="folder of the assignment's source notebooks (the instructor's)").tag(config=True)

    def preprocess(self, nb: NotebookNode, resources: dict) -> tuple[NotebookNode, dict]:
        from course_utils.grading.feedback import redact_notebook

        if self.mode == "full":
            return nb, resources
        path = Path(self.source_dir) / f"{resources['nbgrader']['notebook']}.ipynb"
        return redact_notebook(nb, nbformat.read(path, as_version=4)), resources
