"""Graded test cells executed on the grader's trusted side, not in the student's kernel.

For the assignments in :data:`TRUSTED_TESTS` every graded test cell (nbgrader
``grade: true, solution: false``, public and hidden) is run by the execute
preprocessor (:class:`.preprocessors.ResilientExecute`) in the grader's own
process, at the cell's place in the notebook, in a fresh namespace: the checks,
their expected values and their comparisons never exist in the kernel, and the
hidden tests never enter the kernel's history.

A name the test cell uses without defining or importing it is looked up in the
kernel when the cell starts (the state the cells above left): a value crosses as
plain data (:mod:`.plain`), a function becomes a :class:`StudentFunction`, which
sends its arguments to the kernel, has the kernel call the student's function and
gets the value back, as plain data again, within the cell's time limit. A value
that is not plain data fails the test with a message that says what to return.

The kernel's side is one expression (:func:`.plain.serve`) sent as a
``user_expressions`` entry of a silent execute request through the preprocessor's
own kernel client (no history, no ``pre_run_cell``/``post_run_cell`` hooks); the
answer is read from the reply as JSON text and decoded by :func:`.plain.decode`.
What the student's function prints goes into the test cell's outputs as a kernel's
output would (so stderr still fails a test), and the cell's own output (the check's
confirmation, or an error output with the check's message) is written like a
kernel's, so that nbgrader's scores, checksums and feedback work unchanged.

What the grader decides is never read from the kernel: :class:`Setting` gives each
assignment's test cells names bound on this side before the cell runs (A3: the
dataset and its image shape, from the grader's own configuration), and the notebook
functions of :data:`MODEL_FUNCTIONS` return a Keras model, which crosses as its
``.keras`` file and is loaded here by :mod:`.kerasfile` (once per argument list and
notebook, so that every test judges the same network).
"""

from __future__ import annotations

import ast
import asyncio
import builtins
import contextlib
import io
import re
import time
import traceback
from pathlib import Path
from typing import Any

from nbformat.notebooknode import NotebookNode

from course_utils.grading import plain
from course_utils.grading.feedback import REDACTED, redacted_message

#: Assignments whose graded test cells run on the trusted side.
TRUSTED_TESTS = ("a1_arithmetic", "a2_numpy_layers", "a3_depthwise")
#: Functions of a notebook whose value is a Keras model (it crosses as its ``.keras`` file).
MODEL_FUNCTIONS = {"a3_depthwise": ("build_separable",)}
#: Modules the trusted side of an assignment needs, imported once by the fork server that
#: starts its workers (:mod:`.launch`): A1's references build their tables with pandas, A2's
#: are :mod:`course_utils.ops`, A3's tests load and evaluate Keras models (and
#: :func:`.a3.warm_fork_server` loads the evaluation images).
PRELOAD = {"a1_arithmetic": ("pandas", "course_utils.arithmetic", "course_utils.receptive_field",
                             "course_utils.params"),
           "a2_numpy_layers": ("course_utils.ops",),
           "a3_depthwise": ("keras", "course_utils.a3_models", "course_utils.grading.a3",
                            "course_utils.grading.kerasfile")}

#: Seconds the kernel gets to answer an interrupt before it counts as stuck.
INTERRUPT_GRACE = 5.0


def is_test_cell(cell: NotebookNode) -> bool:
    """A graded test cell: code, nbgrader ``grade: true`` and ``solution: false``."""
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return cell.get("cell_type") == "code" and bool(meta.get("grade")) and not meta.get("solution")


def free_names(source: str) -> list[str]:
    """Names ``source`` reads without binding them anywhere (assignment, import, def,
    argument, loop or comprehension variable), builtins excluded, in order of appearance."""
    tree = ast.parse(source)
    bound: set[str] = set()
    read: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
            read.append(node.id)
        elif isinstance(node, ast.Name):
            bound.add(node.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            bound.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            bound.add(node.name)
    seen: list[str] = []
    for name in read:
        if name not in bound and not hasattr(builtins, name) and name not in seen:
            seen.append(name)
    return seen


# ----------------------------------------------------------------------------- the kernel, seen from here
class KernelLost(BaseException):
    """The kernel died (``dead``) or ignored the interrupt (``stuck``) during a request.

    A ``BaseException``, so that no check's ``except Exception`` can swallow it."""

    def __init__(self, how: str):
        super().__init__(how)
        self.how = how


class TestTimedOut(BaseException):
    """The test cell ran past its time limit (the kernel was interrupted and answered)."""


class StudentError(Exception):
    """Base of the exceptions re-raised here for exceptions of the student's code."""


_ERROR_CLASSES: dict[str, type] = {}


def student_exception(type_name: str, message: str) -> BaseException:
    """An exception that reads like the student's (``NotImplementedError`` stays itself, so
    that a placeholder is "not attempted"); only its name and message crossed."""
    if type_name == "NotImplementedError":
        return NotImplementedError(message)
    name = type_name if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,60}", type_name or "") else "Error"
    if name not in _ERROR_CLASSES:
        _ERROR_CLASSES[name] = type(name, (StudentError,), {"__module__": "student"})
    return _ERROR_CLASSES[name](message)


