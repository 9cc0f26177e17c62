"""Speed of the numpy layers of ``course_utils.ops`` against TensorFlow on the CPU.

Every row times one forward + backward pass, ours and TensorFlow's, in the same
process on the same float32 data: the best of ``--repeats`` runs after a warm-up
run, the two sides taking turns. TensorFlow's reference is the op plus ``GradientTape.gradient`` with
respect to the same inputs, results fetched as numpy arrays, run eagerly (the
way a notebook calls it) and compiled by ``tf.function`` (its fastest CPU path).

    python benchmarks/bench_ops.py            # prints both tables and writes results/ops.md
    python benchmarks/bench_ops.py --quick    # fewer repeats, no file

Targets (issue 4): vectorised convolution, max pooling and batch normalisation
forward + backward at most 3x TensorFlow's time.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import course_utils  # noqa: F401  (quiet TensorFlow before importing it)
import numpy as np

from course_utils import ops
from results_file import write_results

RESULTS = Path(__file__).parent / "results" / "ops.md"
TARGET = 3.0


def best_times(functions: list[Callable[[], object]], repeats: int) -> list[float]:
    """Best wall-clock time of each function in seconds, after one warm-up call each.

    The functions take turns (ours, TensorFlow, ours, ...) so that a burst of
    load from other processes hits both sides of a ratio alike.
    """
    for fn in functions:
        fn()
    best = [float("inf")] * len(functions)
    for _ in range(repeats):
        for k, fn in enumerate(functions):
            start = time.perf_counter()
            fn()
            best[k] = min(best[k], time.perf_counter() - start)
    return best


@dataclass
class Row:
    layer: str
    shape: str
    ours: float
    reference: float
    reference_name: str
    target: float | None

    @property
    def ratio(self) -> float:
        return self.ours / self.reference

    def markdown(self) -> str:
        verdict = "" if self.target is None else ("yes" if self.ratio <= self.target else "**no**")
        target = "" if self.target is None else f"<= {self.target:g}x"
        return (
            f"| {self.layer} | {self.shape} | {self.ours * 1e3:.2f} | {self.reference * 1e3:.2f} "
            f"({self.reference_name}) | {self.ratio:.2f} | {target} | {verdict} |"
        )


def tf_runner(tf, fn, inputs, dout, use_function: bool):
    """A callable running ``fn`` forward and its gradient w.r.t. ``inputs`` in TensorFlow."""
    tensors = [tf.constant(v) for v in inputs]
    dout_t = tf.constant(dout)

    def step(*args):
        with tf.GradientTape() as tape:
            tape.watch(args)
            out = fn(*args)
        return out, tape.gradient(out, args, output_gradients=dout_t)

    step = tf.function(step) if use_function else step

    def run():
        out, grads = step(*tensors)
        return out.numpy(), [g.numpy() for g in grads]

    return run


PADS = [[0, 0], [1, 1], [1, 1], [0, 0]]  # padding 1, in tf.nn.conv2d's form


def conv_problem(rng, x_shape, n_filters, use_function, tf):
    """Data for a 3x3, stride 1, padding 1 convolution, our two passes and TensorFlow's."""
    x = rng.standard_normal(x_shape, dtype=np.float32)
    w = rng.standard_normal((3, 3, x_shape[3], n_filters), dtype=np.float32)
    b = np.zeros(n_filters, np.float32)
    dout = rng.standard_normal((*x_shape[:3], n_filters), dtype=np.float32)

    def passes(forward, backward):
        def run():
            out, cache = forward(x, w, b, stride=1, padding=1)
            return backward(dout, cache)

        return run

    vectorised = passes(ops.conv2d_forward, ops.conv2d_backward)
    naive = passes(ops.conv2d_forward_naive, ops.conv2d_backward_naive)
    reference = tf_runner(tf, lambda x, w: tf.nn.conv2d(x, w, 1, PADS), [x, w], dout, use_function)
    return vectorised, naive, reference


def conv_rows(tf, repeats, use_function, rng):
    rows = []
    for x_shape, n_filters in [((100, 31, 31, 3), 25), ((64, 32, 32, 64), 64)]:
        vectorised, _, reference = conv_problem(rng, x_shape, n_filters, use_function, tf)
        rows.append(
            Row("conv 3x3, s1, p1 (im2col)", f"{x_shape} -> {n_filters}",
                *best_times([vectorised, reference], repeats), "tf.nn.conv2d", TARGET)
        )
    return rows


