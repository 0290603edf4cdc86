"""Browser tests of the built website (headless Chromium, served from 127.0.0.1, offline).

Pages come from _toc.yml: a new chapter is covered without touching this file.
Run after the book build: `.venv/bin/pytest tests/site`.
"""

from __future__ import annotations

import json
import re
from urllib.parse import urlsplit

import nbformat
import pytest
import sitekit

PAGES = sitekit.toc_pages()
SEARCH_TERM = "EASE"  # taught in chapter 1 and on the leaderboard


def by_docname(pages):
    return pytest.mark.parametrize("page", pages, ids=[p.docname for p in pages])


def lines(items) -> str:
    return "\n  " + "\n  ".join(str(i) for i in items)


def test_toc_lists_pages():
    assert PAGES, "_toc.yml lists no pages"
    assert all(p.source is not None for p in PAGES), [p.docname for p in PAGES if p.source is None]


@by_docname(PAGES)
def test_page_loads_offline_without_errors(page, page_record):
    """HTTP 200, no console error, no uncaught exception, no failed or non-local request."""
    record = page_record(page)
    problems = record.problems()
    assert not problems, f"{page.html}:{lines(problems)}"


@by_docname(PAGES)
def test_math_is_typeset(page, page_record):
    """Every Sphinx math element is rendered by MathJax (mjx-container), with no TeX error."""
    math = page_record(page).dom["math"]
    assert not math["raw"], f"{page.html}: math left untypeset:{lines(math['raw'])}"
    assert math["typeset"] == math["elements"]
    assert not math["errors"], f"{page.html}: MathJax errors:{lines(math['errors'])}"


def test_some_page_has_math(all_records):
    counts = {name: r.dom["math"]["containers"] for name, r in all_records.items()}
    assert any(counts.values()), f"no typeset math on any page: {counts}"


@by_docname(PAGES)
def test_every_image_loads(page, page_record):
    broken = [i["src"] for i in page_record(page).dom["images"] if not i["naturalWidth"] > 0]
    assert not broken, f"{page.html}: images that did not load:{lines(broken)}"


@by_docname(PAGES)
def test_output_figures_have_alt_text(page, page_record):
    """Every figure a notebook cell draws carries a description (its cell's mystnb.image.alt).

    Without one, Sphinx writes the image's own path as its alt text, which tells a screen
    reader nothing.
    """
    bare = [i["src"] for i in page_record(page).dom["images"]
            if i["output"] and (not i["alt"] or i["alt"] == i["src"] or i["alt"].endswith(".png"))]
    assert not bare, f"{page.html}: output figures without alt text:{lines(bare)}"


@by_docname(PAGES)
def test_no_cell_output_went_to_stderr(page, site):
    """Readers see results, not warnings or log lines: no executed cell wrote to stderr."""
    blocks = (site / page.html).read_text(encoding="utf-8").split('class="output stderr')[1:]
    shown = [re.sub(r"<[^>]*>", "", block)[:200].strip() for block in blocks]
    assert not shown, f"{page.html}: a cell's stderr is shown:{lines(shown)}"


@by_docname(PAGES)
def test_solution_dropdowns_toggle(page, page_record):
    """Each dropdown solution starts hidden, opens on a click on its title, closes on another."""
    record = page_record(page)
    assert len(record.toggles) == record.dom["solutions"]
    bad = [
        t
        for t in record.toggles
        if t.get("error")
        or not (
            t.get("button")
            and t.get("hidden_at_start")
            and t.get("shown_after_click")
            and t.get("hidden_after_second_click")
        )
    ]
    assert not bad, f"{page.html}: dropdowns that do not toggle:{lines(bad)}"


def test_some_page_has_solution_dropdowns(all_records):
    counts = {name: len(r.toggles) for name, r in all_records.items()}
    assert any(counts.values()), f"no exercise solution dropdown on any page: {counts}"


