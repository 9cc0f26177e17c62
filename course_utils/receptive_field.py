"""Receptive fields: the per-layer table and its gradient measurement.

For every layer, along each axis (height and width are tracked separately):

* ``n_out``  the output length;
* ``jump``   the distance, in input pixels, between two neighbouring output units;
* ``rf``     the receptive-field size: how many input pixels one output unit sees;
* ``start``  the centre of the first output unit's receptive field, in input
  pixel coordinates (the first input pixel's centre is 0).

They follow the recurrences of the course notes, with ``k`` the effective
(dilated) kernel ``d*(k-1) + 1`` and ``p`` the padding TensorFlow really adds
before the input (for ``"same"`` it may differ from the padding after it)::

    n_out     = floor((n_in + p_before + p_after - k) / s) + 1
    jump_out  = jump_in * s
    rf_out    = rf_in + (k - 1) * jump_in
    start_out = start_in + ((k - 1)/2 - p_before) * jump_in

Output unit ``o`` then sees the input pixels whose centres lie in
``start + o*jump +- (rf - 1)/2`` (see :meth:`RFAnalysis.box`), parts of which
may be padding.

Other layers:

* transposed convolution with stride ``s`` = a convolution with stride ``1/s``:
  ``jump_out = jump_in / s``, ``rf_out = rf_in + (k - 1) * jump_out`` and
  ``start_out = start_in + (p_before - (k - 1)/2) * jump_out``, where
  ``p_before`` is the padding of the convolution it inverts. Jumps and starts
  may then be fractions. Along an axis, output units of a transposed
  convolution are not all alike (some receive ``ceil(k/s)`` input units, some
  fewer): ``rf`` is the width of the box that contains every unit's receptive
  field, centred on the unit. It is an upper bound, reached by the fullest
  units when ``s`` divides the extent ``(k - 1) + (k' - 1) + ...`` that this
  and the following layers span on the fine grid (the tests check both).
* ``UpSampling2D`` by ``f``: ``jump_out = jump_in / f``, output unit ``o``
  centred on the input coordinate ``(o + 1/2)/f - 1/2``; nearest-neighbour
  copies one unit (``rf`` grows by ``(f - 1) * jump_out`` for the enclosing
  box), bilinear mixes two (as the ``2f - f%2`` kernel of FCN).
* ``ZeroPadding2D`` / ``Cropping2D`` move ``start`` and leave ``jump`` and ``rf``.
* Global pooling, Flatten, Dense on vectors, and anything after them: every
  unit sees the whole input (``rf`` = the input size, ``start`` its centre,
  ``jump`` undefined).
* Merges (Add, Concatenate, Multiply, ...): a unit sees the union of what its
  inputs see. When all paths have the same jump this union is exact
  (``rf`` = the largest RF when the paths are centred alike); when the paths'
  jumps differ the table keeps the path with the largest RF. Both cases of
  misalignment raise an :class:`AlignmentWarning`.

Near the borders part of a unit's receptive field is zero padding;
:meth:`RFAnalysis.valid_units` gives the range of units that see real pixels
only.

Entry points: :func:`receptive_field_table` (a pandas DataFrame),
:func:`analyse` (the :class:`RFAnalysis` behind it, with :meth:`RFAnalysis.box`
for the pixels one unit sees), :func:`layer_annotations` (per-layer comments
for Assignment 3) and :func:`empirical_receptive_field` /
:class:`GradientProbe`, which measure the same thing with a gradient,
independently of these formulas.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, replace
from fractions import Fraction
from typing import Any

from course_utils import spec as specs
from course_utils.spec import LayerSpec, Network

__all__ = [
    "AlignmentWarning",
    "AxisField",
    "EmpiricalRF",
    "Field",
    "GradientProbe",
    "RFAnalysis",
    "analyse",
    "empirical_receptive_field",
    "layer_annotations",
    "mean_effective_gradient",
    "receptive_field_table",
    "to_html",
    "to_markdown",
]

Number = Fraction | int


class AlignmentWarning(UserWarning):
    """Paths merged by a layer do not see the input on the same grid."""


@dataclass(frozen=True)
class AxisField:
    """Receptive-field state of one layer along one axis (``None``: unknown).

    ``valid`` = ``(first, last)``: the output units whose computation never
    touched padding (or pixels dropped by cropping or by a strided "valid"
    layer), i.e. whose receptive field is made of real pixels only. ``None``
    when there is no such unit or it cannot be told (after transposed or
    bilinear up-sampling layers).
    """

    n: int | None
    jump: Fraction | None
    rf: Fraction | None
    start: Fraction | None
    valid: tuple[int, int] | None = None


@dataclass(frozen=True)
class Field:
    """Receptive-field state of one layer: height axis, width axis, and whether it sees everything."""

    h: AxisField
    w: AxisField
    whole: bool = False

    def axis(self, i: int) -> AxisField:
        return self.h if i == 0 else self.w


# ============================================================================ the recurrences
def _clean(first: int | None, last: int | None, n_out: int | None) -> tuple[int, int] | None:
    """The interval of padding-free units, cut to the output (``None`` if empty or unknown)."""
    if first is None or last is None or n_out is None:
        return None
    first, last = max(first, 0), min(last, n_out - 1)
    return (first, last) if first <= last else None


def _window(spec: LayerSpec, axis: int, a: AxisField, n_out: int | None) -> AxisField:
    """Convolution / pooling (any dilation): the course's four recurrences."""
    k = spec.effective_kernel[axis]
    s = spec.stride[axis]
    before = spec.padding_before(axis, a.n)
    start = None if (a.start is None or before is None) else a.start + (Fraction(k - 1, 2) - before) * a.jump
    valid = None
    if a.valid is not None and before is not None:
        # unit o reads input units o*s - before ... o*s - before + k - 1: all of them must be clean
        valid = _clean(-(-(a.valid[0] + before) // s), (a.valid[1] + before - k + 1) // s, n_out)
    return AxisField(n_out, a.jump * s, a.rf + (k - 1) * a.jump, start, valid)


def _transposed(spec: LayerSpec, axis: int, a: AxisField, n_out: int | None) -> AxisField:
    """Transposed convolution = convolution with stride 1/s (see the module docstring)."""
    k = spec.effective_kernel[axis]
    jump = a.jump / spec.stride[axis]
    before = spec.padding_before(axis, a.n, n_out)
    start = None if (a.start is None or before is None) else a.start + (before - Fraction(k - 1, 2)) * jump
    return AxisField(n_out, jump, a.rf + (k - 1) * jump, start)


def _upsample(spec: LayerSpec, axis: int, a: AxisField, n_out: int | None) -> AxisField:
    f = spec.stride[axis]
    jump = a.jump / f
    span = f - 1 if spec.interpolation == "nearest" else 2 * f - f % 2 - 1
    start = None if a.start is None else a.start + a.jump * (Fraction(1, f) - 1) / 2
    valid = None
    if a.valid is not None and spec.interpolation == "nearest":  # unit o copies unit o // f
        valid = _clean(a.valid[0] * f, a.valid[1] * f + f - 1, n_out)
    return AxisField(n_out, jump, a.rf + span * jump, start, valid)


def _shift(spec: LayerSpec, axis: int, a: AxisField, n_out: int | None) -> AxisField:
    """ZeroPadding2D moves the first unit back by ``before`` units, Cropping2D forward."""
    before = spec.padding[axis][0]  # type: ignore[index]
    sign = -1 if spec.kind == "pad" else 1
    start = None if a.start is None else a.start + sign * before * a.jump
    valid = None if a.valid is None else _clean(a.valid[0] - sign * before, a.valid[1] - sign * before, n_out)
    return AxisField(n_out, a.jump, a.rf, start, valid)


def _same(spec: LayerSpec, axis: int, a: AxisField, n_out: int | None) -> AxisField:
    return AxisField(n_out, a.jump, a.rf, a.start, a.valid)


_RULES = {
    "conv": _window, "depthwise": _window, "separable": _window, "pool": _window,
    "transposed": _transposed, "upsample": _upsample, "pad": _shift, "crop": _shift,
    "batchnorm": _same, "neutral": _same, "dense": _same,
}


def _whole(out_hw: tuple[int | None, int | None], image: tuple[int | None, int | None]) -> Field:
    def axis(i: int) -> AxisField:
        size = image[i]
        return AxisField(out_hw[i], None, None if size is None else Fraction(size),
                         None if size is None else Fraction(size - 1, 2))
    return Field(axis(0), axis(1), whole=True)


def _merge(spec: LayerSpec, inputs: list[Field], names: list[str], warn: list[str]) -> Field:
    """Union of the inputs' receptive fields (see the module docstring)."""
    if any(f.whole for f in inputs):
        return next(f for f in inputs if f.whole)  # already sees everything
    axes = []
    for i, axis_name in ((0, "height"), (1, "width")):
        fs = [f.axis(i) for f in inputs]
        jumps = {a.jump for a in fs}
        starts = {a.start for a in fs}
        if len(jumps) > 1:
            best = max(range(len(fs)), key=lambda j: fs[j].rf)
            warn.append(f"{spec.name}: the merged paths have different jumps along the {axis_name} "
                        f"({_paths(names, [a.jump for a in fs])}); the row shows the path through "
                        f"{names[best]!r}, which has the largest RF")
            axes.append(fs[best])
            continue
        if None in starts:
            axes.append(AxisField(fs[0].n, fs[0].jump, max(a.rf for a in fs), None))
            continue
        if len(starts) > 1:
            warn.append(f"{spec.name}: the merged paths are not centred alike along the {axis_name} "
                        f"(start {_paths(names, [a.start for a in fs])}); the row shows the union of their "
                        f"receptive fields")
        lo = min(a.start - (a.rf - 1) / 2 for a in fs)
        hi = max(a.start + (a.rf - 1) / 2 for a in fs)
        valid = None if any(a.valid is None for a in fs) else \
            _clean(max(a.valid[0] for a in fs), min(a.valid[1] for a in fs), fs[0].n)
        axes.append(AxisField(fs[0].n, fs[0].jump, hi - lo + 1, (lo + hi) / 2, valid))
    return Field(axes[0], axes[1])


def _paths(names: list[str], values: list[Any]) -> str:
    return ", ".join(f"{n}: {_plain(v)}" for n, v in zip(names, values))


class RFAnalysis:
    """Receptive fields of every layer of a network (build it with :func:`analyse`)."""

    def __init__(self, network: Network):
        self.network = network
        self.fields: dict[str, Field] = {}
        self.warnings: list[str] = []
        inputs = network.inputs
        image = inputs[0].out_hw if inputs else (None, None)
        for spec in network:
            if spec.kind == "input":
                self.fields[spec.name] = Field(*(AxisField(n, Fraction(1), Fraction(1), Fraction(0),
                                                           None if n is None else (0, n - 1))
                                                 for n in spec.out_hw))
                continue
            srcs = [self.fields[n] for n in spec.inputs]
            out_hw = spec.out_hw if spec.spatial else (None, None)
            if spec.kind == "merge":
                merged = _merge(spec, srcs, list(spec.inputs), self.warnings)
                field = merged if merged.whole else Field(
                    *(replace(merged.axis(i), n=out_hw[i]) for i in (0, 1)))
            elif srcs[0].whole or spec.kind in specs.GLOBAL_KINDS or not network[spec.inputs[0]].spatial \
                    or (spec.kind == "dense" and not spec.spatial):
                field = _whole(out_hw, image)
            else:
                rule = _RULES[spec.kind]
                field = Field(*(rule(spec, i, srcs[0].axis(i), out_hw[i]) for i in (0, 1)))
            self.fields[spec.name] = field
        for message in self.warnings:
            warnings.warn(message, AlignmentWarning, stacklevel=3)

    def __getitem__(self, layer: str) -> Field:
        try:
            return self.fields[layer]
        except KeyError:
            raise KeyError(f"no layer named {layer!r}; layers: {', '.join(self.fields)}") from None

    @property
    def last(self) -> str:
        """Name of the last layer (the network's output for a chain)."""
        return self.network.layers[-1].name

    def box(self, layer: str | None = None, unit: tuple[int, int] | None = None,
            clip: bool = False) -> tuple[Number, Number, Number, Number]:
        """``(top, left, bottom, right)`` centres of the input pixels seen by output ``unit`` of ``layer``.

        ``unit`` defaults to the central unit ``((n_h - 1)//2, (n_w - 1)//2)``.
        With ``clip=True`` the box is cut to the input image (what a gradient
        measurement can see); otherwise it may reach into the padding.
        """
        f = self[layer or self.last]
        image = self.network.inputs[0].out_hw
        lo_hi = []
        for i in (0, 1):
            a = f.axis(i)
            if a.rf is None or a.start is None:
                raise ValueError(f"the receptive field of {layer or self.last!r} is not known: pass input_size")
            if f.whole:
                lo, hi = Fraction(0), a.rf - 1
            else:
                if a.n is None and unit is None:
                    raise ValueError("pass unit=(row, col): the output size is not known")
                o = (a.n - 1) // 2 if unit is None else unit[i]
                centre = a.start + o * a.jump
                lo, hi = centre - (a.rf - 1) / 2, centre + (a.rf - 1) / 2
            if clip and image[i] is not None:
                lo, hi = max(lo, Fraction(0)), min(hi, Fraction(image[i] - 1))
            lo_hi.append((lo, hi))
        (top, bottom), (left, right) = lo_hi
        return tuple(_plain(v) for v in (top, left, bottom, right))  # type: ignore[return-value]

    def valid_units(self, layer: str | None = None) -> tuple[tuple[int, int] | None, tuple[int, int] | None]:
        """``((first_row, last_row), (first_col, last_col))`` of the units of ``layer`` that see no padding.

        Outside this range the borders of the image matter: part of the unit's
        receptive field is zero padding. ``None`` for an axis without such units.
        """
        f = self[layer or self.last]
        return (f.h.valid, f.w.valid)

    def table(self, axes: str = "auto") -> Any:
        """The table as a pandas DataFrame (see :func:`receptive_field_table`)."""
        import pandas as pd

        if axes not in ("auto", "both", "h", "w"):
            raise ValueError("axes must be 'auto', 'both', 'h' or 'w'")
        rows = [(spec, self.fields[spec.name]) for spec in self.network]
        quantities = (("n_out", "n"), ("jump", "jump"), ("rf", "rf"), ("start", "start"))
        split = {attr: axes == "both" or (axes == "auto" and any(getattr(f.h, attr) != getattr(f.w, attr)
                                                                 for _, f in rows))
                 for _, attr in quantities}
        pick = 1 if axes == "w" else 0
        chain = self.network.is_chain()
        records = []
        for spec, f in rows:
            rec: dict[str, Any] = {"layer": spec.name, "type": spec.type or spec.kind}
            if not chain:
                rec["inputs"] = ", ".join(spec.inputs)
            rec.update(spec.describe())
            for col, attr in quantities:
                if split[attr]:
                    rec[f"{col}_h"] = _plain(getattr(f.h, attr))
                    rec[f"{col}_w"] = _plain(getattr(f.w, attr))
                else:
                    rec[col] = _plain(getattr(f.axis(pick), attr))
                if col == "n_out":
                    rec["channels"] = spec.channels
            records.append(rec)
        df = pd.DataFrame.from_records(records)
        if all(spec.channels is None for spec, _ in rows):
            df = df.drop(columns="channels")
        for col in df.columns:
            if col not in ("layer", "type", "inputs", "kernel", "stride", "dilation", "padding"):
                df[col] = _tidy_column(df[col])
        df.attrs["warnings"] = list(self.warnings)
        df.attrs["network"] = self.network.name
        return df


def _plain(v: Any) -> Any:
    """Fractions as ints when whole, floats otherwise (``None`` stays ``None``)."""
    if isinstance(v, Fraction):
        return int(v) if v.denominator == 1 else float(v)
    return v


def _tidy_column(col: Any) -> Any:
    """Integer dtype when every value is a whole number (nullable Int64 with gaps), floats otherwise."""
    import pandas as pd

    values = [v for v in col if v is not None and not (isinstance(v, float) and v != v)]
    if all(isinstance(v, int) or float(v).is_integer() for v in values):
        return pd.array([None if (v is None or (isinstance(v, float) and v != v)) else int(v) for v in col],
                        dtype="Int64" if len(values) < len(col) else "int64")
    return pd.to_numeric(col, errors="coerce").astype(float)


# ============================================================================ public API
def analyse(model_or_layers: Any, input_size: int | tuple[int, int] | None = None) -> RFAnalysis:
    """Receptive fields of a Keras model or a teaching list (see :func:`course_utils.spec.as_network`)."""
    return RFAnalysis(specs.as_network(model_or_layers, input_size))


def receptive_field_table(model_or_layers: Any, input_size: int | tuple[int, int] | None = None,
                          axes: str = "auto") -> Any:
    """One row per layer (input first): ``layer, type, kernel, stride, dilation, padding, n_out,
    channels, jump, rf, start`` (plus ``inputs`` for multi-path networks).

    Square networks get one plain column per quantity. A quantity that differs
    between height and width on some layer (non-square input or kernels) gets a
    column per axis instead (``n_out_h``, ``n_out_w``, ...); ``axes="h"`` or
    ``"w"`` shows one axis only, ``"both"`` always splits. Warnings about
    misaligned paths are in ``table.attrs["warnings"]``. ``channels`` is left
    out for lists written without filters.

    >>> receptive_field_table(["conv3", "conv3", "pool2", "conv3"], input_size=10)["rf"].tolist()
    [1, 3, 5, 6, 10]
    """
    return analyse(model_or_layers, input_size).table(axes)


def to_markdown(table: Any) -> str:
    """A table (from :func:`receptive_field_table` or :func:`course_utils.params.parameter_table`) as Markdown."""
    return table.to_markdown(index=False)


def to_html(table: Any) -> str:
    """A table as an HTML fragment (notebooks display DataFrames directly; this is for reports)."""
    return table.to_html(index=False, na_rep="")


def layer_annotations(model_or_layers: Any, input_size: int | tuple[int, int] | None = None) -> dict[str, str]:
    """``{layer: "output 26x26x32, RF 5x5"}``: the per-layer comments Assignment 3 asks for."""
    result = analyse(model_or_layers, input_size)
    notes = {}
    for spec in result.network:
        f = result.fields[spec.name]
        if spec.spatial and None not in spec.out_hw:
            shape = f"{spec.out_hw[0]}x{spec.out_hw[1]}" + (f"x{spec.channels}" if spec.channels else "")
        else:
            shape = str(spec.channels) if spec.channels else "?"
        rf = "whole input" if f.whole else (
            "?" if f.h.rf is None else f"{_plain(f.h.rf)}x{_plain(f.w.rf)}")
        notes[spec.name] = f"output {shape}, RF {rf}"
    return notes


# ============================================================================ gradient measurement
# (in course_utils.rf_probe; the names stay importable from here)
from course_utils.rf_probe import (  # noqa: E402
    EmpiricalRF,
    GradientProbe,
    empirical_receptive_field,
    mean_effective_gradient,
)
