"""Full-page screenshots of every page in _toc.yml, for a person to look at (`make screenshots`).

    .venv/bin/python tests/site/screenshots.py [--out _build/screenshots]

Serves the built site (_build/html, or $BOOK_SITE_DIR) on 127.0.0.1, opens each page in headless
Chromium exactly as the browser tests do (offline, fresh profile), waits for math, diagrams and
widgets to render, and writes NN_<page>.png in reading order.  Problems seen while loading are
printed, but the browser tests (`pytest tests/site`) are what judges the site.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import sitekit

DEFAULT_OUT = sitekit.ROOT / "_build" / "screenshots"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="folder for the PNGs")
    args = parser.parse_args(argv)
    try:
        site = sitekit.require_site()
        sitekit.require_chromium()
    except (sitekit.SiteNotBuilt, FileNotFoundError) as error:
        print(f"screenshots: {error}", file=sys.stderr)
        return 1

    args.out.mkdir(parents=True, exist_ok=True)
    for old in args.out.glob("*.png"):
        old.unlink()
    pages = sitekit.toc_pages()
    missing = 0
    with sitekit.serve(site) as base_url, sitekit.chromium() as browser:
        for number, page in enumerate(pages):
            if not (site / page.html).is_file():
                print(f"MISSING {page.html}: not built; {sitekit.BUILD_HINT}", file=sys.stderr)
                missing += 1
                continue
            target = args.out / f"{number:02d}_{page.docname.replace('/', '__')}.png"
            with sitekit.visit(browser, base_url, page.html) as (tab, record):
                tab.screenshot(path=str(target), full_page=True)
            problems = record.problems()
            print(f"{target}  ({len(problems)} problem(s) while loading)")
            for line in problems:
                print(f"    {line.splitlines()[0]}")
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