@by_docname(PAGES)
def test_embedded_widgets_render(page, page_record):
    """Widget views saved in the page render from the embedded state into widget DOM."""
    widgets = page_record(page).dom["widgets"]
    views = widgets["views"]
    if views:
        assert widgets["stateEmbedded"], (
            f"{page.html} has {len(views)} widget view(s) but no embedded widget state"
        )
    bad = [v for v in views if not (v["rendered"] and v["widgetClasses"] and v["controls"])]
    assert not bad, f"{page.html}: widget views that did not render:{lines(bad)}"
    errors = [v for v in views if v["errors"]]
    assert not errors, f"{page.html}: widget views rendered with errors:{lines(errors)}"


@by_docname(PAGES)
def test_no_widget_controls_on_the_site(page, page_record):
    """A live explorer needs a kernel: on the website its output is removed (tag remove-output)
    and an in-page chart takes its place, so no slider or button sits there doing nothing."""
    views = page_record(page).dom["widgets"]["views"]
    assert not views, f"{page.html} shows {len(views)} widget(s) that cannot run here"


def _explorer_pages():
    return [p for p in PAGES if p.source is not None and p.source.suffix == ".ipynb"
            and "explorer(" in p.source.read_text()]


@by_docname(_explorer_pages())
def test_every_explorer_has_an_in_page_chart(page, page_record):
    charts = page_record(page).dom["charts"]
    assert charts, f"{page.html} has a live explorer but no in-page chart of its sweep"


@by_docname(PAGES)
def test_in_page_charts_render_and_respond(page, page_record):
    record = page_record(page)
    charts = record.dom["charts"]
    bad = [c for c in charts if c["rendered"] != "true" or not c["marks"] or not c["controls"]]
    assert not bad, f"{page.html}: charts not drawn, empty or without controls:{lines(bad)}"
    dead = [c for c in record.chart_controls if not c.get("changed")]
    assert not dead, f"{page.html}: chart controls that changed nothing:{lines(dead)}"
    assert len(record.chart_controls) == sum(c["controls"] for c in charts)


def test_explorer_pages_exist():
    assert _explorer_pages(), "no chapter has an explorer: the chart tests would test nothing"


@by_docname(PAGES)
def test_mermaid_diagrams_render(page, page_record):
    diagrams = page_record(page).dom["mermaid"]
    # Deferred: inside a hidden block; sphinxcontrib-mermaid draws it when it is shown.
    bad = [d for d in diagrams if d["error"] or not (d["svg"] or d["deferred"])]
    assert not bad, f"{page.html}: mermaid diagrams that did not render:{lines(bad)}"


@by_docname(PAGES)
def test_mermaid_diagrams_fit_their_drawing_and_carry_no_button(page, page_record):
    """A diagram's box is as tall as its drawing (not a fixed box, mostly empty), and no
    full-screen button sits beside it (its icon glyph is missing from the offline fonts)."""
    drawn = [d for d in page_record(page).dom["mermaid"] if d["svg"]]
    loose = [d for d in drawn if d["boxHeight"] > 1.25 * d["drawingHeight"] + 20]
    assert not loose, f"{page.html}: diagram boxes far taller than their drawing:{lines(loose)}"
    buttons = [d for d in drawn if d["buttons"]]
    assert not buttons, f"{page.html}: buttons beside diagrams:{lines(buttons)}"


# The smallest label, in CSS pixels on screen, that reads at normal zoom; mermaid draws labels
# at 16 px, so a diagram may be shrunk to about 80 % of its natural width and no further.
LEGIBLE_LABEL_PX = 13


@by_docname(PAGES)
def test_mermaid_labels_are_legible_and_the_diagram_fits_the_column(page, page_record):
    """Every drawn diagram's labels are at least 13 px on screen (a drawing wider than the
    column is shrunk into it, and its text with it), and the diagram stays inside the text
    column without sideways scrolling."""
    drawn = [d for d in page_record(page).dom["mermaid"] if d["svg"]]
    unmeasured = [d for d in drawn if d["labelPx"] is None]
    assert not unmeasured, f"{page.html}: diagrams with no label to measure:{lines(unmeasured)}"
    small = [d for d in drawn if d["labelPx"] < LEGIBLE_LABEL_PX]
    assert not small, (
        f"{page.html}: diagram labels under {LEGIBLE_LABEL_PX} px on screen (draw the diagram "
        f"narrower: top to bottom, shorter labels, fewer nodes per rank):{lines(small)}"
    )
    overflowing = [d for d in drawn if d["overflows"]]
    assert not overflowing, f"{page.html}: diagrams wider than the text column:{lines(overflowing)}"


