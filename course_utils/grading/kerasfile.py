"""A Keras model crossing from the student's kernel to the grader: its ``.keras`` file.

A3's tests judge the network the student's ``build_separable`` builds. The function runs
in the sandboxed kernel; what crosses to the grader's trusted side is the model saved in
Keras' own format (:func:`model_bytes`, as a numpy array of bytes through
:mod:`.plain`), never the live object. The trusted side (:func:`load`) opens the archive
itself, reads its ``config.json`` as JSON and refuses, before Keras deserialises
anything, every object that is not a standard Keras one:

* a layer class must be a public class of ``keras.layers`` (``Lambda`` and ``TFSMLayer``,
  which run code of their own, excluded) or a Keras ``Sequential``/``Functional`` model;
* initializers, regularizers, constraints, activations and dtype policies must be
  Keras' own (by module and by name);
* no object may carry a ``registered_name`` of its own (what
  ``keras.saving.register_keras_serializable`` gives a custom class).

The model is then loaded with ``safe_mode=True``, no custom objects and without its
training configuration (``compile=False``), from a private copy of the archive that
holds only the validated configuration, the metadata and the weights.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
import zipfile
from typing import Any

from course_utils.checks import CheckFailed

#: Largest ``.keras`` archive that crosses (its base64 must fit :data:`.plain.MAX_BYTES`).
MAX_MODEL_BYTES = 11 * 1024 ** 2
#: Largest configuration (``config.json``) and uncompressed archive member.
MAX_CONFIG_BYTES = 2 * 1024 ** 2
MAX_MEMBER_BYTES = 64 * 1024 ** 2
MEMBERS = ("config.json", "metadata.json", "model.weights.h5")

#: Classes of ``keras.layers`` that cannot be judged from their configuration.
REFUSED_LAYERS = {"Lambda": "runs Python code of its own", "TFSMLayer": "wraps a saved TensorFlow graph",
                  "Layer": "is the base class of custom layers", "InputSpec": "is not a layer"}
#: Models that may hold the layers (nested models included).
MODELS = {("keras", "Sequential"), ("keras", "Functional"), ("keras.src.models.functional", "Functional"),
          ("keras.src.models.sequential", "Sequential")}
#: Keras namespaces whose public classes may appear inside a layer's configuration.
PARTS = ("keras.initializers", "keras.regularizers", "keras.constraints")
STANDARD_ONLY = ("A3 is graded on standard Keras layers only (keras.layers: SeparableConv2D, DepthwiseConv2D, "
                 "BatchNormalization, pooling, Dropout, Dense, ...); write the network from them, without "
                 "Lambda, custom layer classes or custom functions")


# ----------------------------------------------------------------------------- the kernel's side
def model_bytes(model: Any):
    """``model`` saved in Keras' format, as a numpy array of its bytes (in the kernel)."""
    import keras
    import numpy as np

    if not isinstance(model, keras.Model):
        raise TypeError(f"expected a Keras model, got {type(model).__name__}: return the model "
                        "(keras.Model or keras.Sequential) from the function")
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "model.keras")
        keras.saving.save_model(model, path)
        with open(path, "rb") as f:
            data = f.read(MAX_MODEL_BYTES + 1)
    if len(data) > MAX_MODEL_BYTES:
        raise ValueError(f"the model is too large to grade: its .keras file is over "
                         f"{MAX_MODEL_BYTES // 1024 ** 2} MiB (A3's networks have fewer than 100,000 parameters)")
    return np.frombuffer(data, dtype=np.uint8)


# ----------------------------------------------------------------------------- the grader's side
def _public(module: str) -> set[str]:
    import importlib

    space = importlib.import_module(module)
    return {name for name in dir(space) if not name.startswith("_") and isinstance(getattr(space, name), type)}


def _activations() -> set[str]:
    import keras

    return {name for name in dir(keras.activations) if not name.startswith("_")}


