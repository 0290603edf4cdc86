"""`make dist`: a wheel of recsys_lab and a zip of the student edition, usable without the repo.

The wheel must hold every module of recsys_lab and nothing else. The decisive check installs
it into a new virtual environment in a temporary folder outside the repository, with what
chapter 1 needs (no TensorFlow: the chapter fits no Keras model) pinned by requirements.lock,
and runs chapter 1 there under nbval, set-up guard included: a module the wheel misses, or a
dependency it does not declare, fails the chapter's imports. About 45 s on two quiet cores
(60 s before the install stopped byte-compiling every package).
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import tempfile
import tomllib
import venv
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
CHAPTER = ROOT / "book" / "01_data_and_evaluation.ipynb"
#: What chapter 1 imports beyond recsys_lab and its `widgets` extra (myst-nb: `glue`), and
#: what runs it (nbval, pytest, a kernel).
NOTEBOOK_TOOLS = ["myst-nb", "nbval", "pytest", "ipykernel"]
SUBPACKAGES = {"models", "scratch", "exercises"}
ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")  # the kernel colours its tracebacks

_spec = importlib.util.spec_from_file_location("first_cell", ROOT / "tools" / "first_cell.py")
first_cell = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(first_cell)


def _clean_env(**extra: str) -> dict[str, str]:
    # Nothing of this repository's environment may leak into the new one: no PYTHONPATH, no
    # active venv, and (under `make test`) no flags of the outer make.
    drop = {"PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME", "MAKEFLAGS", "MFLAGS", "MAKELEVEL"}
    return {**{k: v for k, v in os.environ.items() if k not in drop}, **extra}


@pytest.fixture(scope="module")
def dist(tmp_path_factory) -> Path:
    """The folder `make dist` built, outside the repository."""
    folder = tmp_path_factory.mktemp("dist")
    # -o: `make test` has set up the venv already; this test must never reinstall it.
    result = subprocess.run(
        ["make", "-s", "-o", ".venv/.installed", "dist", f"DIST={folder}"], cwd=ROOT,
        capture_output=True, text=True, timeout=300, env=_clean_env())
    assert result.returncode == 0, f"make dist failed:\n{result.stdout}\n{result.stderr}"
    return folder


def test_dist_holds_the_wheel_and_the_student_zip_named_with_the_version(dist):
    assert sorted(path.name for path in dist.iterdir()) == [
        f"recsys-book-student-{VERSION}.zip", f"recsys_lab-{VERSION}-py3-none-any.whl"]


def test_the_wheel_holds_every_module_and_nothing_else(dist):
    with zipfile.ZipFile(dist / f"recsys_lab-{VERSION}-py3-none-any.whl") as wheel:
        names = wheel.namelist()
    info = f"recsys_lab-{VERSION}.dist-info/"
    assert all(name.startswith(("recsys_lab/", info)) for name in names), names
    modules = {name for name in names if name.startswith("recsys_lab/")}
    expected = {path.relative_to(ROOT).as_posix() for path in (ROOT / "recsys_lab").rglob("*.py")}
    assert modules == expected, (
        f"missing {sorted(expected - modules)}, unexpected {sorted(modules - expected)}")
    assert SUBPACKAGES <= {name.split("/")[1] for name in modules if name.count("/") == 2}


def test_the_student_zip_is_one_folder_with_every_chapter(dist):
    top = f"recsys-book-student-{VERSION}"
    with zipfile.ZipFile(dist / f"{top}.zip") as archive:
        names = archive.namelist()
        assert {name.split("/")[0] for name in names} == {top}
        chapters = {Path(name).name for name in names if name.endswith(".ipynb")}
        assert chapters == {path.name for path in (ROOT / "book").glob("*.ipynb")}
        assert not any("__pycache__" in name for name in names)
        solutions = sum("{solution" in archive.read(f"{top}/{name}").decode()
                        for name in chapters)
        assert solutions == 0, "the student edition still holds solutions"


@pytest.fixture
def outside() -> Iterator[Path]:
    """A temporary folder outside the repository, removed afterwards (a venv is 700 MB, too
    big to leave among pytest's kept temporary folders)."""
    with tempfile.TemporaryDirectory(prefix="recsys-book-dist-") as folder:
        assert ROOT not in Path(folder).resolve().parents
        yield Path(folder)


def test_chapter_1_runs_from_the_wheel_in_a_fresh_venv(dist, outside):
    environment, work = outside / "venv", outside / "work"
    venv.create(environment, with_pip=True)
    python = environment / "bin" / "python"
    wheel = dist / f"recsys_lab-{VERSION}-py3-none-any.whl"
    install = subprocess.run(
        # --no-compile: byte-compiling every installed package took a third of the install
        # (11 of 35 s); the chapter's imports compile the few modules it uses.
        [python, "-m", "pip", "install", "--quiet", "--no-compile", "-c",
         ROOT / "requirements.lock", f"{wheel}[widgets]", *NOTEBOOK_TOOLS],
        capture_output=True, text=True, timeout=600, env=_clean_env())
    assert install.returncode == 0, f"pip install failed:\n{install.stderr[-3000:]}"

    work.mkdir()
    (work / "pytest.ini").write_text("")  # the rootdir: no settings of this repository
    notebook = json.loads(CHAPTER.read_text(encoding="utf-8"))
    guard = first_cell.guard_cell(*first_cell.repository())
    (work / CHAPTER.name).write_text(
        first_cell.notebook_text(first_cell.with_guard(notebook, guard)), encoding="utf-8")
    data = os.environ.get("RECSYS_LAB_DATA", str(Path.home() / ".cache" / "recsys_lab"))
    env = _clean_env(RECSYS_LAB_DATA=data)

    where = subprocess.run([python, "-c", "import recsys_lab; print(recsys_lab.__file__)"],
                           cwd=work, capture_output=True, text=True, timeout=60, env=env)
    assert where.returncode == 0, where.stderr
    assert Path(where.stdout.strip()).is_relative_to(environment), where.stdout

    # -x: the first failing cell holds the telling error (a missing module); the cells after
    # it would only fail on the names it did not define.
    run = subprocess.run(
        [python, "-m", "pytest", "-q", "-x", "--color=no", "-p", "no:cacheprovider",
         "--nbval-lax", "--nbval-current-env", "--nbval-cell-timeout=300", CHAPTER.name],
        cwd=work, capture_output=True, text=True, timeout=900, env=env)
    report = ANSI_ESCAPE.sub("", run.stdout)[-6000:]
    assert run.returncode == 0, f"chapter 1 failed in the fresh venv:\n{report}"
