"""Rules of the package's structure, checked on its source.

* No ``assert`` statement in ``course_utils``: a check must decide a student's
  result under ``python -O`` too (asserts are removed there).
* One Keras interpreter: only ``course_utils/spec_keras.py`` (the Keras walker behind
  ``course_utils.spec``) reads Keras layer objects' internals. Statically, no other module
  (the other spec modules and the test fixtures included) imports ``keras.src`` or names
  a private Keras attribute, and no other spec module imports Keras at all; at run time,
  the layer lists of Keras models (``.layers``, ``_flatten_layers``) are read by
  spec_keras alone while the other modules (receptive
  field measurement, parameter tables, convolutionalize, the training probe and the
  A3 rules) do their work.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "course_utils"


#: Builders of test submissions: they reach Keras models through spec like the package does.
FIXTURES = PACKAGE.parent / "tests" / "fixtures"


def _modules(root: Path = PACKAGE):
    for path in sorted(root.rglob("*.py")):
        yield path.relative_to(PACKAGE.parent).as_posix(), ast.parse(path.read_text(), str(path))


def test_no_assert_statement_decides_anything():
    found = [f"{name}:{node.lineno}" for name, tree in _modules() for node in ast.walk(tree)
             if isinstance(node, ast.Assert)]
    assert not found, f"use an explicit raise (exercises: require(...)): {found}"


def test_wrong_answers_still_fail_under_python_O():
    script = """
import sys
import numpy as np
from course_utils.exercises import nb01, nb07
results = [
    nb01.true_convolution.check(np.zeros_like(nb01.KERNEL), quiet=True),
    nb07.weight_gradient.check(np.zeros_like(nb07.KERNEL, dtype=float), quiet=True),
    nb07.weight_gradient.check(np.zeros(3), quiet=True),
]
sys.exit(0 if all(not r and "not quite" in r.message for r in results) else 1)
"""
    proc = subprocess.run([sys.executable, "-O", "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


# ----------------------------------------------------------------------------- one Keras interpreter
KERAS_PRIVATE = {"_flatten_layers", "_keras_history", "_trainable_variables", "_non_trainable_variables",
                 "_nodes_by_depth", "_functional", "_inbound_nodes", "_outbound_nodes", "_layers", "_tracker"}
#: Documented exceptions: (module, what, why).
KERAS_SRC_ALLOWED = {
    ("course_utils/data.py", "keras.src.backend"): "Keras' cache folder has no public accessor (keras 3.15)",
}


def _keras_internals(name, tree):
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("keras.src"):
            yield node.lineno, node.module
        elif isinstance(node, ast.Import):
            yield from ((node.lineno, a.name) for a in node.names if a.name.startswith("keras.src"))
        elif isinstance(node, ast.Attribute) and node.attr in KERAS_PRIVATE:
            yield node.lineno, node.attr
        elif isinstance(node, ast.Constant) and node.value in KERAS_PRIVATE:
            yield node.lineno, node.value


KERAS_READER = "course_utils/spec_keras.py"
#: The modules of the layer specs: spec.py re-exports what the others define.
SPEC_MODULES = ("course_utils/spec.py", "course_utils/spec_core.py", "course_utils/spec_lists.py", KERAS_READER)


def test_only_spec_touches_keras_internals():
    found = []
    for name, tree in [*_modules(), *_modules(FIXTURES)]:
        if name == KERAS_READER:
            continue
        for line, what in _keras_internals(name, tree):
            if not any(name == m and what.startswith(w) for m, w in KERAS_SRC_ALLOWED):
                found.append(f"{name}:{line} {what}")
    assert not found, f"go through course_utils.spec's Keras access functions instead: {found}"
    spec_tree = dict(_modules())[KERAS_READER]
    assert any(True for _ in _keras_internals("spec", spec_tree))  # the scan sees what it looks for


def test_of_the_spec_modules_only_the_keras_reader_imports_keras():
    modules = dict(_modules())
    assert set(SPEC_MODULES) == {n for n in modules if n.startswith("course_utils/spec")}, "a new spec module?"

    def keras_imports(tree):
        return [node.lineno for node in ast.walk(tree)
                if (isinstance(node, ast.Import) and any(a.name.split(".")[0] == "keras" for a in node.names))
                or (isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "keras")]

    found = {name: keras_imports(modules[name]) for name in SPEC_MODULES if name != KERAS_READER}
    assert not any(found.values()), f"only {KERAS_READER} reads Keras: {found}"
    assert keras_imports(modules[KERAS_READER])  # the scan sees what it looks for


@pytest.fixture
def layer_list_readers(keras, monkeypatch):
    """The course_utils modules that read a Keras model's layer list while the test runs."""
    readers: set[str] = set()

    def record(frame):
        module = frame.f_globals.get("__name__", "")
        if module.startswith("course_utils"):
            readers.add(module)

    from keras.src.layers.layer import Layer
    from keras.src.models.sequential import Sequential

    flatten = Layer._flatten_layers

    def traced_flatten(self, *args, **kwargs):
        record(sys._getframe(1))
        return flatten(self, *args, **kwargs)

    monkeypatch.setattr(Layer, "_flatten_layers", traced_flatten)
    for cls in (keras.Model, Sequential):
        prop = cls.__dict__.get("layers") or keras.Model.layers

        def traced(self, _get=prop.fget):
            record(sys._getframe(1))
            return _get(self)

        monkeypatch.setattr(cls, "layers", property(traced, prop.fset))
    return readers


