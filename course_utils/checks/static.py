"""Static analysis of a student's function: no reference layer, no framework.

:func:`check_numpy_only` follows the globals and closure variables a function (and
the notebook functions it calls) uses, and fails when one comes from
:data:`BANNED_MODULES`.
"""

from __future__ import annotations

import inspect
import types
from collections.abc import Callable, Iterable
from typing import Any

from course_utils.checks.core import CheckFailed

__all__ = ["BANNED_MODULES", "check_numpy_only"]


BANNED_MODULES = ("course_utils.ops", "tensorflow", "keras", "torch", "scipy", "jax")


def _referenced(fn: Callable[..., Any], seen: set[int]) -> Iterable[tuple[str, Any]]:
    """(name, object) of the globals and closure variables a function (and its nested code) uses."""
    code = getattr(fn, "__code__", None)
    if code is None or id(code) in seen:
        return
    seen.add(id(code))
    stack = [code]
    names: set[str] = set()
    while stack:
        c = stack.pop()
        names.update(c.co_names)
        stack.extend(const for const in c.co_consts if isinstance(const, types.CodeType))
    for name in sorted(names):
        if name in fn.__globals__:
            yield name, fn.__globals__[name]
    for name, cell in zip(code.co_freevars, fn.__closure__ or ()):
        try:
            yield name, cell.cell_contents
        except ValueError:  # an empty cell
            continue


def _banned(obj: Any, attribute_names: set[str]) -> str | None:
    module = obj.__name__ if isinstance(obj, types.ModuleType) else getattr(obj, "__module__", None) or ""
    if any(module == b or module.startswith(b + ".") for b in BANNED_MODULES):
        return module
    if isinstance(obj, types.ModuleType) and module == "course_utils" and "ops" in attribute_names:
        return "course_utils.ops"
    return None


def check_numpy_only(fn: Callable[..., Any], name: str) -> None:
    """``fn`` (and the notebook functions it calls) must not use the reference layers or a framework."""
    seen: set[int] = set()
    todo = [fn]
    while todo:
        current = todo.pop()
        code_names = set(getattr(getattr(current, "__code__", None), "co_names", ()))
        for ref_name, obj in _referenced(current, seen):
            where = _banned(obj, code_names)
            if where:
                raise CheckFailed(name, f"uses {ref_name!r} from {where}.",
                                  "implement the layer yourself with numpy; the reference layers are "
                                  "what your code is compared against.")
            if inspect.isfunction(obj) and obj.__module__ == fn.__module__:
                todo.append(obj)
