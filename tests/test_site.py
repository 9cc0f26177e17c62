"""The course website (`make book`), read in a real browser, offline.

The site is built as `make book` builds it (`course_utils.book.build`, into `_site/`;
after `make book` this rebuild only re-reads what changed), or taken as it is from
``$COURSE_SITE`` (`make test` builds it first and passes it so). It is served on a free local port, and Playwright drives Debian's
Chromium (the `browser` fixture of conftest.py) through every page once; each
test then checks one property of that crawl: every page answers 200 with no console
error, no request leaves the local server (they are answered "blocked" and listed),
every image has a real size, the math is typeset, every internal link and anchor
resolves. Then the things a reader comes for: the output-size formula typeset on the
arithmetic page, the explorers drawn from their saved state, the search, the Colab
and download buttons, the lectures in order. A second group of tests reads the
built files: no solution and no hidden test of an assignment is anywhere in it.
"""

from __future__ import annotations

import functools
import html
import json
import os
import re
import threading
from dataclasses import dataclass, field
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urldefrag, urlsplit

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from course_utils import authoring, book
from course_utils.grading.course import SOLUTIONS_DIR, list_assignments

SCREENSHOTS = Path(os.environ.get("COURSE_SCREENSHOTS", authoring.REPO_ROOT / "screenshots"))
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
#: The nbgrader markers of solution regions, hidden tests and mark schemes (nbgrader's
#: defaults, which the course uses): none may appear in the site.
MARKERS = ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS",
           "BEGIN MARK SCHEME", "END MARK SCHEME")

# After the page's load event: the widget manager has drawn every explorer (each
# view script has its rendered widget beside it) and MathJax has typeset the page.
PAGE_READY = """() => {
  const views = [...document.querySelectorAll('script[type="application/vnd.jupyter.widget-view+json"]')];
  const drawn = views.every(s => s.parentElement.querySelector('.widget-subarea .jupyter-widgets'));
  const mathjax = !window.MathJax || !MathJax.startup || !MathJax.startup.promise ? null : MathJax.startup;
  return drawn && (!document.querySelector('.math') || (mathjax && mathjax.document &&
                   document.querySelectorAll('mjx-container').length > 0));
}"""
#: A page is drawn in about a second; more than this means its scripts failed.
READY_TIMEOUT_MS = 20_000
PAGE_FACTS = """() => ({
  links: [...document.querySelectorAll('a[href]')].map(a => a.href),
  ids: [...document.querySelectorAll('[id]')].map(e => e.id),
  images: [...document.images].map(i => ({src: i.src.slice(0, 100), complete: i.complete,
                                          width: i.naturalWidth, height: i.naturalHeight})),
  untypeset: [...document.querySelectorAll('.math')].filter(m => !m.querySelector('mjx-container'))
                 .map(m => m.textContent.slice(0, 80)),
  math_errors: [...document.querySelectorAll('mjx-merror')].map(m => m.textContent.slice(0, 80)),
  widget_views: document.querySelectorAll('script[type="application/vnd.jupyter.widget-view+json"]').length,
  widgets_drawn: document.querySelectorAll('.widget-subarea > .jupyter-widgets').length,
})"""


@dataclass
class Page:
    path: str
    status: int | None = None
    console_errors: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)
    facts: dict = field(default_factory=dict)