@by_docname(PAGES)
def test_every_font_loads(page, page_record):
    """No font face the page uses failed to load or decode (an icon font that fails shows
    its glyphs as empty squares); a missing font file is also a failed request above."""
    failed = page_record(page).dom["failedFonts"]
    assert not failed, f"{page.html}: fonts that failed to load:{lines(failed)}"


def test_harness_catches_a_font_that_fails_to_load(site, base_url, browser):
    """Guard the guard: an icon font whose file is missing is reported twice, as a failed
    request (the page-load test) and as a failed font face (test_every_font_loads)."""
    with sitekit.visit(browser, base_url, PAGES[-1].html) as (tab, record):
        tab.evaluate(
            """async () => {
                 const style = document.createElement('style');
                 style.textContent = "@font-face { font-family: 'Probe Icons'; "
                   + "src: url('/_static/probe-icons-missing.woff2') format('woff2'); }";
                 document.head.appendChild(style);
                 const icon = document.createElement('i');
                 icon.style.fontFamily = "'Probe Icons'";
                 icon.textContent = '\uf00c';
                 document.body.appendChild(icon);
                 await document.fonts.load("16px 'Probe Icons'").catch(() => null);
               }"""
        )
        dom = sitekit.settle(tab)
    assert any(p.endswith("/_static/probe-icons-missing.woff2") for p in record.problems())
    assert [f for f in dom["failedFonts"] if f.startswith("Probe Icons")], dom["failedFonts"]


def test_some_page_has_a_mermaid_diagram(all_records):
    counts = {name: sum(d["svg"] for d in r.dom["mermaid"]) for name, r in all_records.items()}
    assert any(counts.values()), f"no mermaid diagram on any page: {counts}"


@by_docname(PAGES)
def test_download_source_link(page, page_record):
    """The header's download button serves the page's source; a notebook's is a valid .ipynb."""
    record = page_record(page)
    assert len(record.downloads) == 1, f"{page.html}: download-source links: {record.downloads}"
    download = record.downloads[0]
    assert download["status"] == 200, f"{page.html}: {download['href']} -> {download}"
    path = urlsplit(download["href"]).path
    assert path.endswith(page.source.name), f"{page.html}: {path} is not {page.source.name}"
    if page.source.suffix == ".ipynb":
        notebook = nbformat.reads(download["body"].decode("utf-8"), as_version=4)
        nbformat.validate(notebook)
        assert notebook.cells, f"{download['href']} has no cells"
        original = json.loads(page.source.read_text(encoding="utf-8"))
        assert len(notebook.cells) == len(original["cells"]), (
            f"{download['href']} is not the notebook {page.source.name}; the build is stale: "
            f"{sitekit.BUILD_HINT}"
        )


def test_links_to_the_package_pages_land_on_an_entry_and_every_model_has_one(site):
    """A chapter that sends the reader to a docstring (SASRec's search record, say) links to
    its entry on the package pages (book/package*.md), and each registry row's class has one."""
    from recsys_lab import registry

    anchors = {path.name: set(re.findall(r'id="([^"]+)"', path.read_text(encoding="utf-8")))
               for path in (site / "book").glob("package*.html")}
    assert anchors, "no package pages were built"
    broken, linked = [], 0
    for path in (site / "book").glob("*.html"):
        for target, anchor in re.findall(r'href="(package[\w]*\.html)#([^"]+)"',
                                         path.read_text(encoding="utf-8")):
            linked += 1
            if anchor not in anchors.get(target, ()):
                broken.append(f"{path.name} -> {target}#{anchor}")
    assert linked and not broken, f"links to no entry:{lines(broken)}"
    documented = set().union(*anchors.values())
    missing = {entry.factory for protocol in registry.PROTOCOLS
               for entry in registry.entries(protocol)
               if entry.factory.replace(":", ".") not in documented}
    assert not missing, f"registry classes without an entry:{lines(sorted(missing))}"