def config_problems(config: Any) -> list[str]:
    """What in a ``.keras`` configuration is not a standard Keras object (empty: none)."""
    layers = _public("keras.layers") - set(REFUSED_LAYERS)
    parts = {(module, name) for module in PARTS for name in _public(module)}
    activations = _activations()
    problems: list[str] = []

    def where(obj: dict) -> str:
        name = obj.get("config", {}).get("name") if isinstance(obj.get("config"), dict) else obj.get("name")
        return f"layer {name!r}" if isinstance(name, str) else "an object"

    def visit(obj: Any, depth: int) -> None:
        if depth > 200:
            problems.append("the configuration is nested too deeply")
            return
        if isinstance(obj, list):
            for item in obj:
                visit(item, depth + 1)
            return
        if not isinstance(obj, dict):
            return
        if "class_name" in obj:
            module, cls, registered = obj.get("module"), obj.get("class_name"), obj.get("registered_name")
            ok = registered in (None, cls) and (
                (module == "keras.layers" and cls in layers)
                or (module, cls) in MODELS or (module, cls) in parts
                or (module == "keras" and cls in ("DTypePolicy", "FloatDTypePolicy"))
                or (module is None and cls == "__keras_tensor__")
                or (module == "keras.activations" and cls == "function" and obj.get("config") in activations))
            if not ok:
                if module == "keras.layers" and cls in REFUSED_LAYERS:
                    problems.append(f"{where(obj)} is a {cls}, which {REFUSED_LAYERS[cls]}")
                elif cls == "function" or cls == "__lambda__":
                    problems.append(f"{where(obj)} uses a Python function of its own "
                                    f"({obj.get('config')!s:.60}), not one of keras.activations")
                else:
                    problems.append(f"{where(obj)} is of the class {cls!s}"
                                    + (f" from {module}" if module else "")
                                    + ", not a standard Keras class"
                                    + (f" (registered as {registered!r})" if registered not in (None, cls) else ""))
                return
        for key, value in obj.items():
            if key == "compile_config":
                continue
            if key.endswith("activation") and not (isinstance(value, str) and value in activations
                                                   or isinstance(value, dict) and "class_name" in value
                                                   or value is None):
                problems.append(f"{where(obj)} has an activation that is not one of keras.activations")
                continue
            visit(value, depth + 1)

    visit(config, 0)
    return problems


def _read_archive(data: bytes, what: str) -> dict[str, bytes]:
    def refuse(problem: str) -> CheckFailed:
        return CheckFailed(what, f"the model cannot be graded: {problem}.", STANDARD_ONLY)

    if len(data) > MAX_MODEL_BYTES:
        raise refuse(f"its .keras file is over {MAX_MODEL_BYTES // 1024 ** 2} MiB")
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = {info.filename: info for info in archive.infolist()}
    except (zipfile.BadZipFile, ValueError, OSError):
        raise refuse("what arrived is not a .keras archive") from None
    members: dict[str, bytes] = {}
    for name in MEMBERS:
        info = infos.get(name)
        if info is None:
            raise refuse(f"its .keras file has no {name}")
        limit = MAX_CONFIG_BYTES if name.endswith(".json") else MAX_MEMBER_BYTES
        if info.file_size > limit:
            raise refuse(f"{name} is too large ({info.file_size:,} bytes)")
        try:
            with archive.open(info) as f:
                members[name] = f.read(limit + 1)
        except (zipfile.BadZipFile, OSError, ValueError, EOFError, RuntimeError):
            raise refuse(f"{name} is damaged") from None
        if len(members[name]) > limit:
            raise refuse(f"{name} is too large")
    return members


def load(data: Any, what: str = "build_separable"):
    """The Keras model of a ``.keras`` archive's bytes (``bytes`` or a uint8 array), loaded
    on the trusted side (see the module's docstring); :class:`CheckFailed` when it holds
    anything but standard Keras objects or cannot be loaded."""
    import numpy as np

    if isinstance(data, np.ndarray) and data.dtype == np.uint8 and data.ndim == 1:
        data = data.tobytes()
    if not isinstance(data, bytes):
        raise CheckFailed(what, f"{what}(input_shape) must return a Keras model.", STANDARD_ONLY)
    members = _read_archive(data, what)
    try:
        config = json.loads(members["config.json"])
    except (ValueError, RecursionError):
        raise CheckFailed(what, "the model cannot be graded: its configuration is not JSON.") from None
    problems = config_problems(config)
    if not isinstance(config, dict) or (config.get("module"), config.get("class_name")) not in MODELS:
        problems.insert(0, "the model itself is not a keras.Sequential or functional keras.Model "
                           "(a subclassed Model cannot be judged from its configuration)")
    if problems:
        shown = problems[:8] + ([f"and {len(problems) - 8} more"] if len(problems) > 8 else [])
        raise CheckFailed(what, "the model cannot be graded: " + "; ".join(shown) + ".", STANDARD_ONLY)
    config.pop("compile_config", None)
    return _load_validated(config, members, what)


def _load_validated(config: dict, members: dict[str, bytes], what: str):
    import keras

    with tempfile.TemporaryDirectory(prefix="course-model-") as folder:
        path = os.path.join(folder, "model.keras")
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("config.json", json.dumps(config))
            archive.writestr("metadata.json", members["metadata.json"])
            archive.writestr("model.weights.h5", members["model.weights.h5"])
        try:
            with keras.utils.custom_object_scope({}):
                return keras.saving.load_model(path, custom_objects=None, compile=False, safe_mode=True)
        except Exception as exc:  # noqa: BLE001 - anything in the student's file that Keras refuses
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
            raise CheckFailed(what, f"the model cannot be loaded from its .keras file ({type(exc).__name__}: "
                                    f"{first}).", STANDARD_ONLY) from None
