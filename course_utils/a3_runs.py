"""Assignment A3's saved runs: training, the two files of a run, and grading detection.

A *run* is two files next to the notebook:

``<name>.weights.h5``     the weights of the epoch with the best validation accuracy (the
                          separable network), or after the last epoch (``keep="last"``: the
                          base network, judged as Part 1 poses it)
``<name>_history.json``   ``{"dataset", "input_shape", "epochs", "params", "history": {...}}``

:func:`train_or_load` loads a saved run when its files exist (so re-running the
notebook, and grading it, never trains again) and trains (:func:`train`) and saves one
otherwise; under nbgrader (:func:`autograding`) a missing run is an error. The networks
themselves are in :mod:`course_utils.a3_models`, which re-exports these names.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from course_utils import training

__all__ = ["Run", "TRAINED_HERE", "autograding", "compile_model", "history_path", "load_history", "save_run",
           "one_cycle_schedule", "report", "train", "train_or_load", "weights_path"]


def _keras():
    import keras

    return keras


def compile_model(model, learning_rate: float = 1e-3) -> None:
    """Adam and cross-entropy on the model's softmax output (:func:`training.compile_classifier`)."""
    training.compile_classifier(model, learning_rate, from_logits=False)


def weights_path(name: str, folder: str | Path = ".") -> Path:
    return Path(folder) / f"{name}.weights.h5"


def history_path(name: str, folder: str | Path = ".") -> Path:
    return Path(folder) / f"{name}_history.json"


@dataclass
class Run:
    """A trained (or loaded) run: its model with the best epoch's weights, and its history."""

    name: str
    model: Any
    record: dict
    loaded: bool = False

    @property
    def history(self) -> dict[str, list[float]]:
        return self.record["history"]

    @property
    def epochs(self) -> int:
        return len(self.history.get("val_accuracy", []))

    @property
    def best_val_accuracy(self) -> float:
        return max(self.history["val_accuracy"])

    @property
    def final_val_accuracy(self) -> float:
        return self.history["val_accuracy"][-1]

    def summary(self) -> str:
        how = "loaded from the saved run" if self.loaded else "trained now"
        return (f"{self.name} on {self.record['dataset']} ({how}): {self.epochs} epoch(s), "
                f"{self.record['params']:,} parameters, validation accuracy after the last epoch "
                f"{self.final_val_accuracy:.4f}, best {self.best_val_accuracy:.4f}")


#: Names of the runs trained (not loaded) in this process: a graded notebook whose run
#: had to be trained while grading did not submit it.
TRAINED_HERE: set[str] = set()


def autograding() -> bool:
    """True when nbgrader executes the notebook (it sets ``NBGRADER_EXECUTION``)."""
    return bool(os.environ.get("NBGRADER_EXECUTION"))


def save_run(name: str, model, history: dict[str, list[float]], dataset: str,
             folder: str | Path = ".", seconds_per_epoch: float | None = None) -> dict:
    """Write ``<name>_history.json`` (the weights are written by :func:`train`)."""
    record = {
        "name": name,
        "dataset": dataset,
        "input_shape": [int(d) for d in model.input_shape[1:]],
        "params": int(model.count_params()),
        "epochs": len(history.get("val_accuracy", [])),
        "seconds_per_epoch": seconds_per_epoch,
        "history": {k: [float(v) for v in vs] for k, vs in history.items()},
    }
    history_path(name, folder).write_text(json.dumps(record, indent=1) + "\n")
    return record


def load_history(name: str, folder: str | Path = ".") -> dict:
    return json.loads(history_path(name, folder).read_text())


def _augmenter():
    """Random shifts of up to 1/8 of the image and horizontal flips (training only)."""
    keras = _keras()
    L = keras.layers
    return keras.Sequential([L.RandomTranslation(0.125, 0.125, fill_mode="constant"),
                             L.RandomFlip("horizontal")], name="augment")


def one_cycle_schedule(peak: float, epochs: int) -> Callable[[int], float]:
    """Learning rate per epoch: linear warm-up from ``peak / 10`` for 30 % of the epochs, then
    linear decay to ``peak / 50``."""
    warm = max(1, round(0.3 * epochs))

    def rate(epoch: int) -> float:
        if epoch < warm:
            return peak * (0.1 + 0.9 * epoch / warm)
        return peak * max(0.02, 1 - (epoch - warm) / max(1, epochs - warm))

    return rate