@pytest.fixture(scope="module")
def site() -> Path:
    if os.environ.get("COURSE_SITE"):
        return Path(os.environ["COURSE_SITE"])
    seconds = book.build(book.OUT_DIR)
    print(f"\nsite built in {seconds:.1f} s: {book.OUT_DIR}")
    return book.OUT_DIR


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server(site):
    """The site on a free port of 127.0.0.1 (port 0: the system picks a free one)."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(site)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def context(browser, server):
    """A browser context in which every request that leaves the local server is blocked and listed."""
    ctx = browser.new_context(viewport={"width": 1300, "height": 900})
    ctx.outside_requests = []

    def route(r):
        if r.request.url.startswith(server + "/"):
            r.continue_()
        else:
            ctx.outside_requests.append(r.request.url)
            r.abort("blockedbyclient")

    ctx.route("**/*", route)
    yield ctx
    ctx.close()


def _visit(context, server, path: str) -> tuple[Page, object]:
    page = context.new_page()
    page.set_default_timeout(60_000)
    record = Page(path)
    page.on("console", lambda m: record.console_errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: record.console_errors.append(f"uncaught: {e}"))
    page.on("requestfailed", lambda r: record.failed_requests.append(f"{r.url} ({r.failure})"))
    page.on("response", lambda r: record.failed_requests.append(f"{r.url} (HTTP {r.status})")
            if r.status >= 400 else None)
    response = page.goto(f"{server}/{path}", wait_until="load")
    record.status = response.status if response else None
    try:
        page.wait_for_function(PAGE_READY, polling=200, timeout=READY_TIMEOUT_MS)
        page.evaluate("() => window.MathJax && MathJax.startup && MathJax.startup.promise")
        page.wait_for_load_state("networkidle")
    except PlaywrightTimeout:  # the tests below say what is missing
        record.console_errors.append(f"not ready after {READY_TIMEOUT_MS} ms: explorers not drawn or math "
                                     "not typeset")
    record.facts = page.evaluate(PAGE_FACTS)
    return record, page


@pytest.fixture(scope="module")
def crawl(site, server, context) -> dict[str, Page]:
    """Every HTML page of the site, visited once: path -> what was seen there."""
    pages = {}
    for html in sorted(site.rglob("*.html")):
        path = html.relative_to(site).as_posix()
        if path.startswith("_static/"):  # the theme's template fragments, not pages
            continue
        pages[path], page = _visit(context, server, path)
        page.close()
    return pages


def _problems(crawl, what) -> dict[str, list]:
    return {path: found for path, page in crawl.items() if (found := what(page))}


# ----------------------------------------------------------------------------- every page
def test_site_has_every_page(crawl):
    expected = {"index.html", "course.html", "search.html"}
    expected |= {nb.relative_to(authoring.REPO_ROOT).with_suffix(".html").as_posix()
                 for nb in [*book.lectures(), *book.assignment_releases()]}
    assert len(book.lectures()) == 8 and len(book.assignment_releases()) == 3
    missing = expected - set(crawl)
    assert not missing, f"pages missing from the site: {sorted(missing)}"


def test_every_page_loads_without_console_errors(crawl):
    assert all(page.status == 200 for page in crawl.values()), {p: pg.status for p, pg in crawl.items()}
    errors = _problems(crawl, lambda page: page.console_errors + page.failed_requests)
    assert not errors, f"console errors or failed requests: {json.dumps(errors, indent=1)}"


def test_no_request_leaves_the_site(crawl, context):
    assert not context.outside_requests, f"requests outside the site: {sorted(set(context.outside_requests))}"


def test_every_image_is_loaded_with_a_real_size(crawl):
    bad = _problems(crawl, lambda page: [i for i in page.facts["images"]
                                         if not (i["complete"] and i["width"] > 1 and i["height"] > 1)])
    assert not bad, f"images not loaded: {bad}"
    figures = sum(1 for page in crawl.values() for i in page.facts["images"] if "/_images/" in i["src"])
    assert figures >= 20, f"only {figures} figures in the whole site"


def test_all_math_is_typeset_without_errors(crawl):
    bad = _problems(crawl, lambda page: page.facts["untypeset"] + page.facts["math_errors"])
    assert not bad, f"math left as TeX or typeset with errors: {bad}"


def test_every_internal_link_resolves(crawl, server, site):
    ids = {f"{server}/{path}": set(page.facts["ids"]) for path, page in crawl.items()}
    broken = {}
    for path, page in crawl.items():
        for link in page.facts["links"]:
            url, fragment = urldefrag(link)
            if not url.startswith(server + "/"):
                continue
            if url.endswith("/"):
                url += "index.html"
            file = site / unquote(urlsplit(url).path.lstrip("/"))
            if not file.is_file():
                broken.setdefault(path, []).append(link)
            elif fragment and url in ids and fragment not in ids[url]:
                broken.setdefault(path, []).append(link)
    assert not broken, f"internal links that resolve to nothing: {json.dumps(broken, indent=1)}"


# ----------------------------------------------------------------------------- what readers come for
def test_output_size_formula_is_typeset_on_the_arithmetic_page(context, server):
    page = context.new_page()
    page.goto(f"{server}/notebooks/01_convolution_basics.html", wait_until="load")
    page.wait_for_function(PAGE_READY, polling=200)
    found = page.evaluate("""async () => {
      await MathJax.startup.promise;
      const items = [...MathJax.startup.document.math];
      const formula = items.find(m => /n_\\{out\\} = \\\\left\\\\lfloor \\\\frac\\{n_\\{in\\} \\+ 2p - k\\}\\{s\\}/.test(m.math));
      if (!formula) return {count: items.length};
      const box = formula.typesetRoot.getBoundingClientRect();
      return {count: items.length, tex: formula.math, display: formula.display,
              rendered: formula.typesetRoot.tagName, width: box.width, height: box.height};
    }""")
    print(f"\noutput-size formula: {found}")
    assert found.get("tex"), f"no typeset output-size formula among the page's {found['count']} formulas"
    assert found["rendered"] == "MJX-CONTAINER" and found["display"]
    assert found["width"] > 150 and found["height"] > 20, found
    page.close()


def _saved_summaries(notebook: Path) -> list[str]:
    """The saved value of every widget carrying the `course-summary` class (the explorers' summaries)."""
    state = json.loads(notebook.read_text())["metadata"]["widgets"][
        "application/vnd.jupyter.widget-state+json"]["state"]
    return [m["state"]["value"] for m in state.values() if "course-summary" in m["state"].get("_dom_classes", [])]


def test_explorers_are_drawn_from_their_saved_state(crawl, context, server):
    drawn = {path: (page.facts["widget_views"], page.facts["widgets_drawn"])
             for path, page in crawl.items() if page.facts["widget_views"]}
    lectures = [f"notebooks/{nb.stem}.html" for nb in book.lectures()]
    assert set(drawn) == set(lectures), f"pages with explorers: {sorted(drawn)}"
    assert all(views == n for views, n in drawn.values()), f"(views, drawn) per page: {drawn}"

    page = context.new_page()
    page.goto(f"{server}/notebooks/01_convolution_basics.html", wait_until="load")
    page.wait_for_function(PAGE_READY, polling=200)
    explorer = page.locator(".course-explorer").first
    explorer.scroll_into_view_if_needed()
    summary = explorer.locator(".course-summary .widget-html-content").first.inner_html()
    saved = _saved_summaries(book.lectures()[0])
    assert saved and summary == saved[0], f"summary shown {summary!r}, saved {saved!r}"
    figure = explorer.locator("img").first
    box = figure.bounding_box()
    assert box and box["width"] > 100 and box["height"] > 100, f"the explorer's figure: {box}"
    note = page.locator(".course-widget-note").first
    assert "live on Colab" in note.inner_text() and "make lab" in note.inner_text()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    explorer.screenshot(path=SCREENSHOTS / "site-01-explorer.png")
    page.close()


def test_search_finds_the_receptive_field_page(context, server):
    page = context.new_page()
    page.goto(f"{server}/search.html?q=receptive+field", wait_until="load")
    results = page.locator("#search-results ul.search li a")
    page.wait_for_function("() => document.querySelectorAll('#search-results ul.search li').length > 0",
                           polling=200, timeout=30_000)
    hrefs = [results.nth(i).get_attribute("href") for i in range(results.count())]
    print(f"\nsearch 'receptive field': {hrefs}")
    top = [h.split("#")[0].split("?")[0] for h in hrefs[:3]]
    assert "notebooks/02_receptive_field.html" in top, hrefs
    page.close()


def test_notebook_pages_open_in_colab_and_download_the_notebook(crawl, server):
    for nb in book.lectures():
        page = crawl[f"notebooks/{nb.stem}.html"]
        assert authoring.colab_url(nb) in page.facts["links"], f"{nb.stem}: no Colab link {authoring.colab_url(nb)}"
        download = f"{server}/_sources/notebooks/{nb.name}"
        assert download in page.facts["links"], f"{nb.stem}: no download link to {download}"
    for nb in book.assignment_releases():
        rel = nb.relative_to(authoring.REPO_ROOT).as_posix()
        page = crawl[rel.replace(".ipynb", ".html")]
        assert f"{server}/_sources/{rel}" in page.facts["links"], f"{rel}: no download link"
        assert any(link.endswith(f"/blob/main/{rel}") and "colab" in link for link in page.facts["links"]), rel


def test_lectures_come_in_syllabus_order_with_previous_and_next(context, server):
    order = ["index", *[f"notebooks/{nb.stem}" for nb in book.lectures()]]
    page = context.new_page()
    for before, name, after in zip(order, order[1:], order[2:] + [None]):
        page.goto(f"{server}/{name}.html", wait_until="load")
        prev_link = page.locator("a.left-prev").get_attribute("href")
        assert Path(name).parent.joinpath(prev_link).as_posix().endswith(f"{Path(before).name}.html"), (name, prev_link)
        if after:
            next_link = page.locator("a.right-next").get_attribute("href")
            assert next_link.endswith(f"{Path(after).name}.html"), (name, next_link)
    page.close()


def test_screenshots_of_the_landing_and_receptive_field_pages(context, server):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page = context.new_page()
    for path, name in (("index.html", "site-landing.png"), ("notebooks/02_receptive_field.html", "site-02.png")):
        page.goto(f"{server}/{path}", wait_until="load")
        page.wait_for_function(PAGE_READY, polling=200)
        page.screenshot(path=SCREENSHOTS / name)
    print(f"\nscreenshots of the site: {SCREENSHOTS}")
    page.close()


# ----------------------------------------------------------------------------- no solution in the site
def _solution_lines() -> list[str]:
    """Distinctive lines of the assignments' solutions and hidden tests (nbgrader sources)."""
    region = re.compile(r"### BEGIN (SOLUTION|HIDDEN TESTS)\n(.*?)### END \1", re.S)
    lines = set()
    for name in list_assignments():
        for nb in (SOLUTIONS_DIR / name).glob("*.ipynb"):
            release = (book.REPO_ROOT / "assignments" / name / nb.name).read_text()
            for cell in json.loads(nb.read_text())["cells"]:
                for match in region.finditer("".join(cell["source"])):
                    for line in match.group(2).splitlines():
                        line = line.strip()
                        # Short or generic lines (`return out`) may legitimately be in the release.
                        if len(line) >= 30 and json.dumps(line)[1:-1] not in release and line not in release:
                            lines.add(line)
    return sorted(lines)


def _site_texts(site: Path):
    """Every text file of the site but the vendored and theme files: HTML as the text it shows."""
    for path in site.rglob("*"):
        if path.is_file() and path.suffix in {".html", ".js", ".ipynb", ".md", ".txt", ".json"} \
                and "_static" not in path.parts:
            text = path.read_text(errors="replace")
            if path.suffix == ".html":  # code is split into highlighted spans: read it without tags
                text = html.unescape(re.sub(r"<[^>]+>", "", text))
            yield path, text


def test_site_holds_no_solution_or_hidden_test_marker(site):
    found = [f"{path.relative_to(site)}: {marker}" for path, text in _site_texts(site)
             for marker in MARKERS if marker in text.upper()]
    assert not found, "nbgrader solution / hidden-test markers in the site:\n" + "\n".join(found)


def test_site_holds_no_line_of_a_solution_or_hidden_test(site):
    lines = _solution_lines()
    assert len(lines) >= 20, f"only {len(lines)} distinctive solution lines found in solutions/"
    leaks = [f"{path.relative_to(site)}: {line}" for path, text in _site_texts(site)
             for line in lines if line in text or json.dumps(line)[1:-1] in text]
    assert not leaks, "solution or hidden-test code in the site:\n" + "\n".join(leaks[:20])
