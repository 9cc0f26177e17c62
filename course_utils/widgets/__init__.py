"""ipywidgets explorers used by the notebooks, one module per topic.

Each explorer is built by a function returning an ``ipywidgets.Widget`` (the
notebook leaves it as the cell's value). Explorers keep their state in the
widget objects, update their output when a control changes, and expose the
controls as attributes so tests (and curious students) can drive them.
All names listed in a topic module's ``__all__`` are available here.

The explorers use only the ipywidgets API that 7.7 (Colab's runtime) and 8.x share;
``tests/test_widgets_versions.py`` checks that on both (an argument one version does not
know is silently ignored by ipywidgets, e.g. ``tooltip=`` on a slider before 8.0).
"""

from course_utils._topics import collect

__all__ = collect(__name__, __path__, globals())
