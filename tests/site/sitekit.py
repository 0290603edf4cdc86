"""Drive headless Chromium over the built site: shared by the browser tests and screenshots.py.

The site in _build/html is served by a local http.server on 127.0.0.1 (a free port) and opened
in the Debian ``chromium`` (``make browser`` installs it) through Playwright, which is told to
use that executable and never downloads a browser of its own.  Every request that does not go
to the local server is recorded and aborted: the site must work offline.

Pages come from _toc.yml, so a new chapter is tested (and screenshotted) without any change here.
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[2]
# The built site; BOOK_SITE_DIR points the tests at another build of the same _toc.yml.
SITE = Path(os.environ.get("BOOK_SITE_DIR", ROOT / "_build" / "html"))
TOC = ROOT / "_toc.yml"
CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
BUILD_HINT = (
    "run the book build first: `make book` "
    "(or `.venv/bin/jupyter-book build . --warningiserror --keep-going`)"
)
SOURCE_SUFFIXES = (".ipynb", ".md", ".rst")

# Playwright adds --headless (headless=True) and a fresh temporary --user-data-dir of its own,
# which it deletes on close; every page also gets a fresh browser context (no cache, no storage),
# so each page is tested as a first-time visitor would see it.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    # Belt and braces: no host name resolves, so nothing can leave the machine even if a
    # request escaped Playwright's routing (the server is addressed as 127.0.0.1).
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
]
VIEWPORT = {"width": 1280, "height": 900}
SETTLE_TIMEOUT_MS = 20_000


class SiteNotBuilt(RuntimeError):
    """_build/html is missing: the book has not been built."""


# --------------------------------------------------------------------------- pages of the toc


@dataclass(frozen=True)
class TocPage:
    """One page of _toc.yml: its Sphinx docname and the source file it is built from."""

    docname: str
    source: Path | None

    @property
    def html(self) -> str:
        """Path of the built page relative to the site root."""
        return f"{self.docname}.html"


def _source_of(docname: str) -> Path | None:
    for suffix in SOURCE_SUFFIXES:
        path = ROOT / f"{docname}{suffix}"
        if path.is_file():
            return path
    return None


def toc_pages(toc: Path = TOC) -> list[TocPage]:
    """Every page _toc.yml lists, root first, in reading order (globs expanded, URLs skipped)."""
    from sphinx_external_toc.parsing import GlobItem, parse_toc_yaml

    site_map = parse_toc_yaml(toc)
    names: list[str] = []

    def visit(docname: str) -> None:
        if docname in names:
            return
        names.append(docname)
        for tree in site_map[docname].subtrees:
            for item in tree.items:
                if isinstance(item, GlobItem):
                    for match in sorted(ROOT.glob(str(item))):
                        if match.suffix in SOURCE_SUFFIXES:
                            rel = match.relative_to(ROOT).with_suffix("").as_posix()
                            if rel not in site_map:
                                names.append(rel)
                elif isinstance(item, str):  # a docname; URLItem is not a str
                    visit(item)

    visit(site_map.root.docname)
    return [TocPage(name, _source_of(name)) for name in names]


def require_site(site: Path = SITE) -> Path:
    """The built site, or SiteNotBuilt saying how to build it."""
    if not (site / "index.html").is_file():
        raise SiteNotBuilt(
            f"The website is not built ({site / 'index.html'} is missing): {BUILD_HINT}."
        )
    return site


def require_chromium() -> Path:
    if not os.access(CHROMIUM, os.X_OK):
        raise FileNotFoundError(f"{CHROMIUM} is missing: run `make browser` to install Chromium.")
    return CHROMIUM


# --------------------------------------------------------------------------- local web server


class _Handler(http.server.SimpleHTTPRequestHandler):
    extensions_map = {
        **http.server.SimpleHTTPRequestHandler.extensions_map,
        ".js": "text/javascript",
        ".mjs": "text/javascript",  # browsers refuse ES modules served with another type
        ".css": "text/css",
        ".svg": "image/svg+xml",
        ".woff": "font/woff",
        ".woff2": "font/woff2",
        ".ipynb": "application/x-ipynb+json",
    }

    def log_message(self, format, *args):  # quiet: the browser reports failures
        pass


@contextlib.contextmanager
def serve(site: Path = SITE) -> Iterator[str]:
    """Serve ``site`` on 127.0.0.1 at a free port; yields the base URL (ending in '/')."""
    handler = functools.partial(_Handler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="site-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


# --------------------------------------------------------------------------- browser


@contextlib.contextmanager
def chromium() -> Iterator[object]:
    """A headless Chromium (playwright Browser) started from the Debian package."""
    from playwright.sync_api import sync_playwright

    executable = require_chromium()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(executable), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()


def is_local(url: str, base_url: str) -> bool:
    """True for the local server, and for URLs that never touch the network."""
    scheme = urlsplit(url).scheme
    if scheme in ("data", "blob", "about"):
        return True
    return url.startswith(base_url)


@dataclass
class PageRecord:
    """What happened while one page loaded and settled."""

    url: str
    status: int | None = None
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    foreign_requests: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)
    dom: dict = field(default_factory=dict)
    toggles: list[dict] = field(default_factory=list)
    chart_controls: list[dict] = field(default_factory=list)
    downloads: list[dict] = field(default_factory=list)

    def problems(self) -> list[str]:
        """Everything that makes the page load unclean, one line each."""
        out = []
        if self.status != 200:
            out.append(f"HTTP status {self.status}")
        out += [f"console error: {m}" for m in self.console_errors]
        out += [f"uncaught exception: {m}" for m in self.page_errors]
        out += [f"request leaving localhost: {u}" for u in self.foreign_requests]
        out += [f"failed request: {u}" for u in self.failed_requests]
        return out


def new_context(browser, base_url: str, record: PageRecord):
    """A fresh browser context whose requests outside ``base_url`` are recorded and aborted."""
    context = browser.new_context(viewport=VIEWPORT, service_workers="block")

    def route(route):
        url = route.request.url
        if is_local(url, base_url):
            route.continue_()
        else:
            record.foreign_requests.append(url)
            route.abort("blockedbyclient")

    context.route("**/*", route)
    return context


def watch(page, record: PageRecord, base_url: str) -> None:
    """Record console errors, uncaught exceptions, failed requests and web sockets of ``page``."""

    def on_console(message):
        if message.type == "error":
            where = message.location or {}
            record.console_errors.append(
                f"{message.text} ({where.get('url', '?')}:{where.get('lineNumber', '?')})"
            )

    def on_response(response):
        if response.status >= 400:
            record.failed_requests.append(f"{response.status} {response.url}")

    def on_request_failed(request):
        # Aborted foreign requests are already recorded; a 4xx/5xx is reported by on_response.
        if is_local(request.url, base_url) and not any(
            line.endswith(" " + request.url) for line in record.failed_requests
        ):
            record.failed_requests.append(f"{request.failure} {request.url}")

    def on_websocket(ws):
        if not is_local(ws.url.replace("ws://", "http://", 1), base_url):
            record.foreign_requests.append(ws.url)

    page.on("console", on_console)
    page.on("pageerror", lambda error: record.page_errors.append(error.stack or str(error)))
    page.on("response", on_response)
    page.on("requestfailed", on_request_failed)
    page.on("websocket", on_websocket)


# Runs in the page after the load event: waits (bounded) for what renders asynchronously —
# MathJax, mermaid, embedded ipywidgets, images — then reports what the DOM holds.
SETTLE_JS = """
async (timeoutMs) => {
  const deadline = Date.now() + timeoutMs;
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  const waitFor = async (done) => { while (!done() && Date.now() < deadline) await sleep(50); };
  const viewScripts = () => [...document.querySelectorAll(
    'script[type="application/vnd.jupyter.widget-view+json"]')];
  const rendered = (s) => {
    const box = s.previousElementSibling;
    return !!(box && box.classList.contains('widget-subarea') && box.children.length);
  };
  // Images: load lazy ones too, and wait until every one has finished (or failed).
  for (const img of document.images) img.loading = 'eager';
  const images = Promise.all([...document.images].map((img) => img.complete ? null :
    new Promise((r) => { img.addEventListener('load', r); img.addEventListener('error', r); })));
  await Promise.race([images, sleep(timeoutMs)]);
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
    await Promise.race([MathJax.startup.promise.catch(() => null), sleep(timeoutMs)]);
  }
  // sphinxcontrib-mermaid marks a failed diagram; mermaid fills its <svg> in progressively.
  const drawn = (m) => !!m.querySelector('svg path, svg rect, svg text, svg foreignObject');
  // A diagram in a hidden block (e.g. a closed solution) is deferred until it is shown.
  const finished = (m) => m.hasAttribute('data-mermaid-render-failed')
    || m.hasAttribute('data-mermaid-deferred')
    || (m.getAttribute('data-processed') === 'true' && drawn(m));
  await waitFor(() => [...document.querySelectorAll('.mermaid')].every(finished));
  await waitFor(() => viewScripts().every(rendered));
  // In-page charts (vega-charts.js) mark themselves rendered, or error, when drawn.
  await waitFor(() => [...document.querySelectorAll('.recsys-chart')]
    .every((c) => c.dataset.rendered));
  if (document.fonts) await Promise.race([document.fonts.ready, sleep(timeoutMs)]);
  await sleep(100);  // let late console errors arrive
  const maths = [...document.querySelectorAll('.math')];
  // How a diagram reads on screen: the size its labels are drawn at (font size times the
  // scale from the SVG's user units to CSS pixels; a wide drawing is shrunk into the column)
  // and whether it sticks out of the text column or makes anything scroll sideways.
  const diagramFit = (m, svg) => {
    if (!svg || !drawn(m)) return {labelPx: null, width: 0, naturalWidth: 0, columnWidth: 0,
                                   overflows: false};
    const sizes = [];
    for (const holder of svg.querySelectorAll('foreignObject, text')) {
      const ctm = holder.getScreenCTM();
      if (!ctm) continue;
      const scale = Math.hypot(ctm.a, ctm.b);
      const leaves = [holder, ...holder.querySelectorAll('*')].filter((el) =>
        [...el.childNodes].some((n) => n.nodeType === Node.TEXT_NODE && n.textContent.trim()));
      for (const el of leaves) sizes.push(parseFloat(getComputedStyle(el).fontSize) * scale);
    }
    // The text column: the article's content box (inside its padding).
    const column = m.closest('article, main') || document.body;
    const outer = column.getBoundingClientRect();
    const style = getComputedStyle(column);
    const columnBox = {left: outer.left + parseFloat(style.paddingLeft),
                       right: outer.right - parseFloat(style.paddingRight)};
    columnBox.width = columnBox.right - columnBox.left;
    const box = svg.getBoundingClientRect();
    let scrolls = false;  // a box between the diagram and the column that scrolls sideways
    for (let el = svg.parentElement; el && el !== column.parentElement; el = el.parentElement) {
      if (el.scrollWidth > el.clientWidth + 1 && getComputedStyle(el).overflowX !== 'visible') {
        scrolls = true;
      }
    }
    return {
      labelPx: sizes.length ? Math.round(Math.min(...sizes) * 10) / 10 : null,
      width: Math.round(box.width),
      naturalWidth: Math.round(svg.viewBox.baseVal ? svg.viewBox.baseVal.width : 0),
      columnWidth: Math.round(columnBox.width),
      overflows: scrolls || box.left < columnBox.left - 1
        || box.right > columnBox.right + 1,
    };
  };
  return {
    // Font faces the page asked for that failed to load or decode (an icon font among them
    // shows as empty squares), as "family (weight style)".
    failedFonts: document.fonts ? [...document.fonts].filter((f) => f.status === 'error')
      .map((f) => `${f.family} (${f.weight} ${f.style})`) : [],
    title: document.title,
    math: {
      elements: maths.length,
      typeset: maths.filter((m) => m.querySelector('mjx-container')).length,
      containers: document.querySelectorAll('mjx-container').length,
      errors: [...document.querySelectorAll('mjx-merror')].map((e) => e.textContent.slice(0, 200)),
      raw: maths.filter((m) => !m.querySelector('mjx-container'))
                .map((m) => m.textContent.trim().slice(0, 120)),
    },
    images: [...document.images].map((img) => ({
      src: img.getAttribute('src'), complete: img.complete, naturalWidth: img.naturalWidth,
      alt: img.getAttribute('alt') || '', output: img.closest('.cell_output') !== null })),
    mermaid: [...document.querySelectorAll('.mermaid')].map((m) => {
      const svg = m.querySelector('svg');
      return {
        svg: !!svg && drawn(m),
        error: m.hasAttribute('data-mermaid-render-failed') || (!!svg && (
          svg.getAttribute('aria-roledescription') === 'error'
          || /Syntax error/i.test(svg.textContent))),
        deferred: m.hasAttribute('data-mermaid-deferred'),
        source: (m.getAttribute('data-original-code') || '').trim().slice(0, 80),
        // The box the page gives the diagram and the drawing inside it, in CSS pixels.
        boxHeight: svg ? svg.getBoundingClientRect().height : 0,
        drawingHeight: svg && svg.querySelector('g')
          ? svg.querySelector('g').getBoundingClientRect().height : 0,
        buttons: m.parentElement ? m.parentElement.querySelectorAll('button').length : 0,
        ...diagramFit(m, svg),
      };
    }),
    widgets: {
      stateEmbedded: !!document.querySelector(
        'script[type="application/vnd.jupyter.widget-state+json"]'),
      views: viewScripts().map((s) => {
        const box = s.previousElementSibling;
        const ok = rendered(s);
        return {
          model: (JSON.parse(s.textContent || '{}').model_id) || null,
          rendered: ok,
          widgetClasses: ok ? box.querySelectorAll('.jupyter-widgets').length : 0,
          // html-manager's ErrorWidgetView shows one of these instead of the widget
          errors: ok && /Failed to (create view|load model class|load view class)/
            .test(box.textContent),
          controls: ok ? box.querySelectorAll('input, button, select, .widget-slider').length : 0,
        };
      }),
    },
    charts: [...document.querySelectorAll('.recsys-chart')].map((c) => ({
      label: c.getAttribute('aria-label'),
      rendered: c.dataset.rendered || null,
      marks: c.querySelectorAll('svg .mark-line path, svg .mark-symbol path').length,
      controls: c.querySelectorAll('.vega-bindings select, .vega-bindings input').length,
    })),
    solutions: document.querySelectorAll('.solution.dropdown, .admonition.dropdown').length,
    downloads: [...document.querySelectorAll(
      '.dropdown-download-buttons a.btn-download-source-button')].map((a) => a.href),
  };
}
"""


def settle(page) -> dict:
    """Wait for the page's asynchronous rendering; return the DOM summary (see SETTLE_JS)."""
    return page.evaluate(SETTLE_JS, SETTLE_TIMEOUT_MS)


