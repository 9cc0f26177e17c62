"""The one way a benchmark writes its recorded results (``benchmarks/results/NAME.md``).

The scripts run as ``python benchmarks/bench_NAME.py``, so this folder is on their path.
"""

from __future__ import annotations

from pathlib import Path


def write_results(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` (creating its folder) and say where it went."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    print(f"written {path}")
