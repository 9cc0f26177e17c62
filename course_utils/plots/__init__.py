"""Matplotlib figures used by the notebooks, one module per topic.

Every public function returns the ``matplotlib.figure.Figure`` it drew, so the
tests can check it and a notebook shows it by leaving it as the cell's value
(or with ``plt.show()``). All names listed in a topic module's ``__all__`` are
available here: ``course_utils.plots.conv_grid(...)``.
"""

from course_utils._topics import collect

__all__ = collect(__name__, __path__, globals())
