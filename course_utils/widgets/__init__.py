"""ipywidgets explorers used by the notebooks, one module per topic.

Each explorer is built by a function returning an ``ipywidgets.Widget`` (the
notebook leaves it as the cell's value). Explorers keep their state in the
widget objects, update their output when a control changes, and expose the
controls as attributes so tests (and curious students) can drive them.
All names listed in a topic module's ``__all__`` are available here.
"""

from course_utils._topics import collect

__all__ = collect(__name__, __path__, globals())
