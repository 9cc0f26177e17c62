"""The student's view: notebooks run in JupyterLab in a real browser.

JupyterLab is started exactly as `make lab` starts it (`course lab`), on a copy
of the notebooks (running them in the browser autosaves outputs, which must not
touch the repository). Playwright drives Debian's Chromium (/usr/bin/chromium;
`make test` installs it as root; the `browser` fixture is in conftest.py). For each notebook the test runs all cells,
waits for the kernel, checks that no cell shows an error or stderr, that the
figures rendered, and that moving a slider of the notebook's explorer widget
changes the explorer's summary. Screenshots go to ``screenshots/`` (or
``$COURSE_SCREENSHOTS``); the test prints where.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import pytest

from course_utils import authoring
from tests.conftest import start_lab

SCREENSHOTS = Path(os.environ.get("COURSE_SCREENSHOTS", authoring.REPO_ROOT / "screenshots"))
#: notebook -> how the test drives its explorer: move the first slider with the
#: keyboard, or click the button with this label. The explorer's root widget
#: carries the CSS class `course-explorer`, its summary `course-summary`
#: (course_utils/widgets/_explorer.py).
NOTEBOOKS = {"01_convolution_basics": None, "02_receptive_field": "+ conv3"}

KERNEL_IDLE = """() => {
  const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
  const k = w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel;
  return !!k && k.status === 'idle';
}"""
ALL_CELLS_DONE = """() => {
  const panel = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden)');
  const prompts = panel ? [...panel.querySelectorAll('.jp-CodeCell .jp-InputPrompt')] : [];
  return prompts.length > 0 && prompts.every(p => /\\[\\d+\\]/.test(p.textContent));
}"""


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    root = tmp_path_factory.mktemp("lab-root")
    shutil.copytree(authoring.NOTEBOOK_DIR, root / "notebooks",
                    ignore=shutil.ignore_patterns("*.py", ".ipynb_checkpoints"))
    # User settings of this test's JupyterLab (start_lab points JUPYTER_CONFIG_DIR at root/config):
    # render every cell (no lazy windowing, so off-screen widgets have a size) and no news pop-up.
    settings = root / "config" / "lab" / "user-settings" / "@jupyterlab"
    for path, value in (("notebook-extension/tracker.jupyterlab-settings", {"windowingMode": "none"}),
                        ("apputils-extension/notification.jupyterlab-settings", {"fetchNews": "false"})):
        (settings / path).parent.mkdir(parents=True, exist_ok=True)
        (settings / path).write_text(json.dumps(value))
    yield from start_lab(root, "--LabApp.expose_app_in_browser=True", root=root,
                         env_overrides={"COURSE_QUICK": "1", "COURSE_OFFLINE": "1"})


@pytest.mark.parametrize("name", list(NOTEBOOKS))
def test_notebook_runs_draws_and_its_explorer_responds(name, browser, lab):
    base, token, _ = lab
    if not (authoring.NOTEBOOK_DIR / f"{name}.ipynb").exists():
        pytest.fail(f"notebooks/{name}.ipynb is missing")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    print(f"\nscreenshots of {name}: {SCREENSHOTS}")
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(90_000)
    # A workspace of its own per notebook, so no tab of an earlier test is restored beside it.
    page.goto(f"{base}/lab/workspaces/{name}/tree/notebooks/{name}.ipynb?reset&token={token}")
    page.wait_for_selector(".jp-NotebookPanel")
    panel = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden)")
    page.wait_for_function(KERNEL_IDLE, polling=250)
    page.screenshot(path=SCREENSHOTS / f"{name}-opened.png")

    # Clear the saved outputs first, so everything checked below comes from this run.
    page.evaluate("window.jupyterapp.commands.execute('notebook:clear-all-cell-outputs')")
    started = time.monotonic()
    page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
    page.wait_for_function(ALL_CELLS_DONE, polling=500, timeout=150_000)
    page.wait_for_function(KERNEL_IDLE, polling=250)
    print(f"{name}: all cells ran in the browser in {time.monotonic() - started:.1f} s")
    page.screenshot(path=SCREENSHOTS / f"{name}-run.png", full_page=True)

    # No cell shows an error (tracebacks render as stderr) or any other stderr.
    bad = panel.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
    if bad.count():
        texts = [bad.nth(i).inner_text()[:500] for i in range(min(bad.count(), 3))]
        pytest.fail(f"{name}: {bad.count()} output(s) show an error or stderr:\n" + "\n---\n".join(texts))

    # The figures rendered as images with a real size.
    images = panel.locator(".jp-RenderedImage img")
    assert images.count() >= 1, f"{name}: no figure rendered"
    first = images.first
    first.scroll_into_view_if_needed()
    box = first.bounding_box()
    assert box and box["width"] > 100 and box["height"] > 100, f"{name}: the first figure is empty ({box})"

    # The explorer responds: move its first slider (or click its button), watch its summary change.
    explorer = panel.locator(".course-explorer").first
    explorer.scroll_into_view_if_needed()
    summary = explorer.locator(".course-summary").first
    before = summary.inner_text()
    button = NOTEBOOKS[name]
    if button is None:
        explorer.locator(".widget-slider .noUi-handle").first.focus()
        for _ in range(2):
            page.keyboard.press("ArrowRight")
    else:
        explorer.get_by_role("button", name=button, exact=True).click()
    page.wait_for_function(
        "([el, before]) => el.innerText !== before", arg=[summary.element_handle(), before], polling=200,
        timeout=30_000)
    after = summary.inner_text()
    explorer.screenshot(path=SCREENSHOTS / f"{name}-explorer.png")
    print(f"{name}: explorer summary {before!r} -> {after!r}")
    assert after != before
    page.close()
