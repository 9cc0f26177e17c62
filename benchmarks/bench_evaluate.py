"""How fast the A3 grader evaluates a network on the whole test split, by batch size.

    .venv/bin/python benchmarks/bench_evaluate.py [--repeats 3] [--sizes 500 250 128]

:func:`course_utils.a3_models.evaluate` runs the network as one traced function over
batches; the grader calls it twice for every A3 submission (the base network with the
submitted base weights, the submitted separable network), on the 10,000 test images of
the grader's dataset (Fashion-MNIST here). For the instructor's base network and the
reference solution, every batch size is timed ``--repeats`` times, the sizes taking
turns within each round (so that load from other processes hits them alike), with
TensorFlow's default threads (both cores, as a grading worker has them). The headline
is the CPU time (user + system of this process, less noisy than the wall time) of each
size as a ratio to the first size's, on the medians; the accuracies must be identical
for every batch size (a batch's images are evaluated independently). Writes
``benchmarks/results/evaluate.md``.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import course_utils  # noqa: E402,F401  (quiet TensorFlow)
from course_utils import a3_models, config  # noqa: E402
from course_utils.grading import a3  # noqa: E402
from results_file import write_results  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "evaluate.md"


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--sizes", type=int, nargs="+", default=[500, 250, 128])
    args = parser.parse_args()
    dataset = config.dataset()
    x, y = a3.validation_subset(dataset, None)
    load = os.getloadavg()
    rows = []
    for name, build in (("base network", a3_models.build_base), ("reference solution", a3_models.build_reference)):
        model = build(x.shape[1:])
        for size in args.sizes:  # traced once per batch shape before the timing
            a3_models.evaluate(model, x[:size], y[:size], batch_size=size)
        cpu: dict[int, list[float]] = {s: [] for s in args.sizes}
        wall: dict[int, list[float]] = {s: [] for s in args.sizes}
        accuracy: dict[int, set[float]] = {s: set() for s in args.sizes}
        for _ in range(args.repeats):
            for size in args.sizes:
                start, used = time.perf_counter(), cpu_seconds()
                accuracy[size].add(a3_models.evaluate(model, x, y, batch_size=size))
                wall[size].append(time.perf_counter() - start)
                cpu[size].append(cpu_seconds() - used)
        same = len(set().union(*accuracy.values())) == 1
        first = statistics.median(cpu[args.sizes[0]])
        for size in args.sizes:
            rows.append(f"| {name} | {size} | {statistics.median(wall[size]):.2f} | {statistics.median(cpu[size]):.2f} "
                        f"| {statistics.median(cpu[size]) / first:.2f} | {'yes' if same else 'NO'} |")
            print(rows[-1], flush=True)
    lines = [
        "# Evaluating a network on the whole test split (A3's grader)",
        "",
        f"Command: `.venv/bin/python benchmarks/bench_evaluate.py --repeats {args.repeats} --sizes "
        f"{' '.join(map(str, args.sizes))}` ({len(x):,} {dataset} test images, untrained weights; "
        f"{platform.machine()}, {os.cpu_count()} cores, TensorFlow's default threads, load average "
        f"{load[0]:.1f} before the run). Medians of {args.repeats} rounds, the sizes taking turns.",
        "",
        "| network | batch size | wall (s) | CPU (s) | CPU / first size | same accuracy for every size |",
        "|---|---:|---:|---:|---:|---|",
        *rows,
        "",
    ]
    write_results(RESULTS, "\n".join(lines))


if __name__ == "__main__":
    main()