def train(model, train_data, val_data, epochs: int, batch_size: int = 128, *, name: str,
          folder: str | Path = ".", augment: bool = False, one_cycle: float | None = None,
          keep: str = "best", verbose: int = 2) -> tuple[dict[str, list[float]], float]:
    """Fit ``model`` (:func:`training.fit`) and save its weights in ``<name>.weights.h5`` (and
    keep them in the model): those of the best validation epoch (``keep="best"``) or those
    after the last epoch (``keep="last"``). ``augment``: random shifts and horizontal flips
    of the training images. ``one_cycle``: peak learning rate of :func:`one_cycle_schedule`;
    ``None`` keeps Adam's 1e-3. Returns the history and the mean seconds per epoch."""
    if keep not in ("best", "last"):
        raise ValueError(f"keep must be 'best' or 'last', not {keep!r}")
    path = weights_path(name, folder)
    fit = training.fit(model, train_data, val_data, epochs=epochs, batch_size=batch_size,
                       augment=_augmenter() if augment else None,
                       schedule=one_cycle_schedule(one_cycle, epochs) if one_cycle else None,
                       best_weights=path if keep == "best" else None, verbose=verbose)
    if keep == "last":
        model.save_weights(str(path))
    return fit.history, fit.seconds / max(1, epochs)


def train_or_load(name: str, build: Callable[[tuple], Any], train_data, val_data, budget, dataset: str,
                  folder: str | Path = ".", **train_options) -> Run:
    """The run ``name``: loaded when ``<name>.weights.h5`` and ``<name>_history.json``
    exist (delete them to train again), trained with ``budget`` and saved otherwise.
    Under nbgrader (``NBGRADER_EXECUTION``) a missing run is an error, never a training."""
    input_shape = tuple(train_data[0].shape[1:])
    model = build(input_shape)
    if not getattr(model, "compiled", False):
        compile_model(model)
    w, h = weights_path(name, folder), history_path(name, folder)
    if w.exists() and h.exists():
        model.load_weights(str(w))
        return Run(name, model, load_history(name, folder), loaded=True)
    if autograding():
        raise FileNotFoundError(f"the saved run {w.name} / {h.name} is missing: submit both files with the notebook")
    history, seconds = train(model, train_data, val_data, budget.epochs, budget.batch_size, name=name,
                             folder=folder, **train_options)
    record = save_run(name, model, history, dataset, folder, seconds)
    TRAINED_HERE.add(name)
    return Run(name, model, record)


def report(base: Run, separable: Run, layer_table: dict | None = None) -> str:
    """The summary Assignment 3 asks for at the end: the base network's validation accuracy
    after its last epoch; the separable network's definition (Keras' summary of it) with the
    output size, output channels and receptive field of each layer as ``layer_table`` (the
    student's own table) states them; and the logs of both runs, epoch by epoch."""
    lines = [f"Base network ({base.record['dataset']}): validation accuracy after its last epoch "
             f"(epoch {base.epochs}): {base.final_val_accuracy:.4f}"]
    accs = separable.history["val_accuracy"]
    best = max(range(len(accs)), key=accs.__getitem__)
    lines += [f"Separable network: best validation accuracy {accs[best]:.4f} at epoch {best + 1} of "
              f"{separable.epochs}, {separable.record['params']:,} parameters", "", "Definition:"]
    separable.model.summary(print_fn=lambda line, *args, **kwargs: lines.append(line))
    lines += ["", "Output size, output channels and receptive field (your layer_table, 32x32x3 input):",
              f"  {'layer':14s} {'size':>5s} {'channels':>9s} {'rf':>4s}"]
    for layer, row in (layer_table or {}).items():
        cells = [str(v) for v in (row if isinstance(row, (tuple, list)) else (row,))]
        lines.append(f"  {str(layer):14s} " + " ".join(f"{c:>{w}s}" for c, w in zip(cells, (5, 9, 4))))
    if not layer_table:
        lines.append("  (no table yet)")
    keys = ("loss", "accuracy", "val_loss", "val_accuracy")
    lines += ["", "Logs (each run's history, epoch by epoch):",
              f"  {'':5s}  {'base':^51s}  {'separable':^51s}",
              f"  {'epoch':>5s}  " + "  ".join(" ".join(f"{k:>12s}" for k in keys) for _ in range(2))]
    for epoch in range(max(base.epochs, separable.epochs)):
        cells = []
        for run in (base, separable):
            values = [run.history.get(k, []) for k in keys]
            cells.append(" ".join(f"{v[epoch]:>12.4f}" if epoch < len(v) else " " * 12 for v in values))
        lines.append(f"  {epoch + 1:>5d}  " + "  ".join(cells))
    return "\n".join(lines)
