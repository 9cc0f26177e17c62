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


def test_colab_cell_pins_the_runtime_and_prints_one_line():
    source = authoring.colab_cell_source("01_convolution_basics.ipynb")
    compile(source, "colab-cell", "exec")
    assert '"-c", f"{tmp}/runtime.txt"' in source and "--report" in source
    assert source.count("print(") == 1
    local = authoring.colab_cell_source("01_convolution_basics.ipynb", source="/some/copy")
    assert '"/some/copy"' in local and authoring.repository_url() not in local.split("\n", 1)[1]


OLD_SETUP = (
    "# Set-up (run me first). On Colab this installs the course package; elsewhere it does nothing.\n"
    "import sys\n"
    "if \"google.colab\" in sys.modules:\n"
    "    import subprocess\n"
    "    subprocess.run([sys.executable, \"-m\", \"pip\", \"install\", \"-q\", \"git+https://example.org/x\"], check=True)\n"
    "\n"
    "from course_utils import checks"
)


def test_with_colab_block_regenerates_only_the_install_part_of_a_set_up_cell():
    new = authoring.with_colab_block(OLD_SETUP)
    assert new.startswith("# Set-up (run me first).")
    assert authoring.colab_install_block() in new
    assert new.endswith("\n\nfrom course_utils import checks")
    assert "example.org" not in new
    assert authoring.with_colab_block(new) == new


@pytest.mark.parametrize("path", authoring.assignment_sources(), ids=lambda p: p.parent.name)
def test_assignment_set_up_cell_installs_like_the_notebooks(path):
    assert authoring.assignment_problems(path) == []
    release = authoring.REPO_ROOT / "assignments" / path.parent.name / path.name
    assert authoring.assignment_problems(release) == [], "run `course release`"


def test_sync_regenerates_the_colab_cell_and_keeps_ids_metadata_and_outputs(tmp_path):
    import jupytext
    import nbformat

    py = tmp_path / "09_demo.py"
    old_cell = ("# Open in Colab: old\nimport sys\nif \"google.colab\" in sys.modules:\n"
                "    import subprocess\n    subprocess.run([sys.executable, \"-m\", \"pip\", \"install\", \"x\"])")
    py.write_text("# %% [markdown]\n# # Demo\n\n# %%\n" + old_cell + "\n\n# %%\nprint(6 * 7)\n")
    twin = authoring.Twin(py, py.with_suffix(".ipynb"))
    nb = jupytext.read(py)
    nb.metadata["widgets"] = {"state": "kept"}
    for i, cell in enumerate(nb.cells):
        cell.id = f"cell-{i}"
        if cell.cell_type == "code":
            cell.execution_count = i
            cell.metadata["tags"] = ["kept"]
    nb.cells[2].outputs = [nbformat.v4.new_output("stream", name="stdout", text="42\n")]
    nbformat.write(nb, twin.ipynb)

    assert authoring.sync(twin) is True
    assert authoring.colab_cell_source(twin.ipynb) in py.read_text()
    synced = nbformat.read(twin.ipynb, as_version=4)
    assert [c.id for c in synced.cells] == ["cell-0", "cell-1", "cell-2"]
    assert synced.cells[1].source == authoring.colab_cell_source(twin.ipynb)
    assert synced.cells[1].execution_count == 1 and synced.cells[1].metadata["tags"] == ["kept"]
    assert synced.cells[2].outputs[0]["text"] == "42\n" and synced.metadata["widgets"] == {"state": "kept"}
    assert authoring.sync(twin) is False


def _executed_twin(tmp_path, cells: list[str]) -> authoring.Twin:
    """An executed demo notebook that passes every other check: badge, Colab cell, then ``cells``."""
    import jupytext
    import nbformat

    py = tmp_path / "09_demo.py"
    twin = authoring.Twin(py, py.with_suffix(".ipynb"))
    nb = nbformat.v4.new_notebook()
    nb.cells = ([nbformat.v4.new_markdown_cell("# Demo\n\n" + authoring.colab_badge(twin.ipynb)),
                 nbformat.v4.new_code_cell(authoring.colab_cell_source(twin.ipynb))]
                + [nbformat.v4.new_code_cell(c) for c in cells])
    for i, cell in enumerate(c for c in nb.cells if c.cell_type == "code"):
        cell.execution_count = i + 1
    nbformat.write(nb, twin.ipynb)
    jupytext.write(nb, py, fmt="py:percent")
    return twin


def test_an_ignored_cell_must_train_or_time_something(tmp_path):
    training = "# NBVAL_IGNORE_OUTPUT\nhistory = model.fit(x, y, epochs=1)\nprint(history)"
    timing = "# NBVAL_IGNORE_OUTPUT\nstart = time.perf_counter()\nprint(time.perf_counter() - start)"
    deterministic = "# NBVAL_IGNORE_OUTPUT\nprint(6 * 7)"
    assert authoring.problems(_executed_twin(tmp_path, [training, timing, "print(1)"])) == []
    found = authoring.problems(_executed_twin(tmp_path, [training, deterministic]))
    assert len(found) == 1 and "code cells [2] ignore their output but neither train" in found[0]
