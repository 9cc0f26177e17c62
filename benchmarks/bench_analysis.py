"""Speed and accuracy of the receptive-field and parameter tables (issue 3).

Speed, on the Keras applications built with ``weights=None`` (already built, as
a notebook has them):

* ``receptive_field_table(model)`` and ``parameter_table(model)``: the best and
  the median of ``--repeats`` calls (target for InceptionV3: under 1 s each);
* ``course rf InceptionV3`` end to end in a fresh process (Python start,
  TensorFlow import, building the model, the table, printing): the best and
  median of ``--cli-runs`` runs (target: under 20 s).

Accuracy, per application: the receptive field, jump and start of the last
feature layer, each checked against the gradient measurement
(:class:`course_utils.receptive_field.GradientProbe`) on the same architecture
built taller by a multiple of its total stride, so that its whole receptive
field fits in the image; and the parameter total against ``model.count_params()``.

    python benchmarks/bench_analysis.py            # prints and writes results/analysis.md
    python benchmarks/bench_analysis.py --quick    # InceptionV3 only, no measurement, no file
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import course_utils  # noqa: F401  (quiet TensorFlow before importing it)
from course_utils import params, receptive_field
from results_file import write_results

RESULTS = Path(__file__).parent / "results" / "analysis.md"
APPLICATIONS = ["VGG16", "VGG19", "ResNet50", "ResNet101", "MobileNet", "InceptionV3"]
TARGET_TABLE_S = 1.0
TARGET_CLI_S = 20.0


def timed(fn, repeats: int) -> tuple[float, float]:
    """Best and median wall time of ``repeats`` calls of ``fn``."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times), statistics.median(times)


def time_cli(runs: int) -> tuple[float, float]:
    def once() -> None:
        done = subprocess.run([sys.executable, "-m", "course_utils.cli", "rf", "InceptionV3"],
                              capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"course rf InceptionV3 failed:\n{done.stderr}")
    return timed(once, runs)


def last_feature_layer(analysis: receptive_field.RFAnalysis) -> str:
    return [s.name for s in analysis.network if s.spatial and not analysis.fields[s.name].whole][-1]


def measure(keras, name: str, analysis: receptive_field.RFAnalysis) -> dict[str, object]:
    """Measure rf, jump and start of the last feature layer along the height of a taller build."""
    layer = last_feature_layer(analysis)
    field = analysis[layer].h
    size = analysis.network.input_size
    jump = int(field.jump)
    taller = size[0] + jump * math.ceil((float(field.rf) + 2 * jump - size[0]) / jump)
    start = time.perf_counter()
    big = getattr(keras.applications, name)(weights=None, include_top=False, input_shape=(taller, size[1], 3))
    probe = receptive_field.GradientProbe(big, layer)
    first = math.ceil(float(((field.rf - 1) / 2 - field.start) / field.jump))
    boxes = [probe.measure((o, 0)).bbox for o in (first, first + 1)]
    sizes = {bottom - top + 1 for top, _, bottom, _ in boxes}
    centres = [(top + bottom) / 2 for top, _, bottom, _ in boxes]
    return {
        "height": taller,
        "rf": sizes.pop() if len(sizes) == 1 else sorted(sizes),
        "jump": centres[1] - centres[0],
        "start": centres[0] - first * (centres[1] - centres[0]),
        "seconds": time.perf_counter() - start,
    }


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            names = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name")]
        return f"{names[0]} ({len(names)} logical CPUs)" if names else platform.machine()
    except OSError:
        return platform.machine()


