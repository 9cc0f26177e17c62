"""The rubric of assignment A3 (the depthwise-separable-only network), judged on the
submitted files alone.

A3's test cells run on the grader's trusted side (:mod:`.trusted`). The network a
test judges is the one the student's ``build_separable`` returns in the sandboxed
kernel, saved there in Keras' own format and loaded here by :mod:`.kerasfile`
(standard Keras layers only, ``safe_mode=True``, no custom objects): a custom layer, a
``Lambda`` or a subclassed model cannot load and fails with its name. Every test of one
notebook judges the same loaded network for an input shape; the dataset, its image
shape and quick mode are the grader's (:func:`given_names`, :func:`judging`), and the
weights and histories are read from the submitted files.

Every check returns ``None`` (printing ``[name] correct: ...``) or raises
:class:`course_utils.checks.CheckFailed` with what is wrong, so the notebook's
public tests, its hidden tests and the feedback read alike.

=================  ===========================================================
rule               how it is checked
=================  ===========================================================
no Conv2D          every layer of the model, nested models included, read
                   through :mod:`course_utils.spec`, by *exact* class: only
                   ``SeparableConv2D`` and ``DepthwiseConv2D`` may convolve
parameters         ``model.count_params() < 100_000``
BN, dropout        a ``BatchNormalization`` layer; at least one ``Dropout`` (or
                   ``SpatialDropout``), every rate in ``DROPOUT_RANGE``
RF table           the student's ``{layer: (output_size, channels, rf)}``
                   (plain data, whole numbers) against
                   :func:`course_utils.receptive_field.receptive_field_table` of
                   the same model, by exact integer comparison: each wrong or
                   missing row is named with the right values
accuracy           the submitted weights loaded into the model (a file of
                   another architecture fails) and evaluated on the grader's
                   dataset, the whole test split; the history's best validation
                   accuracy must agree within ``TOLERANCE``; at most
                   ``MAX_EPOCHS`` epochs
beats the base     the separable weights beat the submitted base weights (in
                   the instructor's base network, the weights after its last
                   epoch, which its history's last accuracy must match within
                   ``TOLERANCE``; exactly ``MAX_EPOCHS`` epochs, except in quick
                   mode) on the same images, and reach the instructor's floor
                   (``FLOORS``; none in quick mode)
=================  ===========================================================
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import math
import os
from pathlib import Path
from typing import Any, Callable

import numpy as np

from course_utils import checks
from course_utils import spec as specs
from course_utils.a3_rules import DROPOUT_RANGE, FLOORS, MAX_EPOCHS, MAX_PARAMS, QUICK_VAL_SIZE, TOLERANCE
from course_utils.checks import CheckFailed, call_student

__all__ = [
    "MAX_PARAMS", "MAX_EPOCHS", "VAL_SIZE", "TOLERANCE", "DROPOUT_RANGE", "FLOORS",
    "all_layers", "forbidden_layers", "check_separable_only", "check_params", "check_bn_dropout",
    "expected_rf_rows", "check_rf_table", "check_run", "check_beats_base", "validation_subset",
    "QUICK_VAL_SIZE", "VAL_SEED", "given_names", "judging", "RUNS", "run_files", "snapshot_runs", "prefetch_base",
]

#: Test images the grader evaluates the weights on: the whole test split (None); in quick
#: mode (the grader's ``--quick``, for trying the grader and for the tests) a sample of
#: ``QUICK_VAL_SIZE`` of them, drawn with the grader's seed ``VAL_SEED``. The rules' numbers
#: (MAX_PARAMS, MAX_EPOCHS, TOLERANCE, DROPOUT_RANGE, FLOORS) live in
#: :mod:`course_utils.a3_rules`, which the notebook prints.
VAL_SIZE = None
VAL_SEED = 13
#: Exact layer classes allowed to convolve.
ALLOWED_CONV = ("SeparableConv2D", "DepthwiseConv2D")
#: Kinds of layer (course_utils.spec) whose row the RF table must have: every convolution and pooling.
REQUIRED_ROW_KINDS = specs.WINDOW_KINDS | {"transposed", "global_pool"}


# ----------------------------------------------------------------------------- the grader's setting
#: What the grader decided for the notebook being judged (:func:`judging`).
_JUDGING: dict[str, Any] = {}


def given_names() -> dict[str, Any]:
    """The names A3's test cells get from the grader, not from the notebook: ``DATASET``
    (the grader's configuration, :func:`course_utils.config.dataset`) and ``INPUT_SHAPE``
    (its image shape)."""
    from course_utils import config, data

    dataset = config.dataset()
    return {"DATASET": dataset, "INPUT_SHAPE": tuple(data.info(dataset).image_shape)}


@contextlib.contextmanager
def judging(folder: str | Path, memo: dict | None = None, left_out: dict[str, str] | None = None):
    """Judge the notebook whose saved runs are in ``folder`` (``memo``: what is kept from
    one test cell of the notebook to the next; ``left_out``: run files that were not
    copied there, and why, from :func:`snapshot_runs`)."""
    saved = dict(_JUDGING)
    _JUDGING.update(folder=str(folder), accuracy=memo if memo is not None else {}, left_out=dict(left_out or {}))
    try:
        yield
    finally:
        _JUDGING.clear()
        _JUDGING.update(saved)


def _folder(folder: str | Path | None) -> str | Path:
    return folder if folder is not None else _JUDGING.get("folder", ".")


# ----------------------------------------------------------------------------- the layers
# The layers are read through course_utils.spec (leaf_layers / layer_inventory), the
# one module that reads Keras layer objects.
def all_layers(model) -> list[Any]:
    """Every layer inside ``model``: nested models and the sub-layers of subclassed
    layers included (Keras' own tracking of layer attributes)."""
    return specs.leaf_layers(model)


def forbidden_layers(model) -> list[str]:
    """``"path (Class)"`` of every layer that convolves without being an allowed class."""
    bad = []
    for info in specs.layer_inventory(model):
        if (info.keras_class and info.type in ALLOWED_CONV) or not info.convolves:
            continue
        if info.keras_conv is None:
            extra = ", owns a 4-D kernel"
        elif info.keras_conv != info.type:
            extra = f", a {info.keras_conv}"
        else:
            extra = ""
        bad.append(f"{info.name} ({info.type}{extra})")
    return bad


def _model(build: Callable, input_shape, name: str):
    model = call_student(build, name, tuple(input_shape))
    if not hasattr(model, "count_params") or not hasattr(model, "layers"):
        raise CheckFailed(name, f"{name}(input_shape) must return a Keras model, got {type(model).__name__}.")
    return model


def check_separable_only(build: Callable, input_shape, name: str = "build_separable") -> None:
    model = _model(build, input_shape, name)
    bad = forbidden_layers(model)
    if bad:
        raise CheckFailed(name, "these layers convolve but are not SeparableConv2D or DepthwiseConv2D: "
                                + ", ".join(bad) + ".",
                          "the rule is depthwise-separable convolution ONLY: the first layer and the "
                          "classifier included (a 1x1 or 3x3 SeparableConv2D, or a Dense after pooling).")
    convs = [info for info in specs.layer_inventory(model) if info.type in ALLOWED_CONV]
    if not convs:
        raise CheckFailed(name, "the model has no SeparableConv2D layer.", "build it from keras.layers.SeparableConv2D.")
    checks._passed(name, f"{len(convs)} depthwise-separable layers and no other convolution")


def check_params(build: Callable, input_shape, name: str = "build_separable") -> None:
    model = _model(build, input_shape, name)
    count = int(model.count_params())
    if count >= MAX_PARAMS:
        raise CheckFailed(name, f"the model has {count:,} parameters; the limit is fewer than {MAX_PARAMS:,}.",
                          "narrow the widest layers, or replace Flatten + Dense by global average pooling.")
    checks._passed(name, f"{count:,} parameters")


def check_bn_dropout(build: Callable, input_shape, name: str = "build_separable") -> None:
    model = _model(build, input_shape, name)
    layers = specs.layer_inventory(model)
    if not any(info.role == "batchnorm" for info in layers):
        raise CheckFailed(name, "the model has no BatchNormalization layer.",
                          "add BatchNormalization after the separable convolutions.")
    drops = [info for info in layers if info.role == "dropout"]
    if not drops:
        raise CheckFailed(name, "the model has no Dropout layer.", "add a little dropout (0.05-0.25) after the blocks.")
    low, high = DROPOUT_RANGE
    wrong = [f"{l.name} (rate {l.rate})" for l in drops if not (low < float(l.rate) <= high)]
    if wrong:
        raise CheckFailed(name, f"dropout rates outside ({low}, {high}]: {', '.join(wrong)}.",
                          "with BatchNormalization, small rates are enough; a rate of 0 does nothing.")
    checks._passed(name, f"BatchNormalization and {len(drops)} dropout layer(s) with sensible rates")


# ----------------------------------------------------------------------------- the RF table
#: What one row of the layer table holds, in order.
ROW = ("output size", "output channels", "receptive field")


def expected_rf_rows(model, required_only: bool = False) -> dict[str, tuple[int, int, int]]:
    """``{layer: (output size, output channels, receptive field)}`` for every layer with a
    spatial output (``required_only``: the convolutions and poolings, the rows a table must
    have)."""
    from course_utils.receptive_field import receptive_field_table

    network = specs.from_keras(model)
    kinds = {s.name: s.kind for s in network}
    table = receptive_field_table(network, axes="h")
    rows = {}
    for _, row in table.iterrows():
        n_out = row.get("n_out", row.get("n_out_h"))
        rf = row.get("rf", row.get("rf_h"))
        kind = kinds[str(row["layer"])]
        if kind == "input" or n_out is None or (isinstance(n_out, float) and math.isnan(n_out)) \
                or str(n_out) == "<NA>":
            continue
        if required_only and kind not in REQUIRED_ROW_KINDS:
            continue
        rows[str(row["layer"])] = (int(n_out), int(row["channels"]), int(rf))
    return rows


def _rows_of(answer: Any, name: str) -> dict[str, tuple[int, ...]]:
    if answer is None or answer is Ellipsis:
        raise checks.NotAttempted(name)
    if isinstance(answer, dict):
        items = list(answer.items())
    else:
        try:
            items = [(r[0], tuple(r[1:])) for r in answer]
        except (TypeError, IndexError):
            raise CheckFailed(name, f"expected {{layer name: ({', '.join(ROW)})}}.") from None
    out = {}
    for key, value in items:
        try:
            values = tuple(value)
        except TypeError:
            values = ()
        if len(values) != len(ROW):
            raise CheckFailed(name, f"row {key!r}: expected ({', '.join(ROW)}), got {value!r}.")
        if not all(_whole(v) for v in values):
            raise CheckFailed(name, f"row {key!r}: expected {len(ROW)} whole numbers ({', '.join(ROW)}), "
                                    f"got {value!r}.")
        out[str(key)] = tuple(int(v) for v in values)
    return out


def _whole(value: Any) -> bool:
    return type(value) is int or isinstance(value, np.integer)


def check_rf_table(answer: Any, build: Callable, input_shape, name: str = "layer_table") -> None:
    """The student's stated output sizes, channels and receptive fields, row by row: each
    wrong or missing row is named with the right values. Every convolution and pooling needs a
    row; rows for other layers (BN, ReLU, dropout) may be given and are checked too."""
    model = _model(build, input_shape, "build_separable")
    try:
        expected = expected_rf_rows(model)
    except specs.UnsupportedLayerError as exc:
        raise CheckFailed(name, f"the receptive fields of this model cannot be worked out: {exc}",
                          "build the network from standard Keras layers (SeparableConv2D, DepthwiseConv2D, "
                          "BatchNormalization, pooling, Dropout, Dense).") from None
    required = expected_rf_rows(model, required_only=True)
    given = _rows_of(answer, name)
    problems = []
    for layer, right in expected.items():
        if layer not in given and layer not in required:
            continue
        size, channels, rf = right
        if layer not in given:
            problems.append(f"{layer}: missing (output {size}x{size}x{channels}, receptive field {rf})")
            continue
        if given[layer] != right:
            problems.append(f"{layer}: stated {given[layer]}, right {right}")
    unknown = sorted(set(given) - set(expected))
    if unknown:
        problems.append("rows for layers the model does not have (or without a spatial output): "
                        + ", ".join(unknown))
    if problems:
        raise CheckFailed(name, f"{len(problems)} row(s) wrong:\n  " + "\n  ".join(problems),
                          "n_out = floor((n_in + 2p - k)/s) + 1; a convolution's channels are its filters, a pooling "
                          "keeps its input's; rf grows by (k - 1) x jump; pooling multiplies the jump.")
    checks._passed(name, f"all {len(set(given))} rows")


# ----------------------------------------------------------------------------- the saved runs
#: The saved runs a notebook is judged on, and the largest run file that is read.
RUNS = ("base", "separable")
MAX_RUN_BYTES = 64 * 1024 ** 2


def run_files(name: str, folder: str | Path = ".") -> tuple[Path, Path]:
    """(weights, history) of run ``name`` in ``folder``."""
    from course_utils.a3_models import history_path, weights_path

    return weights_path(name, folder), history_path(name, folder)


def snapshot_runs(source: str | Path, target: str | Path) -> dict[str, str]:
    """Copy the run files of the submission in ``source`` into the grader's private folder
    ``target``, each read as a regular file without following a link (at most
    :data:`MAX_RUN_BYTES`); returns ``{file name: why it was left out}`` for the files
    that are there but could not be copied. The trusted side judges the copies: the
    kernel, which runs next to the submitted files, cannot change what is judged."""
    from course_utils.grading.isolation import read_regular_file

    Path(target).mkdir(parents=True, exist_ok=True)
    left_out = {}
    for name in RUNS:
        for path in run_files(name, source):
            if not os.path.lexists(path):
                continue
            data, problem = read_regular_file(path, MAX_RUN_BYTES)
            if problem:
                left_out[path.name] = problem
            else:
                (Path(target) / path.name).write_bytes(data)
    return left_out


#: Accuracies computed ahead of the test cells (:func:`prefetch_base`), by the key of :func:`_accuracy`.
_PREFETCHED: dict[tuple, concurrent.futures.Future] = {}


def prefetch_base(folder: str | Path, dataset: str) -> concurrent.futures.Future:
    """Start evaluating the base run of ``folder`` (the instructor's base network with the
    submitted weights) on the grader's images of ``dataset`` (:func:`validation_subset`),
    in a thread of this process, so that it runs while the kernel executes the notebook.
    The base network is the
    instructor's and the weights are the submitted file: nothing the kernel does enters
    into it. :func:`check_beats_base` uses the value when the weights file it reads is the
    same; any failure here is left for the check to find and report."""
    import threading

    future: concurrent.futures.Future = concurrent.futures.Future()

    def run() -> None:
        try:
            from course_utils import a3_models

            w, _ = run_files("base", folder)
            _PREFETCHED[_accuracy_key(_INSTRUCTOR_BASE, w, dataset)] = future
            x, y = validation_subset(dataset)
            model = a3_models.build_base(x.shape[1:])
            model.load_weights(str(w))
            future.set_result(a3_models.evaluate(model, x, y))
        except BaseException as exc:  # noqa: BLE001 - the check reports it, in its own words
            future.set_exception(exc)

    threading.Thread(target=run, name="a3-base-accuracy", daemon=True).start()
    return future


_VAL_CACHE: dict[tuple[str, int | None], tuple[np.ndarray, np.ndarray]] = {}


def warm_fork_server() -> None:
    """Load the images the grader evaluates on (:func:`validation_subset` of the grader's
    dataset and mode, from the grading process's environment) once, in the fork server of
    A3's workers (:mod:`.launch`): each worker then starts with them in memory instead of
    decompressing the dataset again. A worker whose setting differs looks its own key up."""
    from course_utils import config

    validation_subset(config.dataset())


def validation_subset(dataset: str, size: int | None | str = "grader") -> tuple[np.ndarray, np.ndarray]:
    """The images (scaled to [0, 1]) and labels the grader evaluates on: ``size`` images
    of the test split drawn with ``VAL_SEED``, in their order in the split (``None``: all
    of them; ``"grader"``: :data:`VAL_SIZE`, or :data:`QUICK_VAL_SIZE` in quick mode)."""
    if size == "grader":
        from course_utils import config

        size = QUICK_VAL_SIZE if config.quick() else VAL_SIZE
    key = (dataset, size)
    if key not in _VAL_CACHE:
        from course_utils import data

        _, (x, y) = data.load_images(dataset, (1, None))
        if size is not None and size < len(x):
            chosen = np.sort(np.random.default_rng(VAL_SEED).choice(len(x), size=size, replace=False))
            x, y = x[chosen], y[chosen]
        _VAL_CACHE[key] = (x, y)
    return _VAL_CACHE[key]


def _load_run(name: str, build: Callable, dataset: str, folder: str | Path, what: str):
    """(model with the submitted weights, history record) of run ``name``."""
    from course_utils import a3_models

    w, h = run_files(name, folder)
    left_out = _JUDGING.get("left_out", {})
    refused = [f"{p.name} ({left_out[p.name]})" for p in (w, h) if p.name in left_out]
    if refused:
        raise CheckFailed(what, f"the saved run cannot be read: {', '.join(refused)}.",
                          "submit the files the training cell saved, as plain files.")
    missing = [p.name for p in (w, h) if not p.exists()]
    if missing:
        raise CheckFailed(what, f"the saved run is missing: {', '.join(missing)}.",
                          "run the training cell (it saves both files next to the notebook) and submit them.")
    try:
        record = a3_models.load_history(name, folder)
        accs = [float(a) for a in record["history"]["val_accuracy"]]
    except Exception as exc:  # noqa: BLE001 - any broken file is the student's
        raise CheckFailed(what, f"{h.name} is not a history the notebook wrote ({type(exc).__name__}: {exc}).") from None
    if record.get("dataset") != dataset:
        raise CheckFailed(what, f"{h.name} was trained on {record.get('dataset')!r}, the grader uses {dataset!r}.")
    x, _ = validation_subset(dataset)
    model = _model(build, x.shape[1:], what)
    try:
        model.load_weights(str(w))
    except Exception as exc:  # noqa: BLE001
        raise CheckFailed(what, f"{w.name} does not fit the model the notebook builds "
                                f"({type(exc).__name__}: {str(exc).splitlines()[0][:200]}).",
                          "the weights must come from this architecture: retrain after changing the model.") from None
    if not accs or not all(0.0 <= a <= 1.0 for a in accs):
        raise CheckFailed(what, f"{h.name} holds no valid validation accuracies.")
    return model, record, accs


#: The key of the instructor's base network in the accuracy cache (its architecture is not
#: the student's: every build of it is the same network).
_INSTRUCTOR_BASE = "the instructor's base network"


def _accuracy_key(network: Any, weights: Path, dataset: str) -> tuple:
    import hashlib

    return (network, hashlib.sha256(weights.read_bytes()).hexdigest(), dataset)


def _accuracy(model, name: str, folder: str | Path, dataset: str, network: Any = None) -> float:
    """Accuracy of ``model`` (the weights of run ``name`` in ``folder`` just loaded) on the
    grader's images; while a notebook is judged, each network and weights file is evaluated
    once (the run's test and the comparison with the base read the same number).
    ``network`` names the architecture when it is not the student's (``model``'s own)."""
    from course_utils.a3_models import evaluate

    cache = _JUDGING.get("accuracy", {})
    key = _accuracy_key(network if network is not None else id(model), run_files(name, folder)[0], dataset)
    if key not in cache:
        value = None
        if key in _PREFETCHED:
            with contextlib.suppress(Exception):
                value = _PREFETCHED[key].result()
        if value is None:
            x, y = validation_subset(dataset)
            value = evaluate(model, x, y)
        cache[key] = (model, value)  # the model is kept so that its id stays its own
    return cache[key][1]


def _submitted(name: str, what: str) -> None:
    from course_utils.a3_runs import TRAINED_HERE

    if name in TRAINED_HERE:
        raise CheckFailed(what, f"the saved run {name!r} was not submitted: the notebook had to train it "
                                "while it was being graded.",
                          "submit the weights and history files the training cell saved next to the notebook.")


def check_run(name: str, build: Callable, dataset: str, folder: str | Path | None = None,
              what: str | None = None, submitted: bool = False) -> None:
    """Evaluate the submitted weights of run ``name``; the history must agree with them
    and have at most ``MAX_EPOCHS`` epochs; with ``submitted``, the run must have been
    loaded, not trained in this kernel. (Returns nothing: nbgrader would read a number
    left as a test cell's value as partial credit.)"""
    what = what or f"{name} run"
    if submitted:
        _submitted(name, what)
    model, record, accs = _load_run(name, build, dataset, _folder(folder), what)
    if len(accs) > MAX_EPOCHS:
        raise CheckFailed(what, f"the history has {len(accs)} epochs; the limit is {MAX_EPOCHS}.")
    x, y = validation_subset(dataset)
    measured = _accuracy(model, name, _folder(folder), dataset)
    claimed = max(accs)
    if abs(measured - claimed) > TOLERANCE:
        raise CheckFailed(what, f"the history claims a best validation accuracy of {claimed:.4f}, but the "
                                f"submitted weights reach {measured:.4f} on the {len(x):,} test images.",
                          "submit the weights file the training cell saved with this history (the best epoch's).")
    checks._passed(what, f"{len(accs)} epoch(s); the weights reach {measured:.4f} "
                         f"(history: best {claimed:.4f})")


def check_beats_base(build_base: Callable, build_separable: Callable, dataset: str,
                     folder: str | Path | None = None, floor: float | None = None,
                     name: str = "beats the base") -> None:
    """The separable weights beat the base weights on the same validation images, and
    the floor (default ``FLOORS[dataset]``, none in quick mode). The base is judged as
    Part 1 poses it: its accuracy *after* its last epoch (the weights it saved then, which
    its history's last accuracy must match), after exactly ``MAX_EPOCHS`` epochs (not
    checked in quick mode, where runs are short)."""
    from course_utils import config

    quick = config.quick()
    if floor is None:
        floor = 0.0 if quick else FLOORS.get(dataset, 0.0)
    for run in ("base", "separable"):
        _submitted(run, name)
    x, y = validation_subset(dataset)
    folder = _folder(folder)
    base, _, base_accs = _load_run("base", build_base, dataset, folder, "base run")
    sep, _, accs = _load_run("separable", build_separable, dataset, folder, "separable run")
    if len(accs) > MAX_EPOCHS:
        raise CheckFailed(name, f"the separable run has {len(accs)} epochs; the limit is {MAX_EPOCHS}.")
    if not quick and len(base_accs) != MAX_EPOCHS:
        raise CheckFailed(name, f"the base run has {len(base_accs)} epoch(s); Part 1 asks for {MAX_EPOCHS}.",
                          f"train the base network for {MAX_EPOCHS} epochs (delete its saved run and run its cell).")
    from course_utils import a3_models

    network = _INSTRUCTOR_BASE if build_base is a3_models.build_base else None
    base_acc = _accuracy(base, "base", folder, dataset, network)
    if abs(base_acc - base_accs[-1]) > TOLERANCE:
        raise CheckFailed(name, f"the base history ends at a validation accuracy of {base_accs[-1]:.4f}, but the "
                                f"submitted base weights reach {base_acc:.4f} on the {len(x):,} test images.",
                          "submit the base weights the training cell saved after the last epoch, with this history.")
    sep_acc = _accuracy(sep, "separable", folder, dataset)
    target = max(base_acc, floor)
    if sep_acc <= target:
        why = (f"the base network's {base_acc:.4f} after its last epoch" if target == base_acc
               else f"the floor of {floor:.4f}")
        raise CheckFailed(name, f"the separable network reaches {sep_acc:.4f} on the {len(x):,} test "
                                f"images; it must beat {why}.",
                          "BatchNormalization after every separable layer, a wider last block, global "
                          "average pooling, and augmentation with a learning-rate schedule.")
    checks._passed(name, f"{sep_acc:.4f} against the base's {base_acc:.4f} after its last epoch "
                         f"(floor {floor:.2f})")