class Kernel:
    """Requests to the kernel of one test cell's execution, made from the thread that runs
    the cell and carried out on the execute preprocessor's event loop."""

    def __init__(self, executor: Any, cell: NotebookNode, cell_index: int, loop: asyncio.AbstractEventLoop,
                 deadline: float):
        self.executor, self.cell, self.cell_index = executor, cell, cell_index
        self.loop, self.deadline = loop, deadline

    def ask(self, request: dict) -> dict:
        """Send ``request`` (plain data) and return the kernel's decoded answer (a dict)."""
        text = plain.encode(request, "the test's arguments")
        future = asyncio.run_coroutine_threadsafe(self._request(text), self.loop)
        answer = plain.decode(future.result(), "the kernel's answer")
        if type(answer) is not dict or type(answer.get("kind")) is not str:
            raise plain.NotPlainData("the kernel's answer is not one the grader knows")
        return answer

    async def _request(self, text: str) -> str:
        ex = self.executor
        expression = f"__import__('course_utils.grading.plain', fromlist=['serve']).serve({text!r})"
        msg_id = ex.kc.execute("", silent=True, store_history=False, user_expressions={"r": expression},
                               allow_stdin=False, stop_on_error=False)
        outputs = asyncio.ensure_future(ex._async_poll_output_msg(msg_id, self.cell, self.cell_index))
        try:
            reply = await self._reply(msg_id)
            try:
                await asyncio.wait_for(outputs, ex.iopub_timeout)
            except asyncio.TimeoutError:  # late or lost iopub messages: the reply is what counts
                ex.log.warning("Cell %s: the kernel's output of a request did not arrive in time", self.cell_index)
        finally:
            outputs.cancel()
        content = reply.get("content", {})
        result = content.get("user_expressions", {}).get("r", {}) if isinstance(content, dict) else {}
        if not isinstance(result, dict) or result.get("status") != "ok":
            raise plain.NotPlainData("the kernel did not answer the grader (its reply holds no value)")
        data = result.get("data", {})
        value = data.get("text/plain") if isinstance(data, dict) else None
        if not isinstance(value, str):
            raise plain.NotPlainData("the kernel did not answer the grader (its reply holds no text)")
        return value

    async def _reply(self, msg_id: str) -> dict:
        ex = self.executor
        interrupted_at: float | None = None
        while True:
            now = time.monotonic()
            if interrupted_at is None and now >= self.deadline:
                interrupted_at = now
                await _maybe_await(ex.km.interrupt_kernel())
            if interrupted_at is not None and now >= interrupted_at + INTERRUPT_GRACE:
                raise KernelLost("stuck")
            wait = min(1.0, max(0.05, (self.deadline if interrupted_at is None
                                       else interrupted_at + INTERRUPT_GRACE) - now))
            try:
                msg = await _maybe_await(ex.kc.shell_channel.get_msg(timeout=wait))
            except Exception:  # queue.Empty: nothing yet; is the kernel still there?
                if not await _maybe_await(ex.kc.is_alive()):
                    raise KernelLost("dead") from None
                continue
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue  # a late reply to an earlier request
            if interrupted_at is not None:
                raise TestTimedOut()
            return msg


async def _maybe_await(value: Any) -> Any:
    return await value if asyncio.iscoroutine(value) or isinstance(value, asyncio.Future) else value


class StudentFunction:
    """A function of the student's notebook, called in the kernel with plain data."""

    def __init__(self, kernel: Kernel, name: str):
        self._kernel, self.__name__, self.__qualname__ = kernel, name, name

    def __repr__(self) -> str:
        return f"<function {self.__name__} of the notebook>"

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._result(self._kernel.ask({"op": "call", "name": self.__name__, "args": list(args),
                                              "kwargs": kwargs}))

    def _result(self, answer: dict) -> Any:
        """The value of the kernel's answer to a call, or the exception it stands for."""
        kind = answer["kind"]
        if kind == "value" and "value" in answer:
            return answer["value"]
        if kind == "raised":
            raise student_exception(str(answer.get("type")), str(answer.get("message", "")))
        if kind == "missing":
            raise NameError(f"name {self.__name__!r} is not defined")
        raise plain.NotPlainData(str(answer.get("message", "the kernel's answer is not plain data")))