def naive_rows(tf, repeats, use_function, rng):
    """The loop version on a small input, against the vectorised one and TensorFlow."""
    x_shape, n_filters = (4, 16, 16, 3), 8
    vectorised, naive, reference = conv_problem(rng, x_shape, n_filters, use_function, tf)
    (naive_time,) = best_times([naive], max(1, repeats // 5))
    vectorised_time, reference_time = best_times([vectorised, reference], repeats)
    shape = f"{x_shape} -> {n_filters}"
    return [
        Row("conv 3x3 naive loops", shape, naive_time, vectorised_time, "ours, im2col", None),
        Row("conv 3x3 naive loops", shape, naive_time, reference_time, "tf.nn.conv2d", None),
    ]


def pool_rows(tf, repeats, use_function, rng):
    rows = []
    x = rng.standard_normal((64, 32, 32, 64), dtype=np.float32)
    for pool, stride, padding in [(2, 2, "valid"), (3, 2, "same")]:
        out, _ = ops.max_pool_forward(x, pool, stride, padding)
        dout = rng.standard_normal(out.shape, dtype=np.float32)

        def ours():
            out, cache = ops.max_pool_forward(x, pool, stride, padding)
            return ops.max_pool_backward(dout, cache)

        def fn(x):
            return tf.nn.max_pool2d(x, pool, stride, padding.upper())

        reference = tf_runner(tf, fn, [x], dout, use_function)
        rows.append(
            Row(f"max pool {pool}x{pool}, s{stride}, {padding}", str(x.shape),
                *best_times([ours, reference], repeats), "tf.nn.max_pool2d", TARGET)
        )
    return rows


def batchnorm_rows(tf, keras, repeats, use_function, rng):
    x = rng.standard_normal((64, 32, 32, 64), dtype=np.float32)
    gamma, beta = np.ones(64, np.float32), np.zeros(64, np.float32)
    moving_mean, moving_var = np.zeros(64, np.float32), np.ones(64, np.float32)
    dout = rng.standard_normal(x.shape, dtype=np.float32)

    def ours():
        out, cache = ops.batchnorm_forward(x, gamma, beta, moving_mean, moving_var, training=True)
        return ops.batchnorm_backward(dout, cache)

    layer = keras.layers.BatchNormalization()
    layer.build(x.shape)

    def fn(x):
        return layer(x, training=True)

    x_t, dout_t = tf.constant(x), tf.constant(dout)

    def step(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            out = fn(x)
        return out, tape.gradient(out, [x, layer.gamma, layer.beta], output_gradients=dout_t)

    step = tf.function(step) if use_function else step

    def reference():
        out, grads = step(x_t)
        return out.numpy(), [g.numpy() for g in grads]

    return [
        Row("batch norm, training", str(x.shape), *best_times([ours, reference], repeats),
            "keras BatchNormalization", TARGET)
    ]


def blas_threads() -> str:
    """Threads numpy's OpenBLAS uses, asked from the library itself when it can be found."""
    import ctypes
    import glob

    for path in glob.glob(os.path.join(os.path.dirname(np.__file__), os.pardir, "numpy.libs", "*openblas*")):
        library = ctypes.CDLL(path)
        for symbol in ("scipy_openblas_get_num_threads64_", "openblas_get_num_threads64_", "openblas_get_num_threads"):
            if hasattr(library, symbol):
                return f"{getattr(library, symbol)()} (OpenBLAS)"
    return "unknown (OpenBLAS default: one per core)"


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as info:
            names = [line.split(":", 1)[1].strip() for line in info if line.startswith("model name")]
        return names[0]
    except (OSError, IndexError):
        return platform.machine()


def environment(tf) -> list[str]:
    config = np.show_config(mode="dicts")
    blas = config["Build Dependencies"]["blas"]
    intra = tf.config.threading.get_intra_op_parallelism_threads()
    inter = tf.config.threading.get_inter_op_parallelism_threads()
    return [
        f"- CPU: {cpu_name()}, {os.cpu_count()} cores, shared with other work",
        f"- numpy {np.__version__}, BLAS {blas['name']} {blas.get('version', '')}, threads: {blas_threads()}",
        f"- TensorFlow {tf.__version__}, intra-op threads: {intra or f'default = {os.cpu_count()}'}, "
        f"inter-op threads: {inter or f'default = {os.cpu_count()}'}",
    ]


HEADER = [
    "| layer (forward + backward, float32) | input | ours (ms) | reference (ms) | ratio | target | met |",
    "|---|---|---|---|---|---|---|",
]


def measure(tf, keras, repeats: int, use_function: bool) -> str:
    """All rows against TensorFlow run eagerly or compiled; returns the markdown table."""
    rng = np.random.default_rng(0)
    rows = (
        conv_rows(tf, repeats, use_function, rng)
        + naive_rows(tf, repeats, use_function, rng)
        + pool_rows(tf, repeats, use_function, rng)
        + batchnorm_rows(tf, keras, repeats, use_function, rng)
    )
    return "\n".join(HEADER + [row.markdown() for row in rows])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=10, help="timed runs per row (best is kept)")
    parser.add_argument("--quick", action="store_true", help="3 repeats, print only")
    args = parser.parse_args()
    repeats = 3 if args.quick else args.repeats

    import keras
    import tensorflow as tf

    load_before = os.getloadavg()[0]
    sections = []
    for use_function, title in [
        (False, "TensorFlow eager (as a notebook calls it)"),
        (True, "TensorFlow compiled with tf.function (its fastest CPU path)"),
    ]:
        table = measure(tf, keras, repeats, use_function)
        print(f"\n{title}\n{table}")
        sections += [f"## Against {title}", "", table, ""]
    if args.quick:
        return
    text = "\n".join(
        [
            "# Speed of course_utils.ops against TensorFlow (CPU)",
            "",
            f"Written by `python benchmarks/bench_ops.py --repeats {repeats}`: every row is one "
            "forward + backward pass on the same float32 data, best of "
            f"{repeats} runs after a warm-up, ours and TensorFlow's taking turns; "
            "ratio = ours / reference.",
            "",
            *environment(tf),
            f"- load average (1 min) before / after the run: {load_before:.1f} / {os.getloadavg()[0]:.1f}",
            "",
            *sections,
        ]
    )
    existing = RESULTS.read_text() if RESULTS.exists() else ""
    notes = re.split(r"^## Notes$", existing, maxsplit=1, flags=re.M)
    write_results(RESULTS, text + ("\n## Notes" + notes[1] if len(notes) == 2 else ""))


if __name__ == "__main__":
    main()
