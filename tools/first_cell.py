"""The set-up guard that opens every chapter: what a notebook needs outside the repository.

    python tools/first_cell.py [--check] [NOTEBOOK ...]      (default: book/*.ipynb)

The website's download button, its Colab and Binder buttons and a copied ``.ipynb`` all give a
notebook without the repository around it, where ``from recsys_lab.chapter import ...`` would
fail with a bare ``ModuleNotFoundError``. So every chapter's first code cell is this guard. It
imports nothing from the repository; with ``recsys_lab`` importable (``make lab``, Binder, an
installed wheel) it does nothing; on Colab it installs the package from the repository with
``%pip``; anywhere else it raises an error that says what to do and names the repository.

The canonical text is made here from ``_config.yml`` (``repository.url`` and ``branch``), and
this command inserts it into each notebook before the first code cell, or updates the cell
already there (found by its id, :data:`CELL_ID`): running it twice changes nothing. Notebooks
are written as the repository keeps them (``nbformat``'s layout: one-space indent, sorted keys,
UTF-8 characters as they are, a final newline). The cell carries the ``remove-cell`` tag, which
myst-nb honours: the website, which has no use for it, does not show it, while the notebook
(downloaded, on Colab, in the student edition) keeps it. With ``--check`` nothing is written
and the exit status is 1 when a notebook lacks the current guard.

A tool for the book's authors, not part of ``recsys_lab``: the guard runs where ``recsys_lab``
is missing, so its text cannot live in the package it checks for.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "_config.yml"

CELL_ID = "setup-guard"
"""The guard's cell id, by which an existing guard is found and updated."""

TAGS = ["remove-cell"]
"""myst-nb drops a cell with this tag from the page; it still runs when the book is built."""

EXTRAS = "models,widgets"
"""recsys_lab's optional dependencies that the chapters use (Keras models, explorers)."""

ALSO_NEEDED = "myst-nb"
"""Imported by every chapter (``glue``), but no dependency of recsys_lab."""


class GuardError(ValueError):
    """A notebook cannot take the guard (not a notebook, no code cell, an old nbformat)."""


def repository(config: Path = CONFIG) -> tuple[str, str]:
    """``(url, branch)`` of the book's repository, from ``_config.yml``'s ``repository``."""
    settings = yaml.safe_load(config.read_text(encoding="utf-8")).get("repository") or {}
    url, branch = settings.get("url"), settings.get("branch", "main")
    if not url:
        raise GuardError(f"{config} has no repository.url: the guard must name the repository")
    return url.rstrip("/"), branch


def requirement(url: str, branch: str) -> str:
    """The pip requirement that installs recsys_lab, with its extras, from the repository."""
    return f"recsys_lab[{EXTRAS}] @ git+{url}@{branch}"


GUARD = """\
# Opened outside the book's repository (Colab, a download)? This cell sets it up or says how.
import importlib.util, sys
if importlib.util.find_spec("recsys_lab") is None:
    if "google.colab" in sys.modules:
        %pip install --quiet "{requirement}" {also}
    else:
        raise ModuleNotFoundError(
            "This chapter needs recsys_lab, the book's package: clone {url} and run "
            "`make lab` in it, or run %pip install '{requirement}' {also} "
            "in a cell here (or pip install the recsys_lab wheel that `make dist` builds).")"""


def guard_source(url: str, branch: str) -> str:
    """The guard's code: a cell of IPython (its ``%pip`` line is a magic)."""
    return GUARD.format(url=url, requirement=requirement(url, branch), also=ALSO_NEEDED)


def guard_cell(url: str, branch: str) -> dict:
    """The guard as an nbformat 4.5 code cell, keys in the order nbformat writes them."""
    source = guard_source(url, branch)
    return {"cell_type": "code", "execution_count": None, "id": CELL_ID,
            "metadata": {"tags": list(TAGS)}, "outputs": [],
            "source": source.splitlines(keepends=True)}


def with_guard(notebook: dict, cell: dict) -> dict:
    """A copy of ``notebook`` whose first code cell is ``cell`` (an old guard is replaced)."""
    if not isinstance(notebook, dict) or not isinstance(notebook.get("cells"), list):
        raise GuardError("not a notebook: no list of cells")
    if (notebook.get("nbformat"), notebook.get("nbformat_minor", 0)) < (4, 5):
        raise GuardError("nbformat 4.5 or later is needed (cell ids); save it with JupyterLab")
    cells = [c for c in notebook["cells"] if c.get("id") != CELL_ID]
    first_code = next((i for i, c in enumerate(cells) if c.get("cell_type") == "code"), None)
    if first_code is None:
        raise GuardError("it has no code cell, so no chapter code to guard")
    return {**notebook, "cells": [*cells[:first_code], cell, *cells[first_code:]]}


def notebook_text(notebook: dict) -> str:
    """A notebook as the repository stores it (``nbformat.write``'s layout)."""
    return json.dumps(notebook, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def update(path: Path, cell: dict, *, write: bool = True) -> bool:
    """Give the notebook at ``path`` the guard; return whether it lacked the current one."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    try:
        new_text = notebook_text(with_guard(json.loads(text), cell))
    except json.JSONDecodeError as error:
        raise GuardError(f"{path}: not a notebook ({error})") from error
    except GuardError as error:
        raise GuardError(f"{path}: {error}") from error
    if new_text == text:
        return False
    if write:
        path.write_text(new_text, encoding="utf-8")
    return True


def chapters(root: Path = ROOT) -> list[Path]:
    """The chapter notebooks: ``book/*.ipynb``."""
    return sorted((root / "book").glob("*.ipynb"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python tools/first_cell.py",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path, metavar="NOTEBOOK",
                        help="notebooks to update (default: book/*.ipynb)")
    parser.add_argument("--check", action="store_true",
                        help="write nothing; exit with 1 if a notebook lacks the current guard")
    args = parser.parse_args(argv)
    cell = guard_cell(*repository())
    try:
        changed = [path for path in args.notebooks or chapters()
                   if update(path, cell, write=not args.check)]
    except (GuardError, OSError) as error:
        print(f"{parser.prog}: error: {error}", file=sys.stderr)
        return 2
    verb = "lack the current guard" if args.check else "updated"
    for path in changed:
        print(f"{verb}: {path}")
    if not changed:
        print("every notebook starts with the current guard")
    return 1 if args.check and changed else 0


if __name__ == "__main__":
    sys.exit(main())
