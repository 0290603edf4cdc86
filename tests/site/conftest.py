"""Fixtures of the browser tests: the built site served on 127.0.0.1, one headless Chromium.

Run after the book build (`make test` does): `.venv/bin/pytest tests/site`.
A missing build or a missing Chromium fails the tests (never skips them).
"""

from __future__ import annotations

import pytest
import sitekit


@pytest.fixture(scope="session")
def site():
    """The built site directory; fails with the build command when it is missing."""
    try:
        return sitekit.require_site()
    except sitekit.SiteNotBuilt as error:
        pytest.fail(str(error), pytrace=False)


@pytest.fixture(scope="session")
def base_url(site):
    """http://127.0.0.1:<free port>/ serving _build/html; stopped at the end of the session."""
    with sitekit.serve(site) as url:
        yield url


@pytest.fixture(scope="session")
def browser():
    try:
        sitekit.require_chromium()
    except FileNotFoundError as error:
        pytest.fail(str(error), pytrace=False)
    with sitekit.chromium() as chromium:
        yield chromium


@pytest.fixture(scope="session")
def page_record(site, base_url, browser):
    """page_record(toc_page) -> PageRecord: each page is loaded once per session.

    One visit per page does everything the tests then assert on: the load (console, network),
    the rendered DOM (math, images, mermaid, widgets), clicking every solution dropdown, and
    fetching the header's download links.  Keeps the suite fast as chapters are added.
    """
    cache: dict[str, sitekit.PageRecord | str] = {}

    def visit(page: sitekit.TocPage) -> sitekit.PageRecord | str:
        if not (site / page.html).is_file():
            return (
                f"{page.html} is listed in _toc.yml but not in {site}: the build is older "
                f"than _toc.yml; {sitekit.BUILD_HINT}."
            )
        try:
            with sitekit.visit(browser, base_url, page.html) as (tab, record):
                sitekit.exercise_toggles(tab, record)
                sitekit.exercise_charts(tab, record)
                sitekit.check_downloads(tab.context, record)
        except Exception as error:  # e.g. a timeout: fail this page's tests once, fast
            return f"{page.html} could not be loaded: {type(error).__name__}: {error}"
        return record

    def get(page: sitekit.TocPage) -> sitekit.PageRecord:
        if page.docname not in cache:
            cache[page.docname] = visit(page)
        result = cache[page.docname]
        if isinstance(result, str):
            pytest.fail(result, pytrace=False)
        return result

    return get


@pytest.fixture(scope="session")
def all_records(site, page_record):
    """{docname: PageRecord} of every built page in _toc.yml (a missing one fails its tests)."""
    return {
        page.docname: page_record(page)
        for page in sitekit.toc_pages()
        if (site / page.html).is_file()
    }