def open_page(context, url: str, record: PageRecord, base_url: str, settled: bool = True):
    """Load ``url`` in a new page of ``context``, settle it, fill ``record``; returns the page."""
    page = context.new_page()
    watch(page, record, base_url)
    response = page.goto(url, wait_until="load")
    record.status = response.status if response else None
    if settled:
        record.dom = settle(page)
    return page


@contextlib.contextmanager
def visit(
    browser, base_url: str, path: str, settled: bool = True
) -> Iterator[tuple[object, PageRecord]]:
    """Open ``base_url + path`` in a fresh context; yields (page, record), closes afterwards.

    ``settled=False`` skips waiting for asynchronous rendering (for a page that redirects).
    """
    record = PageRecord(url=base_url + path)
    context = new_context(browser, base_url, record)
    try:
        page = open_page(context, record.url, record, base_url, settled)
        yield page, record
    finally:
        context.close()


def exercise_toggles(page, record: PageRecord, timeout_ms: int = 3_000) -> None:
    """Click every dropdown's toggle button twice; record whether it opened, then closed.

    The button (the chevron sphinx-togglebutton adds to the title) is what a reader clicks; the
    centre of the title is often the link back to the exercise, which does not toggle.
    """
    dropdowns = page.locator(".solution.dropdown, .admonition.dropdown")
    for i in range(dropdowns.count()):
        box = dropdowns.nth(i)
        title = box.locator(":scope > .admonition-title")
        button = title.locator("button.toggle-button")
        body = box.locator(":scope > .admonition-title ~ *").first
        result = {"id": box.get_attribute("id"), "title": title.inner_text().strip()[:80]}
        try:
            result["button"] = button.count() == 1
            result["hidden_at_start"] = not body.is_visible()
            button.click(timeout=timeout_ms)
            body.wait_for(state="visible", timeout=timeout_ms)
            result["shown_after_click"] = body.is_visible()
            button.click(timeout=timeout_ms)
            body.wait_for(state="hidden", timeout=timeout_ms)
            result["hidden_after_second_click"] = not body.is_visible()
        except Exception as error:  # reported by the test
            result["error"] = f"{type(error).__name__}: {str(error).splitlines()[0]}"
        record.toggles.append(result)


