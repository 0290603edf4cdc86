"""The student edition: the book's notebooks and pages with every solution removed.

A solution is either a ``{solution}`` directive inside a markdown cell, or the run of
cells from a ``{solution-start}`` cell to its ``{solution-end}`` cell (sphinx-exercise's
gated syntax, used when a solution contains code). Exercise cells stay, with their
``check_*`` calls, so students still get instant feedback. MyST pages (``.md``) lose their
``{solution}`` blocks too.

Usage: ``python -m recsys_lab.classroom book student`` (``make student``).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
from pathlib import Path

_FENCE = re.compile(r"^(?P<fence>`{3,}|:{3,})\s*\{(?P<name>[\w-]+)\}")


def _remove_solution_directives(source: str) -> str:
    """Drop every fenced ``{solution}`` block (its fence may be ``` or :::) from markdown."""
    kept, skipping_fence = [], None
    for line in source.splitlines(keepends=True):
        stripped = line.strip()
        if skipping_fence is None:
            match = _FENCE.match(stripped)
            if match and match.group("name") == "solution":
                skipping_fence = match.group("fence")
                continue
            kept.append(line)
        elif stripped == skipping_fence:
            skipping_fence = None
    if skipping_fence is not None:
        raise ValueError("a {solution} block is not closed")
    return "".join(kept)


def _split_at_gate(source: str, gate: str) -> tuple[str, str] | None:
    """Split markdown around a fenced ``{gate}`` block: (text before it, text after it)."""
    lines = source.splitlines(keepends=True)
    for start, line in enumerate(lines):
        match = _FENCE.match(line.strip())
        if match and match.group("name") == gate:
            fence = match.group("fence")
            for end in range(start + 1, len(lines)):
                if lines[end].strip() == fence:
                    return "".join(lines[:start]), "".join(lines[end + 1:])
            raise ValueError(f"a {{{gate}}} block is not closed")
    return None


def strip_solutions(notebook: dict) -> dict:
    """Return a copy of a notebook (nbformat 4 JSON) without solutions.

    Text that shares a markdown cell with a gate (before ``{solution-start}``, after
    ``{solution-end}``) is kept. Raises ``ValueError`` if the gates do not pair up.
    """
    cells, inside = [], False

    def keep(cell, source):
        if source.strip():
            cells.append({**cell, "source": source})

    for cell in notebook["cells"]:
        source = "".join(cell["source"])
        if cell["cell_type"] != "markdown":
            if not inside:
                cells.append(cell)
            continue
        end = _split_at_gate(source, "solution-end")
        if end is not None:
            if not inside:
                raise ValueError("a {solution-end} has no {solution-start}")
            inside, source = False, end[1]
        elif inside:
            if _split_at_gate(source, "solution-start") is not None:
                raise ValueError("a {solution-start} opens inside another solution")
            continue
        start = _split_at_gate(source, "solution-start")
        if start is not None:
            inside, source = True, start[0]
        keep(cell, _remove_solution_directives(source))
    if inside:
        raise ValueError("a {solution-start} has no {solution-end}")
    return {**notebook, "cells": cells}


def write_student_edition(book: Path, destination: Path) -> list[Path]:
    """Copy ``book`` to ``destination`` with solutions stripped from every notebook and page.

    Returns the notebooks written (the pages are rewritten in place too).
    """
    book, destination = Path(book), Path(destination)
    if not book.is_dir():
        raise ValueError(f"{book} is not a folder of notebooks")
    if destination.exists():
        shutil.rmtree(destination)
    shutil.copytree(book, destination, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    written = []
    for path in sorted(destination.rglob("*.ipynb")):
        notebook = strip_solutions(json.loads(path.read_text(encoding="utf-8")))
        path.write_text(json.dumps(notebook, indent=1, ensure_ascii=False) + "\n",
                        encoding="utf-8")
        written.append(path)
    for path in sorted(destination.rglob("*.md")):
        text = path.read_text(encoding="utf-8")
        if _split_at_gate(text, "solution-start") is not None:
            raise ValueError(f"{path.name}: gated solutions belong in notebooks, not pages")
        path.write_text(_remove_solution_directives(text), encoding="utf-8")
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("book", type=Path)
    parser.add_argument("destination", type=Path)
    args = parser.parse_args(argv)
    written = write_student_edition(args.book, args.destination)
    print(f"student edition: {len(written)} notebooks without solutions in {args.destination}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