def test_only_spec_reads_the_layers_of_keras_models(keras, layer_list_readers):
    from course_utils import architectures, experiments, params
    from course_utils import receptive_field as rf
    from course_utils.grading import a3

    L = keras.layers

    def build(shape):
        x = inputs = keras.Input(shape)
        x = L.SeparableConv2D(4, 3, name="sep")(x)
        x = L.BatchNormalization(name="bn")(x)
        x = L.Conv2D(4, 1, strides=2, name="shortcut")(L.Dropout(0.1, name="drop")(x))
        x = L.MaxPooling2D(2, name="pool")(x)
        return keras.Model(inputs, L.Dense(3)(L.GlobalAveragePooling2D()(x)))

    model = build((12, 12, 2))
    rf.GradientProbe(model).measure()
    rf.empirical_receptive_field(model, layer="sep", exact=False)
    params.parameter_table(model)
    a3.forbidden_layers(model)
    a3.check_bn_dropout(build, (12, 12, 2))
    a3.check_rf_table(a3.expected_rf_rows(model, required_only=True), build, (12, 12, 2))
    classifier = keras.Sequential([keras.Input((6, 6, 1)), L.Conv2D(2, 3), L.Flatten(), L.Dense(3)])
    architectures.convolutionalize(classifier)
    probe = experiments._Probe("bn", np.ones((2, 12, 12, 2), "float32"), every=1)
    callback = probe.callback()
    callback.set_model(model)
    callback.on_train_begin()
    assert layer_list_readers == {"course_utils.spec_keras"}, layer_list_readers


# ----------------------------------------------------------------------------- modules with one job
def test_every_check_is_importable_from_course_utils_checks():
    """Notebooks, assignments and the grader import ``from course_utils.checks import X``."""
    from course_utils import checks
    from course_utils.checks import a1, a2, core, static

    for module in (core, a1, a2, static):
        for name in module.__all__:
            assert getattr(checks, name) is getattr(module, name), (module.__name__, name)
    assert set(checks.__all__) <= set(core.__all__ + a1.__all__ + a2.__all__ + static.__all__)


def _import_graph():
    """``{module: modules of course_utils it imports}``, function-level imports included."""
    modules = {}
    for name, tree in _modules():
        dotted = name[:-3].replace("/", ".").removesuffix(".__init__")
        modules[dotted] = tree
    graph = {}
    for dotted, tree in modules.items():
        targets = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                targets |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                targets.add(node.module)
                targets |= {f"{node.module}.{a.name}" for a in node.names}
        graph[dotted] = {t for t in targets if t in modules and t != dotted and t != "course_utils"
                         and not dotted.startswith(t + ".") and not t.startswith(dotted + ".")}
    return graph


def test_no_import_cycle():
    graph = _import_graph()
    assert "course_utils.data" in graph["course_utils.config"]  # the scan sees lazy imports

    def reaches(start, goal, seen):
        for nxt in graph[start]:
            if nxt == goal or (nxt not in seen and (seen.add(nxt) or reaches(nxt, goal, seen))):
                return True
        return False

    cycles = sorted(m for m in graph if reaches(m, m, set()))
    assert not cycles, f"modules on an import cycle: {cycles}"


def test_one_repo_root():
    defined = [f"{name}:{node.lineno}" for name, tree in _modules() for node in ast.walk(tree)
               if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "REPO_ROOT" for t in node.targets)]
    assert defined == [next(d for d in defined if d.startswith("course_utils/config.py"))], defined
