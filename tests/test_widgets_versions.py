"""The explorers use only the ipywidgets API that 7.7 (Colab's) and 8.x share.

An argument a widget class does not know is not an error in ipywidgets: traitlets only
warns and the argument does nothing (``tooltip=`` on a slider is 8.x only; 7.x calls it
``description_tooltip``). Here every explorer is built, and driven once, with that warning
turned into an error. ``make test`` runs this with ipywidgets 8, the Colab twin
(``make test-colab``) with Colab's 7.7.1.
"""

from __future__ import annotations

import warnings

import matplotlib
import pytest

matplotlib.use("Agg")

import ipywidgets  # noqa: E402

from course_utils import widgets  # noqa: E402

BUILDERS = sorted(n for n in widgets.__all__
                  if n[0].islower() and (n.endswith("_explorer") or n.endswith(("_builder", "_picker"))))


def test_every_explorer_builder_is_covered():
    assert len(BUILDERS) >= 9, BUILDERS


@pytest.mark.parametrize("name", BUILDERS)
def test_explorer_uses_only_arguments_this_ipywidgets_knows(name):
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message="Passing unrecognized arguments")
        explorer = getattr(widgets, name)()
        controls = [w for w in explorer.children if isinstance(w, ipywidgets.Box)] + [explorer]
        for box in controls:
            for child in box.children:
                if isinstance(child, ipywidgets.Button):
                    child.click()
                    break
    assert explorer.summary.value
    assert "course-explorer" in explorer._dom_classes, f"{name} on ipywidgets {ipywidgets.__version__}"
