"""``course rf MODEL`` and ``course params MODEL``: the analysis tables from the command line.

``MODEL`` is a saved ``.keras`` file or the name of a ``keras.applications``
model (``VGG16``, ``ResNet50``, ``MobileNet``, ``InceptionV3``, ...; any
capitalisation), built with ``weights=None`` so nothing is downloaded.

Examples::

    course rf VGG16
    course rf InceptionV3 --format markdown
    course rf ResNet50 --input-size 512 --no-top
    course params my_model.keras --format csv

A model that cannot be found or read gives a one-line error and exit code 2.
TensorFlow is imported only when a command runs, so ``course --help`` stays fast.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any, Callable

FORMATS = ("table", "markdown", "csv", "json")


class ModelError(Exception):
    """The MODEL argument cannot be turned into a model (exit code 2)."""


def parse_size(text: str) -> tuple[int, int]:
    """``"224"`` -> (224, 224); ``"480x640"`` -> (480, 640)."""
    parts = text.lower().replace(",", "x").split("x")
    try:
        values = [int(p) for p in parts]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected N or HxW (e.g. 224 or 480x640), got {text!r}") from None
    if len(values) == 1:
        values *= 2
    if len(values) != 2 or min(values) <= 0:
        raise argparse.ArgumentTypeError(f"expected N or HxW with positive sizes, got {text!r}")
    return (values[0], values[1])


def application_names() -> dict[str, str]:
    """``{lower-case name: keras.applications attribute}`` of the model constructors."""
    from keras import applications

    return {name.lower(): name for name in dir(applications)
            if name[:1].isupper() and callable(getattr(applications, name))}


def load_model(name: str, input_size: tuple[int, int] | None = None, include_top: bool = True) -> Any:
    """A Keras model from a ``.keras`` / ``.h5`` file or a ``keras.applications`` name."""
    path = Path(name)
    looks_like_file = path.suffix.lower() in (".keras", ".h5") or "/" in name or path.exists()
    if looks_like_file:
        if not path.is_file():
            raise ModelError(f"no such model file: {name}")
        import keras

        try:
            return keras.saving.load_model(path, compile=False)
        except Exception as exc:  # noqa: BLE001  (Keras raises many kinds; all mean "cannot read")
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ModelError(f"cannot load {name}: {first}") from None
    names = application_names()
    key = name.lower()
    if key not in names:
        close = [v for k, v in sorted(names.items()) if k.startswith(key[:3])] or sorted(names.values())
        raise ModelError(f"{name!r} is neither a model file nor a keras.applications model "
                         f"(did you mean one of: {', '.join(close[:8])}?)")
    import keras

    kwargs: dict[str, Any] = {"weights": None, "include_top": include_top}
    if input_size is not None:
        kwargs["input_shape"] = (*input_size, 3)
    try:
        return getattr(keras.applications, names[key])(**kwargs)
    except ValueError as exc:
        first = str(exc).strip().splitlines()[0]
        size = "" if input_size is None else f" at {input_size[0]}x{input_size[1]}"
        top = "" if include_top else " without its top"
        raise ModelError(f"cannot build {names[key]}{size}{top}: {first}") from None


def render(table: Any, fmt: str, footer: str = "") -> str:
    """A table as text (``table``), Markdown, CSV or JSON (a list of row objects)."""
    if fmt == "markdown":
        text = table.to_markdown(index=False)
        return text + (f"\n\n{footer}" if footer else "")
    if fmt == "csv":
        return table.to_csv(index=False).rstrip("\n")
    if fmt == "json":
        return json.dumps(json.loads(table.to_json(orient="records")), indent=1)
    shown = table.astype(object).where(table.notna(), "")
    text = shown.to_string(index=False)
    return text + (f"\n{footer}" if footer else "")


def _run(args: argparse.Namespace, build: Callable[[Any, Any], tuple[Any, str]]) -> int:
    try:
        model = load_model(args.model, args.input_size, include_top=not args.no_top)
        table, footer = build(model, args.input_size)
    except ModelError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except ValueError as exc:  # unknown layers, mismatched input sizes, ...
        print(f"error: {str(exc).splitlines()[0]}", file=sys.stderr)
        return 2
    try:
        print(render(table, args.format, footer))
        sys.stdout.flush()
    except BrokenPipeError:  # `course rf VGG16 | head`: the reader left, which is fine
        sys.stdout = open(os.devnull, "w")
    return 0


def _rf_table(model: Any, input_size: Any) -> tuple[Any, str]:
    import warnings

    from course_utils import receptive_field

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", receptive_field.AlignmentWarning)
        result = receptive_field.analyse(model, input_size)
        table = result.table()
    footer = "\n".join(f"warning: {w}" for w in result.warnings)
    return table, footer


def _params_table(model: Any, input_size: Any) -> tuple[Any, str]:
    from course_utils import params

    table = params.parameter_table(model, input_size)
    t = params.totals(table)
    macs = "unknown" if t["macs"] is None else f"{t['macs']:,}"
    footer = (f"total: {t['total']:,} parameters ({t['trainable']:,} trainable, "
              f"{t['non_trainable']:,} non-trainable); {macs} multiply-accumulates per example")
    return table, footer


#: name -> (table builder, one-line help, description)
COMMANDS: dict[str, tuple[Callable[[Any, Any], tuple[Any, str]], str, str]] = {
    "rf": (_rf_table, "receptive-field table of a model (n_out, jump, rf, start per layer)",
           "Print the receptive-field table of a Keras model: per layer the output size, jump, receptive "
           "field and start (centre of the first unit's receptive field)."),
    "params": (_params_table, "parameter table of a model (formula, trainable split, MACs per layer)",
               "Print the parameters of each layer of a Keras model with the formula behind them, the "
               "trainable / non-trainable split and the multiply-accumulates per example."),
}


def register(subparsers: Any) -> None:
    """Add the ``rf`` and ``params`` sub-commands to the ``course`` command."""
    for name, (build, help_text, description) in COMMANDS.items():
        p = subparsers.add_parser(name, help=help_text, description=description)
        p.add_argument("model", metavar="MODEL",
                       help="a saved .keras file or a keras.applications model name (VGG16, ResNet50, "
                            "InceptionV3, ...)")
        p.add_argument("--input-size", type=parse_size, default=None, metavar="N|HxW",
                       help="input size (default: the model's own); an application model is built at this size")
        p.add_argument("--no-top", action="store_true",
                       help="build an application model without its classifier (include_top=False)")
        p.add_argument("--format", choices=FORMATS, default="table", help="output format (default: table)")
        p.set_defaults(func=lambda args, build=build: _run(args, build))