def test_search_finds_known_term(site, base_url, browser):
    """Sphinx's JavaScript search on search.html?q=EASE lists pages of the book."""
    toc_html = {p.html for p in PAGES}
    with sitekit.visit(browser, base_url, f"search.html?q={SEARCH_TERM}") as (tab, record):
        tab.wait_for_function(
            "() => /Search finished/.test(document.querySelector('#search-results')?.innerText)",
            timeout=15_000,
        )
        links = tab.eval_on_selector_all(
            "#search-results ul.search li a", "els => els.map(a => a.href)"
        )
    problems = record.problems()
    assert not problems, f"search.html:{lines(problems)}"
    hits = {urlsplit(h).path.lstrip("/") for h in links} & toc_html
    assert hits, f"searching {SEARCH_TERM!r} found no page of the book: {links}"


def test_index_redirects_to_the_first_page(site, base_url, browser):
    with sitekit.visit(browser, base_url, "index.html", settled=False) as (tab, record):
        tab.wait_for_url(f"**/{PAGES[0].html}", timeout=10_000)
        tab.wait_for_load_state("load")
    assert not record.problems(), f"index.html:{lines(record.problems())}"


def test_harness_catches_requests_leaving_localhost(site, base_url, browser):
    """Guard the guard: a request to another host is aborted and recorded, not let through."""
    with sitekit.visit(browser, base_url, PAGES[-1].html) as (tab, record):
        outcome = tab.evaluate(
            """async () => {
                 try { await fetch('https://example.org/probe.js'); return 'fetched'; }
                 catch (e) { return 'blocked'; }
               }"""
        )
    assert outcome == "blocked"
    assert record.foreign_requests == ["https://example.org/probe.js"]


CHART_PAGE = "book/01_data_and_evaluation.html"  # the first chapter with an explorer


def _chart_state(page) -> dict:
    page.wait_for_function(
        "() => [...document.querySelectorAll('.recsys-chart')].length > 0 && "
        "[...document.querySelectorAll('.recsys-chart')].every((c) => c.dataset.rendered)",
        timeout=sitekit.SETTLE_TIMEOUT_MS)
    return page.evaluate("""() => {
      const chart = document.querySelector('.recsys-chart');
      const svg = chart.querySelector('svg');
      const background = svg.querySelector('rect.background, .role-frame path, rect');
      return {rendered: chart.dataset.rendered, svg: svg.outerHTML.length,
              background: getComputedStyle(svg).backgroundColor + ' ' +
                (svg.querySelector('rect') ? svg.querySelector('rect').getAttribute('fill') : ''),
              text: [...svg.querySelectorAll('text')].map((t) => t.getAttribute('fill')).join()};
    }""")


def test_charts_follow_the_dark_theme(site, base_url, browser):
    with sitekit.visit(browser, base_url, CHART_PAGE) as (page, record):
        light = _chart_state(page)
        page.evaluate("document.documentElement.dataset.theme = 'dark'")
        page.wait_for_timeout(1_000)
        dark = _chart_state(page)
    assert light["rendered"] == dark["rendered"] == "true"
    assert (light["background"], light["text"]) != (dark["background"], dark["text"]), (
        "the chart looks the same in the dark theme")
    assert not record.problems(), lines(record.problems())


def test_charts_render_from_a_page_opened_from_disk(site, browser):
    path = (site / CHART_PAGE).resolve()
    record = sitekit.PageRecord(url=path.as_uri())
    context = sitekit.new_context(browser, "file://", record)
    try:
        page = context.new_page()
        sitekit.watch(page, record, "file://")
        page.goto(record.url, wait_until="load")
        state = _chart_state(page)
    finally:
        context.close()
    assert state["rendered"] == "true" and state["svg"] > 1_000
    assert not record.console_errors and not record.page_errors, lines(
        record.console_errors + record.page_errors)