class StudentModelFunction(StudentFunction):
    """A function of the notebook that returns a Keras model: the kernel saves the model it
    returns in Keras' format, and the model is loaded here from those bytes
    (:func:`.kerasfile.load`), once per argument list (``cache``: one per notebook)."""

    def __init__(self, kernel: Kernel, name: str, cache: dict):
        super().__init__(kernel, name)
        self._cache = cache

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        from course_utils.grading import kerasfile

        key = (self.__name__, plain.encode([list(args), kwargs], "the test's arguments"))
        if key not in self._cache:
            data = self._result(self._kernel.ask({"op": "call", "name": self.__name__, "args": list(args),
                                                  "kwargs": kwargs, "as": "keras"}))
            self._cache[key] = kerasfile.load(data, self.__name__)
        return self._cache[key]


class Setting:
    """What the grader, not the notebook, gives one assignment's test cells: names bound
    before the cell runs, the notebook's model functions, and the context the checks run
    in (where the submitted files are). ``folder`` is the notebook's folder on this side."""

    def __init__(self, assignment: str, folder: str, left_out: dict[str, str] | None = None):
        self.assignment, self.folder, self.left_out = assignment, folder, dict(left_out or {})
        self.models = MODEL_FUNCTIONS.get(assignment, ())
        self.cache: dict = {}   # the models the kernel returned, by call
        self.memo: dict = {}    # what the assignment's checks keep from one test cell to the next

    def given(self) -> dict[str, Any]:
        if self.assignment == "a3_depthwise":
            from course_utils.grading import a3

            return a3.given_names()
        return {}

    def context(self) -> Any:
        if self.assignment == "a3_depthwise":
            from course_utils.grading import a3

            return a3.judging(self.folder, self.memo, self.left_out)
        return contextlib.nullcontext()


def prepare(assignment: str, submitted: str | Path, private: str | Path) -> tuple[str, dict[str, str]]:
    """Before the notebook of ``assignment`` runs: what the trusted side will read, as
    ``(folder, {file: why it was left out})`` (``("", {})``: the notebook's own folder).

    A3's saved runs are copied from the submission (``submitted``, which the kernel never
    sees) into the grader's ``private`` folder, and the base run's accuracy starts being
    measured there while the kernel runs (:func:`.a3.prefetch_base`)."""
    if assignment != "a3_depthwise":
        return "", {}
    from course_utils.grading import a3

    left_out = a3.snapshot_runs(submitted, private)
    a3.prefetch_base(private, a3.given_names()["DATASET"])
    return str(private), left_out


# ----------------------------------------------------------------------------- one test cell
class _CellStream(io.TextIOBase):
    """``sys.stdout`` / ``sys.stderr`` of a trusted cell: text goes to the cell's outputs
    through the preprocessor (and its output cap), as a kernel's stream would."""

    def __init__(self, emit: Any, name: str):
        self._emit, self.name = emit, name

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        if text:
            self._emit(self.name, text)
        return len(text)


def _stream_message(name: str, text: str) -> dict:
    return {"header": {"msg_type": "stream"}, "parent_header": {}, "msg_type": "stream",
            "content": {"name": name, "text": text}}


def error_output(ename: str, evalue: str, lines: list[str] | None = None) -> NotebookNode:
    """An error output as a kernel writes it (``lines``: its traceback, by default one line)."""
    return NotebookNode(output_type="error", ename=ename, evalue=evalue, traceback=lines or [f"{ename}: {evalue}"])


