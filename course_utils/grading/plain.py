"""Plain data: what crosses between the student's kernel and the grader's trusted side.

The graded test cells of A1 and A2 run in the grader's own process (:mod:`.trusted`);
the student's functions stay in the sandboxed kernel. Arguments go to the kernel and
answers come back as *plain data* only, in JSON, never pickled and never evaluated:

=================================  ==============================================
value                              encoding
=================================  ==============================================
``None``, ``bool``, ``int``, str   themselves (exact types: no subclasses)
``float``                          itself; NaN and infinities as ``{"$": "float", "v": "nan"}``
``list``                           a JSON list
``tuple``, ``dict``                ``{"$": "tuple", "v": [...]}``, ``{"$": "dict", "v": [[key, value], ...]}``
numpy array of numbers or bools    ``{"$": "ndarray", "dtype": "<f8", "shape": [...], "data": base64}``
numpy scalar                       ``{"$": "scalar", "dtype": ..., "data": base64}``
=================================  ==============================================

A Keras model (what A3's ``build_separable`` returns) crosses as the bytes of its
``.keras`` file, a numpy array of ``uint8``, when the grader asks for it (a call with
``"as": "keras"``; :mod:`.kerasfile` saves it here and judges it on the other side).

Anything else (an object, a function, a generator, an array of objects) is refused
with :class:`NotPlainData`, whose message says what to return instead. A message is
at most :data:`MAX_BYTES` long and :data:`MAX_DEPTH` levels deep.

:func:`serve` is the kernel's side: the grader executes one line that calls it (through
the same kernel client that runs the notebook, without storing history), and reads the
answer from the reply; nothing the kernel sends is evaluated.
"""

from __future__ import annotations

import base64
import json
import math
from typing import Any

#: Largest message, either way (16 MiB of JSON).
MAX_BYTES = 16 * 1024 ** 2
#: Deepest nesting of lists, tuples and dicts.
MAX_DEPTH = 64
#: numpy dtype kinds that cross: bools, signed and unsigned integers, floats, complex numbers.
ARRAY_KINDS = "biufc"

WHAT_TO_RETURN = ("return plain data: numbers, strings, bools, None, lists, tuples, dicts or numpy arrays "
                  "of numbers")


class NotPlainData(ValueError):
    """A value that cannot cross: the message names it and says what to return."""


def _numpy():
    import numpy

    return numpy


def encode(value: Any, what: str = "the value", limit: int = MAX_BYTES) -> str:
    """``value`` as JSON text (see the module's table), or :class:`NotPlainData`."""
    text = json.dumps(_encode(value, what, ""), allow_nan=False, separators=(",", ":"))
    if len(text) > limit:
        raise NotPlainData(f"{what} is too large to grade: {len(text) / 1024 ** 2:.1f} MiB of data, "
                           f"at most {limit / 1024 ** 2:.0f} MiB")
    return text


def _refuse(what: str, path: str, problem: str) -> NotPlainData:
    where = f"{what} holds, at {path}, " if path else f"{what} is "
    return NotPlainData(f"{where}{problem}: {WHAT_TO_RETURN}")


def _encode(value: Any, what: str, path: str) -> Any:
    if path.count("[") > MAX_DEPTH:
        raise _refuse(what, "", f"nested more than {MAX_DEPTH} levels deep")
    kind = type(value)
    if value is None or kind in (bool, int, str):
        return value
    if kind is float:
        return value if math.isfinite(value) else {"$": "float", "v": repr(value)}
    if kind is list:
        return [_encode(v, what, f"{path}[{i}]") for i, v in enumerate(value)]
    if kind is tuple:
        return {"$": "tuple", "v": [_encode(v, what, f"{path}[{i}]") for i, v in enumerate(value)]}
    if kind is dict:
        return {"$": "dict", "v": [[_encode(k, what, f"{path}[a key]"), _encode(v, what, f"{path}[{k!r}]")]
                                   for k, v in value.items()]}
    np = _numpy()
    if kind is np.ndarray or isinstance(value, np.generic) and kind.__module__ == "numpy":
        dtype = value.dtype
        if dtype.kind not in ARRAY_KINDS or dtype.fields is not None or dtype.subdtype is not None:
            noun = "array" if kind is np.ndarray else "scalar"
            raise _refuse(what, path, f"a numpy {noun} of dtype {dtype}, not of numbers")
        data = base64.b64encode(np.ascontiguousarray(value).tobytes()).decode("ascii")
        if kind is np.ndarray:
            return {"$": "ndarray", "dtype": dtype.str, "shape": list(value.shape), "data": data}
        return {"$": "scalar", "dtype": dtype.str, "data": data}
    raise _refuse(what, path, f"a {_type_name(value)}, which the grader cannot receive")


def _type_name(value: Any) -> str:
    kind = type(value)
    module = getattr(kind, "__module__", "") or ""
    name = getattr(kind, "__qualname__", "object")
    return name if module in ("builtins", "__main__") else f"{module}.{name}"


def decode(text: str | bytes, what: str = "the value", limit: int = MAX_BYTES) -> Any:
    """The value of JSON ``text`` made by :func:`encode`; :class:`NotPlainData` for anything else."""
    if not isinstance(text, (str, bytes)):
        raise NotPlainData(f"{what} did not arrive as text")
    if len(text) > limit:
        raise NotPlainData(f"{what} is too large to grade: over {limit / 1024 ** 2:.0f} MiB")

    def no_constants(name: str) -> Any:
        raise NotPlainData(f"{what} holds {name}, which is not JSON")

    try:
        raw = json.loads(text, parse_constant=no_constants)
    except NotPlainData:
        raise
    except (ValueError, RecursionError) as exc:
        raise NotPlainData(f"{what} is not plain data: {type(exc).__name__}") from None
    return _decode(raw, what, 0)