def number(v) -> str:
    v = float(v)
    return str(int(v)) if v.is_integer() else f"{v:g}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=7, help="calls per table timing (default 7)")
    parser.add_argument("--cli-runs", type=int, default=3, help="end-to-end runs of `course rf` (default 3)")
    parser.add_argument("--quick", action="store_true", help="InceptionV3 only, no measurement, no file")
    args = parser.parse_args()

    import keras

    names = ["InceptionV3"] if args.quick else APPLICATIONS
    load_before = os.getloadavg()[0]
    rows = []
    for name in names:
        model = getattr(keras.applications, name)(weights=None)
        rf_best, rf_median = timed(lambda: receptive_field.receptive_field_table(model), args.repeats)
        p_best, p_median = timed(lambda: params.parameter_table(model), args.repeats)
        analysis = receptive_field.analyse(model)
        layer = last_feature_layer(analysis)
        field = analysis[layer]
        row = {
            "name": name, "size": analysis.network.input_size, "layers": len(analysis.network), "layer": layer,
            "rf": field.h.rf, "jump": field.h.jump, "start": field.h.start,
            "square": (field.h.rf, field.h.jump, field.h.start) == (field.w.rf, field.w.jump, field.w.start),
            "params": params.totals(params.parameter_table(model))["total"], "keras": model.count_params(),
            "macs": params.totals(params.parameter_table(model))["macs"],
            "rf_time": (rf_best, rf_median), "params_time": (p_best, p_median),
        }
        if not args.quick:
            row["measured"] = measure(keras, name, analysis)
        rows.append(row)
        print(f"{name}: rf table {rf_median * 1000:.1f} ms, parameter table {p_median * 1000:.1f} ms "
              f"(median of {args.repeats})", flush=True)
    cli_best, cli_median = time_cli(args.cli_runs)
    print(f"course rf InceptionV3: best {cli_best:.1f} s, median {cli_median:.1f} s of {args.cli_runs} runs")

    lines = [
        "# Receptive-field and parameter tables: speed and accuracy",
        "",
        "Written by `python benchmarks/bench_analysis.py` (see its docstring for the method).",
        "",
        f"- machine: {cpu_name()}, Python {platform.python_version()}, Keras {keras.__version__}",
        f"- load average (1 min) before / after the run: {load_before:.1f} / {os.getloadavg()[0]:.1f} "
        "(the machine is shared: timings under load are upper bounds)",
        "",
        "## Speed",
        "",
        f"Models already built (`weights=None`); best / median of {args.repeats} calls. "
        f"Target for InceptionV3: under {TARGET_TABLE_S:g} s each.",
        "",
        "| model | layers | `receptive_field_table` | `parameter_table` |",
        "|---|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(f"| {r['name']} | {r['layers']} | {r['rf_time'][0] * 1000:.1f} / {r['rf_time'][1] * 1000:.1f} ms"
                     f" | {r['params_time'][0] * 1000:.1f} / {r['params_time'][1] * 1000:.1f} ms |")
    inception = next(r for r in rows if r["name"] == "InceptionV3")
    ok_tables = max(inception["rf_time"][1], inception["params_time"][1]) < TARGET_TABLE_S
    ok_cli = cli_median < TARGET_CLI_S
    lines += [
        "",
        f"`course rf InceptionV3` end to end (fresh process: TensorFlow import, building the model, table): "
        f"best {cli_best:.1f} s, median {cli_median:.1f} s of {args.cli_runs} runs. "
        f"Target: under {TARGET_CLI_S:g} s.",
        "",
        f"Targets met: tables {'yes' if ok_tables else 'NO'}, command {'yes' if ok_cli else 'NO'}.",
        "",
        "## Accuracy",
        "",
        "Last feature layer at the default input size, from the table (`rf`, `jump`, `start` along the "
        "height; the width is the same for all six). *Measured*: the gradient of two neighbouring units of "
        "that layer in a positive linear copy of the same architecture built taller (`height`), whose whole "
        "receptive field then lies inside the image: their box size, the distance between their centres, "
        "and the first unit's centre extrapolated back from them.",
        "",
        "| model | input | layer | rf | jump | start | measured rf / jump / start (height) | parameters | "
        "`count_params()` | MACs per example |",
        "|---|---|---|---:|---:|---:|---|---:|---:|---:|",
    ]
    for r in rows:
        m = r.get("measured")
        measured = "not run (--quick)" if m is None else \
            f"{number(m['rf'])} / {number(m['jump'])} / {number(m['start'])} ({m['height']}, {m['seconds']:.1f} s)"
        lines.append(
            f"| {r['name']} | {r['size'][0]}x{r['size'][1]} | `{r['layer']}` | {number(r['rf'])} | "
            f"{number(r['jump'])} | {number(r['start'])} | {measured} | {r['params']:,} | {r['keras']:,} | "
            f"{r['macs']:,} |")
    agree = all(r["params"] == r["keras"] for r in rows) and all(r["square"] for r in rows) and all(
        r.get("measured") is None or (r["measured"]["rf"] == r["rf"] and r["measured"]["jump"] == r["jump"]
                                      and r["measured"]["start"] == r["start"]) for r in rows)
    lines += ["", f"Table, measurement and Keras agree on every row: {'yes' if agree else 'NO'}.", ""]
    text = "\n".join(lines)
    print(text)
    if not args.quick:
        write_results(RESULTS, text)


if __name__ == "__main__":
    main()
