"""Assignment A3: the base network against the reference depthwise-separable network,
trained in the same run on the same data, on this machine.

    .venv/bin/python benchmarks/bench_a3.py [--epochs 4] [--train 12000] [--val 2000]

Both networks get the same images, epochs and batch size (128); the base network is
trained as the assignment says (Adam 1e-3, no augmentation), the reference with its
recipe (shifts and flips, one-cycle learning rate peaking at 3e-3), and once more
without the augmentation (which pays off over long runs, not over a few epochs). Accuracy is that
of the best epoch's weights on the validation images (as the grader measures it).
Writes ``benchmarks/results/a3.md``. The dataset is whatever ``config.dataset()``
gives (Fashion-MNIST offline); the CIFAR-10 figures are not measured here.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import course_utils  # noqa: E402,F401  (quiet TensorFlow)
from course_utils import a3_models, config, data  # noqa: E402
from results_file import write_results  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "a3.md"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--train", type=int, default=12000, help="training images (first of the split)")
    parser.add_argument("--val", type=int, default=2000, help="validation images (first of the test split)")
    args = parser.parse_args()

    import keras

    dataset = config.dataset()
    (x, y), (xv, yv) = data.load_images(dataset, (args.train, args.val))
    shape = tuple(x.shape[1:])
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, build, options in (("base", a3_models.build_base, {}),
                                     ("reference (separable)", a3_models.build_reference,
                                      dict(augment=True, one_cycle=3e-3)),
                                     ("reference, no augmentation", a3_models.build_reference,
                                      dict(one_cycle=3e-3))):
            keras.utils.set_random_seed(0)
            model = build(shape)
            history, seconds = a3_models.train(model, (x, y), (xv, yv), args.epochs, 128, name="run",
                                               folder=tmp, verbose=0, **options)
            accuracy = a3_models.evaluate(model, xv, yv)
            rows.append((name, model.count_params(), build((32, 32, 3)).count_params(), accuracy,
                         history["val_accuracy"], seconds))
            print(f"{name}: {accuracy:.4f} ({model.count_params():,} parameters, {seconds:.1f} s/epoch)", flush=True)

    threads = os.environ.get("TF_NUM_INTRAOP_THREADS", "TensorFlow default")
    lines = [
        "# A3: base network vs reference depthwise-separable network",
        "",
        f"Command: `.venv/bin/python benchmarks/bench_a3.py --epochs {args.epochs} --train {args.train} "
        f"--val {args.val}`",
        "",
        f"Measured on **{dataset}** ({'x'.join(map(str, shape))} images), NOT CIFAR-10: the first "
        f"{args.train:,} training images, **{args.epochs} epochs** (not the assignment's 50), batch 128, "
        f"validated on the first {args.val:,} test images; both networks in the same run, on "
        f"{platform.processor() or platform.machine()} with {os.cpu_count()} cores (shared, loaded; "
        f"threads: {threads}). Accuracy: the best epoch's weights on the validation images.",
        "",
        "| network | parameters (this input) | parameters (32x32x3) | val. accuracy (best epoch) | "
        "val. accuracy per epoch | seconds / epoch |",
        "|---|---:|---:|---:|---|---:|",
    ]
    for name, params, params32, acc, accs, seconds in rows:
        lines.append(f"| {name} | {params:,} | {params32:,} | {acc:.4f} | "
                     f"{', '.join(f'{a:.3f}' for a in accs)} | {seconds:.1f} |")
    lines += [
        "",
        "## CIFAR-10",
        "",
        "| network | parameters | val. accuracy within 50 epochs |",
        "|---|---:|---|",
        "| base (the source's students) | 1,172,410 | 81.7 %-83.3 % (reported, after 50 epochs) |",
        "| best student solutions (the source) | < 100,000 | about 85.6 %-86.0 % (reported) |",
        f"| reference | {rows[1][2]:,} | not measured (aim: 88 % or more) |",
        "",
        "Recipe of the reference for CIFAR-10 (a Colab GPU, 50 epochs, batch 128): "
        "`a3_models.build_reference((32, 32, 3))`, random shifts of up to 4 pixels and horizontal "
        "flips (`augment=True`), Adam with a one-cycle learning rate peaking at 3e-3 "
        "(`one_cycle=3e-3`: linear warm-up over 30 % of the epochs, then linear decay), the best "
        "epoch's weights kept. Replace this line with the measured figure once it has been run.",
        "",
    ]
    write_results(RESULTS, "\n".join(lines))


if __name__ == "__main__":
    start = time.perf_counter()
    main()
    print(f"{time.perf_counter() - start:.0f} s in all")