def check_downloads(context, record: PageRecord) -> None:
    """Fetch each download-source link of the page header; record status and body."""
    for href in record.dom.get("downloads", []):
        entry = {"href": href}
        try:
            response = context.request.get(href)
            entry["status"] = response.status
            entry["body"] = response.body() if response.ok else b""
        except Exception as error:  # reported by the test
            entry["status"] = None
            entry["error"] = str(error)
            entry["body"] = b""
        record.downloads.append(entry)


def exercise_charts(page, record: PageRecord, timeout_ms: int = 3_000) -> None:
    """Move every control of every in-page chart to another value; record whether it redrew.

    A chart's drawing is its SVG; a control that leaves it unchanged is a dead control.
    """
    charts = page.locator(".recsys-chart")
    for i in range(charts.count()):
        chart = charts.nth(i)
        controls = chart.locator(".vega-bindings select, .vega-bindings input")
        for j in range(controls.count()):
            control = controls.nth(j)
            result = {"chart": i, "control": control.get_attribute("name")}
            try:
                before = chart.locator("svg").first.inner_html(timeout=timeout_ms)
                if control.evaluate("el => el.tagName") == "SELECT":
                    options = control.locator("option")
                    values = [options.nth(k).get_attribute("value")
                              for k in range(options.count())]
                    current = control.input_value()
                    other = next((v for v in values if v != current), None)
                    if other is None:
                        result["error"] = "a dropdown with a single choice"
                        record.chart_controls.append(result)
                        continue
                    control.select_option(other, timeout=timeout_ms)
                else:  # a slider: to its maximum (or minimum) and let Vega redraw
                    control.evaluate("el => { el.value = el.value === el.max ? el.min : el.max;"
                                     " el.dispatchEvent(new Event('input', {bubbles: true})); }")
                page.wait_for_timeout(300)
                result["changed"] = chart.locator("svg").first.inner_html() != before
            except Exception as error:  # reported by the test
                result["error"] = f"{type(error).__name__}: {str(error).splitlines()[0]}"
            record.chart_controls.append(result)
