"""Every chapter opens with the set-up guard of tools/first_cell.py, and the guard does its job.

The guard's code is run as IPython would run it (its ``%pip`` line turned into a call of
``get_ipython().run_line_magic``) in a separate Python: with ``-S`` that Python has no
site-packages, so recsys_lab cannot be imported, as in a notebook opened outside the
repository; without ``-S`` it has this venv and recsys_lab. Colab is a fake ``google.colab``
module and a ``get_ipython()`` that records the magic instead of installing anything.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from IPython.core.inputtransformer2 import TransformerManager
from markdown_it import MarkdownIt
from packaging.requirements import Requirement

from recsys_lab.classroom import strip_solutions

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("first_cell", ROOT / "tools" / "first_cell.py")
first_cell = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(first_cell)

URL, BRANCH = first_cell.repository()
GUARD = first_cell.guard_source(URL, BRANCH)
CHAPTERS = first_cell.chapters()


def _first_code_cell(path: Path) -> dict:
    notebook = json.loads(path.read_text(encoding="utf-8"))
    return next(cell for cell in notebook["cells"] if cell["cell_type"] == "code")


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda path: path.stem)
def test_every_chapter_starts_with_the_guard(chapter):
    cell = _first_code_cell(chapter)
    assert "".join(cell["source"]) == GUARD and cell.get("id") == first_cell.CELL_ID, (
        f"{chapter.name}: the first code cell is not the current set-up guard; "
        f"run `.venv/bin/python tools/first_cell.py`")
    assert "remove-cell" in cell["metadata"].get("tags", [])


def test_the_guard_names_the_repository_of_config_yml():
    config = (ROOT / "_config.yml").read_text(encoding="utf-8")
    assert f"url: {URL}" in config
    assert "git+https://github.com/" in GUARD and URL in GUARD
    assert len(GUARD.splitlines()) <= 10


# --- running the guard ------------------------------------------------------------------------

_COLAB = """\
import builtins, json, sys, types
sys.modules["google.colab"] = types.ModuleType("google.colab")
magics = []
class FakeIPython:
    def run_line_magic(self, name, line):
        magics.append([name, line])
