"""Sphinx configuration of the course website (`make book`, see course_utils/book.py).

The sources are staged by course_utils.book into build/site/src (the README as the
landing page, the saved notebooks, the assignments' student releases, the page of
the `course` command); nothing is executed. Every script, style and font the pages
load is served from the site itself: MathJax and the Jupyter widgets' HTML manager
are vendored from npm at build time (course_utils.book.vendor).
"""

from __future__ import annotations

import os
from pathlib import Path

from docutils import nodes

from course_utils import authoring
from course_utils import book

WORK = Path(os.environ.get("COURSE_SITE_WORK", book.WORK_DIR))

project = "Advanced Convolutions"
author = "The Advanced Convolutions authors"
copyright = "the Advanced Convolutions authors, MIT licence"
html_title = project

extensions = ["myst_nb"]
root_doc = "index"
exclude_patterns = ["_build", "**.ipynb_checkpoints"]

# Notebooks are shown as saved: their outputs come from the authors' full run.
nb_execution_mode = "off"
nb_merge_streams = True
myst_enable_extensions = ["dollarmath", "amsmath"]
myst_heading_anchors = 3
# Turn every warning into an error (`-W`), except notebooks' own heading style.
suppress_warnings = ["myst.header"]

# The Jupyter widgets' HTML manager renders the explorers from the state saved in each
# notebook. Its MathJax bridge speaks MathJax 2, the site serves MathJax 3:
# widgets-mathjax.js translates.
nb_ipywidgets_js = {
    "widgets-mathjax.js": {},
    f"{book.VENDOR_DIR}/html-manager/embed.js": {},
}
mathjax_path = f"{book.VENDOR_DIR}/mathjax/tex-chtml.js"

html_theme = "sphinx_book_theme"
html_static_path = ["_static", str(book.vendor_root(WORK))]
html_css_files = ["course-site.css"]
html_favicon = "_static/favicon.svg"  # else browsers ask for /favicon.ico, a 404
# Light unless the reader chose otherwise (an empty mode makes the theme log an error).
html_context = {"default_mode": "light"}
# The "download" button gives the notebook itself (with its outputs), not a .txt copy.
html_sourcelink_suffix = ""
html_last_updated_fmt = None
html_theme_options = {
    "repository_url": authoring.repository_url(),
    "repository_branch": "main",
    "path_to_docs": "",
    "use_repository_button": True,
    "use_download_button": True,
    "use_fullscreen_button": False,
    "launch_buttons": {"colab_url": "https://colab.research.google.com"},
    "show_navbar_depth": 1,
    "home_page_in_toc": True,
}


WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
COLAB_BADGE = "colab.research.google.com/assets/colab-badge.svg"


def _site_transforms(app, doctree, docname):
    """Per page: a note above each explorer, and a local "Open in Colab" badge.

    The explorers are drawn from their saved state, so the note tells where they are
    live. The notebooks' title cells show Colab's badge image, which lives outside
    the site: it becomes a text badge with the same link.
    """
    for raw in list(doctree.findall(nodes.raw)):
        if WIDGET_VIEW in raw.astext():
            note = nodes.container(classes=["course-widget-note"])
            para = nodes.paragraph()
            for i, part in enumerate(book.WIDGET_NOTE.split("`")):  # `code` as in Markdown
                para += nodes.literal(text=part) if i % 2 else nodes.Text(part)
            note += para
            raw.parent.insert(raw.parent.index(raw), note)
    for image in list(doctree.findall(nodes.image)):
        if COLAB_BADGE in image.get("uri", ""):
            image.replace_self(nodes.inline(text="Open in Colab", classes=["course-colab-badge"]))


def setup(app):
    app.connect("doctree-resolved", _site_transforms)
