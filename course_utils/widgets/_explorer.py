"""What every explorer shares.

An explorer is a widget box with a ``summary`` text widget (what the explorer
currently shows, in words) and an ``output`` widget with its figure.
``mark_explorer`` tags the box ``course-explorer`` and its summary
``course-summary``, so the browser test finds them in the page;
``show_figure`` replaces the figure. :class:`GuardedRefresh` gives an explorer
its ``_update`` (the observer of its controls), which redraws once per change.
"""

from __future__ import annotations

import io
from contextlib import contextmanager

import ipywidgets as widgets
import matplotlib.pyplot as plt
from IPython.display import Image

EXPLORER_CLASS = "course-explorer"
SUMMARY_CLASS = "course-summary"


def mark_explorer(explorer) -> None:
    explorer.add_class(EXPLORER_CLASS)
    explorer.summary.add_class(SUMMARY_CLASS)


def show_figure(output: widgets.Output, fig) -> None:
    """Replace what ``output`` shows by ``fig`` (as a PNG, so it works with or without a kernel)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    output.outputs = ()
    output.append_display_data(Image(data=buffer.getvalue(), format="png"))


class GuardedRefresh:
    """``_update`` (observe the controls with it) calls the explorer's ``_refresh`` once.

    Changes that ``_refresh`` itself makes (moving a slider's ``max`` below its value
    moves the value, which fires another change) are ignored while it runs, and so are
    the changes made inside :meth:`_quiet` (several controls moved at once, one redraw).
    """

    _busy = False

    @contextmanager
    def _quiet(self):
        self._busy = True
        try:
            yield
        finally:
            self._busy = False

    def _update(self, change=None) -> None:
        if self._busy:
            return
        with self._quiet():
            self._refresh()