builtins.get_ipython = lambda: FakeIPython()
import atexit
atexit.register(lambda: print(json.dumps(magics)))
"""


def run_guard(*, recsys_lab: bool, colab: bool = False) -> subprocess.CompletedProcess:
    """Run the guard, as IPython transforms it, in a fresh Python (``-I``: no PYTHONPATH, no
    working folder on the path; ``-S``: no site-packages, hence no recsys_lab)."""
    code = TransformerManager().transform_cell(GUARD)
    if colab:
        code = _COLAB + code
    flags = ["-I"] if recsys_lab else ["-I", "-S"]
    return subprocess.run([sys.executable, *flags, "-c", code], capture_output=True,
                          text=True, timeout=60)


def test_the_simulation_without_site_packages_really_lacks_recsys_lab():
    probe = "import importlib.util; print(importlib.util.find_spec('recsys_lab') is None)"
    without = subprocess.run([sys.executable, "-I", "-S", "-c", probe], capture_output=True,
                             text=True, timeout=60)
    with_it = subprocess.run([sys.executable, "-I", "-c", probe], capture_output=True,
                             text=True, timeout=60)
    assert (without.stdout.strip(), with_it.stdout.strip()) == ("True", "False")


def test_without_recsys_lab_the_guard_says_what_to_do():
    result = run_guard(recsys_lab=False)
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("ModuleNotFoundError: This chapter needs recsys_lab")
    assert f"clone {URL}" in last and "`make lab`" in last
    assert f"%pip install '{first_cell.requirement(URL, BRANCH)}' myst-nb" in last
    assert "`make dist`" in last


def test_with_recsys_lab_the_guard_does_nothing():
    result = run_guard(recsys_lab=True)
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_on_colab_without_recsys_lab_the_guard_installs_it_from_the_repository():
    result = run_guard(recsys_lab=False, colab=True)
    assert result.returncode == 0, result.stderr
    [[magic, line]] = json.loads(result.stdout)
    assert magic == "pip"
    words = line.split('"')
    assert words[0].split() == ["install", "--quiet"] and words[2].split() == ["myst-nb"]
    requirement = Requirement(words[1])
    assert requirement.name == "recsys_lab"
    assert requirement.extras == {"models", "widgets"}
    assert requirement.url == f"git+{URL}@{BRANCH}"


def test_on_colab_with_recsys_lab_the_guard_installs_nothing():
    result = run_guard(recsys_lab=True, colab=True)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == []


# --- the tool, on copies of the chapters ------------------------------------------------------


@pytest.fixture
def copies(tmp_path) -> list[Path]:
    for chapter in CHAPTERS:
        shutil.copy(chapter, tmp_path)
    return sorted(tmp_path.glob("*.ipynb"))


def test_the_tool_inserts_the_guard_once_before_the_first_code_cell(copies):
    originals = {path: json.loads(path.read_text(encoding="utf-8")) for path in copies}
    for original in originals.values():  # the chapters as they were before the tool ran
        original["cells"] = [c for c in original["cells"] if c.get("id") != first_cell.CELL_ID]
    for path, original in originals.items():
        path.write_text(json.dumps(original, indent=1, ensure_ascii=False) + "\n",
                        encoding="utf-8")
    assert first_cell.main([str(path) for path in copies]) == 0
    after_once = {path: path.read_bytes() for path in copies}
    assert first_cell.main([str(path) for path in copies]) == 0  # idempotent
    assert first_cell.main(["--check", *map(str, copies)]) == 0
    for path, original in originals.items():
        assert path.read_bytes() == after_once[path]
        notebook = json.loads(path.read_text(encoding="utf-8"))
        # The layout nbformat.write gives (the repository's): nothing else in the file changes.
        written = nbformat.writes(nbformat.from_dict(notebook)) + "\n"
        assert path.read_text(encoding="utf-8") == written
        nbformat.validate(nbformat.from_dict(notebook))
        guards = [c for c in notebook["cells"] if c.get("id") == first_cell.CELL_ID]
        assert len(guards) == 1 and "".join(guards[0]["source"]) == GUARD
        first = next(i for i, c in enumerate(original["cells"]) if c["cell_type"] == "code")
        assert notebook["cells"][first] == guards[0]
        assert [c for c in notebook["cells"] if c is not guards[0]] == original["cells"]
        assert {k: v for k, v in notebook.items() if k != "cells"} == {
            k: v for k, v in original.items() if k != "cells"}


def test_the_tool_updates_an_old_guard_in_place_and_check_reports_it(copies, capsys):
    path = copies[0]
    first_cell.main([str(path)])
    notebook = json.loads(path.read_text(encoding="utf-8"))
    old = next(c for c in notebook["cells"] if c.get("id") == first_cell.CELL_ID)
    old["source"] = ["# an older guard\n"]
    notebook["cells"].remove(old)
    notebook["cells"].append(old)  # even misplaced, it is found by its id and moved back
    path.write_text(first_cell.notebook_text(notebook), encoding="utf-8")
    assert first_cell.main(["--check", str(path)]) == 1
    assert f"lack the current guard: {path}" in capsys.readouterr().out
    first_cell.main([str(path)])
    assert "".join(_first_code_cell(path)["source"]) == GUARD
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    assert [c.get("id") for c in cells].count(first_cell.CELL_ID) == 1


def test_the_tool_refuses_a_notebook_without_code_with_a_clear_error(tmp_path, capsys):
    path = tmp_path / "text_only.ipynb"
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# Title")])
    nbformat.write(notebook, path)
    before = path.read_bytes()
    assert first_cell.main([str(path)]) == 2
    assert f"{path}: it has no code cell" in capsys.readouterr().err
    assert path.read_bytes() == before


# --- where the guard shows ---------------------------------------------------------------------


def _guarded(chapter: Path) -> dict:
    notebook = json.loads(chapter.read_text(encoding="utf-8"))
    return first_cell.with_guard(notebook, first_cell.guard_cell(URL, BRANCH))


def test_the_student_edition_keeps_the_guard():
    for chapter in CHAPTERS:
        student = strip_solutions(_guarded(chapter))
        guard = next(c for c in student["cells"] if c["cell_type"] == "code")
        assert "".join(guard["source"]) == GUARD, chapter.name


def test_the_website_does_not_show_the_guard():
    # myst-nb turns a notebook into the page's tokens; a cell tagged remove-cell yields none.
    from myst_nb.core.nb_to_tokens import notebook_to_tokens

    notebook = nbformat.reads(json.dumps(_guarded(CHAPTERS[0])), as_version=4)
    index = next(i for i, c in enumerate(notebook.cells) if c.get("id") == first_cell.CELL_ID)
    tokens = notebook_to_tokens(notebook, MarkdownIt("commonmark"), {},
                                logging.getLogger("myst-nb"))
    shown = {t.meta.get("index") for t in tokens if t.meta}
    assert index not in shown and index + 1 in shown  # the chapter's set-up cell still shows
