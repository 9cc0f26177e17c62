"""What every explorer shares: CSS classes that tests and styles can find.

An explorer is a widget box with a ``summary`` text widget (what the explorer
currently shows, in words). ``mark_explorer`` tags the box ``course-explorer``
and its summary ``course-summary``, so the browser test finds them in the page.
"""

from __future__ import annotations

EXPLORER_CLASS = "course-explorer"
SUMMARY_CLASS = "course-summary"


def mark_explorer(explorer) -> None:
    explorer.add_class(EXPLORER_CLASS)
    explorer.summary.add_class(SUMMARY_CLASS)
