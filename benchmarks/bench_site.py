"""Build time and size of the course website (`make book`).

Times three builds with the real code path (``course_utils.book.build``):

* clean: no ``_site/`` and no ``build/site/`` (a fresh clone; the npm tarballs come
  from npm's own cache when it has them, else from the registry),
* rebuild after touching nothing (what `make test` does after `make book`),
* rebuild after one notebook changed (one page re-read).

    python benchmarks/bench_site.py          # writes results/site.md
    python benchmarks/bench_site.py --quick  # no clean build, no file

The screenshots beside the results come from the site's browser test:
``COURSE_SCREENSHOTS=benchmarks/results/site pytest tests/test_site.py -k screenshots``.

Target (issue 16): a build in under 90 s on this machine.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import time
from pathlib import Path

from course_utils import book
from results_file import write_results

RESULTS = Path(__file__).parent / "results" / "site.md"
TARGET_S = 90


def _mib(n: int) -> str:
    return f"{n / 2**20:.1f} MiB"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="skip the clean build; write no file")
    args = parser.parse_args()
    rows = []
    load_before = os.getloadavg()[0]
    if not args.quick:
        shutil.rmtree(book.WORK_DIR, ignore_errors=True)
        shutil.rmtree(book.OUT_DIR, ignore_errors=True)
        rows.append(("clean (fresh clone: no _site/, no build/site/)", book.build(log=lambda m: None)))
    rows.append(("rebuild, nothing changed", book.build(log=lambda m: None)))
    staged = book.WORK_DIR / "src" / "notebooks" / book.lectures()[1].name
    os.utime(staged, (time.time(), time.time()))  # as if notebook 02 had been saved anew
    rows.append(("rebuild, one notebook changed", book.build(log=lambda m: None)))
    load_after = os.getloadavg()[0]

    site = book.OUT_DIR
    sizes = {
        "whole site": book.folder_size(site),
        "vendored MathJax": book.folder_size(site / "_static" / book.VENDOR_DIR / "mathjax"),
        "vendored widget manager": book.folder_size(site / "_static" / book.VENDOR_DIR / "html-manager"),
        "theme and Sphinx assets (rest of _static)": 0,
        "figures (_images)": book.folder_size(site / "_images"),
        "downloadable notebooks (_sources)": book.folder_size(site / "_sources"),
    }
    sizes["theme and Sphinx assets (rest of _static)"] = (
        book.folder_size(site / "_static") - sizes["vendored MathJax"] - sizes["vendored widget manager"])
    pages = sorted(p.relative_to(site).as_posix() for p in site.rglob("*.html") if "_static" not in p.parts)

    lines = ["# The course website: build time and size", "",
             f"Written by `python benchmarks/bench_site.py`: `course_utils.book.build` (what `make book` runs), "
             f"wall-clock seconds. Target: under {TARGET_S} s.", "",
             f"- CPU: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, shared with other work",
             f"- load average (1 min) before / after: {load_before:.1f} / {load_after:.1f}", "",
             "| build | seconds | target | met |", "|---|---|---|---|"]
    lines += [f"| {what} | {s:.1f} | < {TARGET_S} | {'yes' if s < TARGET_S else 'NO'} |" for what, s in rows]
    lines += ["", f"## Size ({len(pages)} pages)", "", "| part | size |", "|---|---|"]
    lines += [f"| {what} | {_mib(n)} |" for what, n in sizes.items()]
    lines += ["", "Pages: " + ", ".join(f"`{p}`" for p in pages), "",
              "Screenshots (Chromium, 1300x900): [landing page](site/site-landing.png), "
              "[02 receptive field](site/site-02.png), [the explorer of 01](site/site-01-explorer.png).", ""]
    text = "\n".join(lines)
    print(text)
    if not args.quick:
        write_results(RESULTS, text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
