"""How many examples each property test draws.

Every property test names the count CI can afford (``examples(40)``). The
"explore" profile (``HYPOTHESIS_PROFILE=explore``, random examples) draws ten
times as many; ``HYPOTHESIS_EXAMPLES_SCALE`` sets the factor for any profile.
(A count given in a test's own ``@settings`` would otherwise override the profile.)
"""

from __future__ import annotations

import os


def scale() -> float:
    default = "10" if os.environ.get("HYPOTHESIS_PROFILE") == "explore" else "1"
    return float(os.environ.get("HYPOTHESIS_EXAMPLES_SCALE", default))


def examples(n: int) -> int:
    """``n`` examples, times the scale of this run."""
    return max(1, round(n * scale()))
