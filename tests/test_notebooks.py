"""Static checks of the lecture notebooks; nbval executes them (see pyproject.toml)."""

from __future__ import annotations

import pytest

from course_utils import authoring

TWINS = authoring.twins()


def test_every_notebook_has_a_text_twin():
    ipynbs = {p.stem for p in authoring.NOTEBOOK_DIR.glob("[0-9][0-9]_*.ipynb")}
    assert ipynbs == {t.name for t in TWINS}, "each NN_topic.ipynb needs its NN_topic.py twin and vice versa"


@pytest.mark.parametrize("twin", TWINS, ids=[t.name for t in TWINS])
def test_notebook_is_in_sync_executed_and_opens_on_colab(twin):
    assert authoring.problems(twin) == []


def test_colab_cell_installs_from_the_configured_repository():
    source = authoring.colab_cell_source("01_convolution_basics.ipynb")
    url = authoring.repository_url()
    assert f"git+{url}" in source and "google.colab" in source
    assert authoring.colab_url("01_convolution_basics.ipynb").endswith(
        "/blob/main/notebooks/01_convolution_basics.ipynb")


def test_readme_links_every_notebook_on_colab():
    readme = (authoring.REPO_ROOT / "README.md").read_text()
    for twin in TWINS:
        assert authoring.colab_url(twin.ipynb) in readme, f"README lacks the Colab link of {twin.name}"