_FLOATS = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}


def _decode(raw: Any, where: str, depth: int) -> Any:
    if depth > MAX_DEPTH:
        raise NotPlainData(f"{where} is nested more than {MAX_DEPTH} levels deep")
    kind = type(raw)
    if raw is None or kind in (bool, int, float, str):
        return raw
    if kind is list:
        return [_decode(v, where, depth + 1) for v in raw]
    if kind is not dict:
        raise NotPlainData(f"{where}: unexpected {kind.__name__}")
    tag = raw.get("$")
    if tag == "float" and set(raw) == {"$", "v"} and raw["v"] in _FLOATS:
        return _FLOATS[raw["v"]]
    if tag == "tuple" and set(raw) == {"$", "v"} and type(raw["v"]) is list:
        return tuple(_decode(v, where, depth + 1) for v in raw["v"])
    if tag == "dict" and set(raw) == {"$", "v"} and type(raw["v"]) is list:
        out = {}
        for pair in raw["v"]:
            if type(pair) is not list or len(pair) != 2:
                raise NotPlainData(f"{where}: a malformed dict entry")
            key = _decode(pair[0], where, depth + 1)
            try:
                out[key] = _decode(pair[1], where, depth + 1)
            except TypeError:  # an unhashable key (a list)
                raise NotPlainData(f"{where}: a dict key that is not hashable") from None
        return out
    if tag in ("ndarray", "scalar"):
        return _decode_array(raw, tag, where)
    raise NotPlainData(f"{where}: an object that is not plain data")


def _decode_array(raw: dict, tag: str, where: str) -> Any:
    np = _numpy()
    keys = {"$", "dtype", "shape", "data"} if tag == "ndarray" else {"$", "dtype", "data"}
    if set(raw) != keys or type(raw["dtype"]) is not str or type(raw["data"]) is not str:
        raise NotPlainData(f"{where}: a malformed array")
    try:
        dtype = np.dtype(raw["dtype"])
    except TypeError:
        raise NotPlainData(f"{where}: an unknown dtype") from None
    if dtype.kind not in ARRAY_KINDS or dtype.fields is not None or dtype.subdtype is not None \
            or dtype.str != raw["dtype"]:
        raise NotPlainData(f"{where}: an array of dtype {raw['dtype']!r}, not numbers")
    shape = raw.get("shape", [])
    if type(shape) is not list or not all(type(n) is int and n >= 0 for n in shape) or len(shape) > 32:
        raise NotPlainData(f"{where}: a malformed array shape")
    try:
        data = base64.b64decode(raw["data"], validate=True)
    except ValueError:
        raise NotPlainData(f"{where}: array data that is not base64") from None
    if len(data) != math.prod(shape) * dtype.itemsize:
        raise NotPlainData(f"{where}: array data that does not fit its shape")
    array = np.frombuffer(data, dtype=dtype).reshape(shape).copy()
    return array if tag == "ndarray" else array[()]


# ----------------------------------------------------------------------------- the kernel's side
class _Reply:
    """What :func:`serve` returns: its ``repr`` is the JSON text of the answer, so that the
    kernel's reply carries it as ``text/plain`` unchanged."""

    def __init__(self, text: str):
        self.text = text

    def __repr__(self) -> str:
        return self.text


def serve(request: str) -> _Reply:
    """Answer one request of the grader, in the kernel, about the notebook's namespace:

    ``{"op": "resolve", "name": N}``: ``{"kind": "function"}``, ``{"kind": "value", "value": V}``,
    ``{"kind": "missing"}`` or ``{"kind": "not_plain", "message": M}``;
    ``{"op": "call", "name": N, "args": [...], "kwargs": {...}}``: ``{"kind": "value", "value": V}``,
    ``{"kind": "raised", "type": T, "message": M}`` or ``{"kind": "not_plain", "message": M}``;
    with ``"as": "keras"`` the value is the returned model's ``.keras`` file (:mod:`.kerasfile`).
    """
    from IPython import get_ipython

    namespace = get_ipython().user_ns
    asked = decode(request, "the grader's request")
    name = asked["name"]
    if name not in namespace:
        return _Reply(encode({"kind": "missing", "refused": refused_imports()}))
    target = namespace[name]
    if asked["op"] == "resolve":
        if callable(target) and type(target) not in (type(None), bool, int, float, str, list, tuple, dict):
            return _Reply(encode({"kind": "function"}))
        return _Reply(_value(target, name))
    try:
        result = target(*asked["args"], **asked["kwargs"])
        if asked.get("as") == "keras":
            from course_utils.grading.kerasfile import model_bytes

            result = model_bytes(result)
    except KeyboardInterrupt:
        return _Reply(encode({"kind": "raised", "type": "KeyboardInterrupt", "message": "interrupted"}))
    except Exception as exc:
        message = _text(exc)
        return _Reply(encode({"kind": "raised", "type": type(exc).__name__, "message": message}))
    return _Reply(_value(result, f"what {name}(...) returned"))


def _value(value: Any, what: str) -> str:
    try:
        encoded = encode(value, what)
    except NotPlainData as exc:
        return encode({"kind": "not_plain", "message": str(exc)})
    # the value is already JSON: spliced in rather than decoded and encoded again
    return '{"$":"dict","v":[["kind","value"],["value",' + encoded + "]]}"


def _text(exc: BaseException) -> str:
    try:
        text = str(exc)
    except Exception:
        text = f"<{type(exc).__name__}>"
    return text[:2000]


def refused_imports() -> list[str]:
    """The messages of the imports refused in this kernel (see :mod:`.absent`)."""
    import sys

    module = sys.modules.get("course_utils.grading.absent")
    return list(getattr(module, "REFUSED", [])[-3:]) if module else []