async def run_test_cell(executor: Any, cell: NotebookNode, cell_index: int) -> None:
    """Execute test ``cell`` on the trusted side (see the module's docstring); its outputs
    replace ``cell.outputs``. Raises nbclient's ``DeadKernelError`` or ``CellTimeoutError``
    when the kernel died or ignored the interrupt, for the caller to replace it."""
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    loop = asyncio.get_running_loop()
    timeout = executor._get_timeout(cell) or 30
    kernel = Kernel(executor, cell, cell_index, loop, time.monotonic() + timeout)
    cell.outputs = []
    if executor.record_timing:  # where nbclient's message handling records the kernel's timings
        cell.metadata["execution"] = {}

    def emit(name: str, text: str) -> None:
        executor.output(cell.outputs, _stream_message(name, text), None, cell_index)

    setting = getattr(executor, "trusted_setting", None) or Setting("", ".")
    started = time.monotonic()
    outcome = await loop.run_in_executor(None, _execute, cell.source, kernel, emit, f"<{_label(cell)}>", setting)
    executor.log.info("Cell %s (%s): tested on the trusted side in %.1f s", cell_index, _label(cell),
                      time.monotonic() - started)
    if isinstance(outcome, KernelLost):
        if outcome.how == "dead":
            raise DeadKernelError("Kernel died")
        raise CellTimeoutError.error_from_timeout_and_cell("The kernel ignored the interrupt", timeout, cell)
    if isinstance(outcome, TestTimedOut):
        cell.outputs.append(error_output("CellTimeoutError", f"the test ran past the {timeout} s limit of a cell"))
    elif isinstance(outcome, NotebookNode):
        if REDACTED in outcome:  # into the cell's metadata, where the feedback reads it
            cell.metadata[REDACTED] = outcome.pop(REDACTED)
        cell.outputs.append(outcome)
    _coalesce(cell)


def _label(cell: NotebookNode) -> str:
    return str(cell.metadata.get("nbgrader", {}).get("grade_id", "test"))


def _execute(source: str, kernel: Kernel, emit: Any, filename: str, setting: Setting | None = None) -> Any:
    """Run ``source`` in a fresh namespace (the names ``setting`` gives bound first); returns
    None, an error output, or the :class:`KernelLost` / :class:`TestTimedOut` that stopped it."""
    setting = setting or Setting("", ".")
    namespace: dict[str, Any] = {"__name__": "__main__", "__builtins__": builtins}
    refused: list[str] = []
    with contextlib.redirect_stdout(_CellStream(emit, "stdout")), \
            contextlib.redirect_stderr(_CellStream(emit, "stderr")), setting.context():
        try:
            tree = ast.parse(source, filename)
            namespace.update(setting.given())
            for name in free_names(source):
                if name in namespace:
                    continue
                answer = kernel.ask({"op": "resolve", "name": name})
                if answer["kind"] == "function" and name in setting.models:
                    namespace[name] = StudentModelFunction(kernel, name, setting.cache)
                elif answer["kind"] == "function":
                    namespace[name] = StudentFunction(kernel, name)
                elif answer["kind"] == "value" and "value" in answer:
                    namespace[name] = answer["value"]
                elif answer["kind"] == "missing":
                    refused = [str(m) for m in answer.get("refused", []) if isinstance(m, str)]
                else:
                    raise plain.NotPlainData(f"{name}: {answer.get('message', 'not plain data')}")
            last = tree.body[-1] if tree.body and isinstance(tree.body[-1], ast.Expr) else None
            body = ast.Module(body=tree.body[:-1] if last else tree.body, type_ignores=[])
            exec(compile(body, filename, "exec"), namespace)
            if last is not None:
                value = eval(compile(ast.Expression(last.value), filename, "eval"), namespace)
                if value is not None:
                    return NotebookNode(output_type="execute_result", execution_count=None, metadata={},
                                        data={"text/plain": repr(value)})
        except (KernelLost, TestTimedOut) as exc:
            return exc
        except BaseException as exc:  # the test failed: its message, as the kernel would show it
            ename = type(exc).__name__
            evalue = str(exc)
            if isinstance(exc, NameError) and refused:
                evalue += f" (the cell that should define it failed: {refused[-1]})"
            lines = [line.rstrip("\n") for line in traceback.format_exception_only(type(exc), exc)]
            if evalue != str(exc):
                lines[-1] = f"{ename}: {evalue}"
            output = error_output(ename, evalue, lines)
            redacted = redacted_message(exc)
            if redacted is not None:  # what feedback shows of a hidden test (run_test_cell moves it)
                output[REDACTED] = redacted
            return output
    return None


def _coalesce(cell: NotebookNode) -> None:
    """Consecutive stream outputs of one name joined, as nbclient does for a kernel's cell."""
    merged: list[NotebookNode] = []
    for output in cell.outputs:
        if (output.get("output_type") == "stream" and merged and merged[-1].get("output_type") == "stream"
                and merged[-1].get("name") == output.get("name")):
            merged[-1]["text"] += output["text"]
        else:
            merged.append(output)
    cell.outputs = merged
