"""The locked install, and the Makefile's guard on the book's execution cache.

requirements.txt pins the direct dependencies; requirements.lock (made by `make lock`) pins
every package, and `make setup` installs from it. `make cache-check`, which `book`,
`notebooks` and `test` run first, empties the execution cache when recsys_lab or the lock
changed, so that no page shows outputs computed by older code.
"""

from __future__ import annotations

import os
import re
import subprocess
from importlib import metadata
from pathlib import Path

import nbformat
import pytest
from jupyter_cache import get_cache
from jupyter_cache.base import CacheBundleIn
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
MAKEFILE = ROOT / "Makefile"
PIN = re.compile(r"(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>[0-9][A-Za-z0-9.+!_-]*)")


def _requirement_lines(path: Path) -> list[str]:
    lines = (line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
    return [line for line in lines if line]


def _pins(path: Path) -> dict[str, str]:
    pins = {}
    for line in _requirement_lines(path):
        match = PIN.fullmatch(line)
        assert match, f"{path.name}: {line!r} is not an exact name==version pin"
        name = canonicalize_name(match["name"])
        assert name not in pins, f"{path.name} pins {name} twice"
        pins[name] = match["version"]
    return pins


# --- the lock ------------------------------------------------------------------------------


def test_every_line_of_the_lock_is_an_exact_pin():
    lock = _pins(ROOT / "requirements.lock")  # asserts the form of each line
    assert len(lock) > 100  # every transitive package, not just the top-level ones
    assert {"keras", "jupyter-cache", "nbformat", "pip", "setuptools", "wheel"} <= set(lock)
    header = (ROOT / "requirements.lock").read_text().split("\n\n")[0]
    assert "make lock" in header and "Do not edit by hand" in header


def test_every_pin_of_requirements_txt_is_in_the_lock_at_the_same_version():
    wanted = _pins(ROOT / "requirements.txt")  # exact pins only, as its header says
    locked = _pins(ROOT / "requirements.lock")
    assert wanted
    differing = {name: (version, locked.get(name)) for name, version in wanted.items()
                 if locked.get(name) != version}
    assert not differing, f"requirements.txt vs requirements.lock (run `make lock`): {differing}"


def test_the_installed_environment_matches_the_lock():
    # Nothing is skipped: a venv made by `make setup` holds every locked package, pip,
    # setuptools and wheel included, so a missing one is as wrong as another version.
    locked = _pins(ROOT / "requirements.lock")
    differing = {}
    for name, version in locked.items():
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            installed = None
        if installed != version:
            differing[name] = (version, installed)
    assert not differing, f"(locked, installed): {differing}; run `make setup`"


def test_nothing_unlocked_is_installed():
    # A package installed by hand would make the book depend on something no fresh install
    # has (pytest plugins even load by themselves). recsys_lab itself is the editable install.
    locked = _pins(ROOT / "requirements.lock")
    names = {canonicalize_name(dist.metadata["Name"]) for dist in metadata.distributions()}
    extra = sorted(names - set(locked) - {"recsys-lab"})
    assert not extra, f"installed but not in requirements.lock: {extra}"


def test_the_venv_is_installed_from_the_lock_and_the_build_targets_check_the_cache():
    rules = subprocess.run(["make", "-pq", "-f", str(MAKEFILE), "cache-check"], cwd=ROOT,
                           capture_output=True, text=True, env=_make_env()).stdout
    prerequisites = {}
    for line in rules.splitlines():
        target, colon, rest = line.partition(":")
        if colon and not rest.startswith("=") and target in {
                ".venv/.installed", "book", "notebooks", "test"}:
            prerequisites[target] = rest.split()
    assert "requirements.lock" in prerequisites[".venv/.installed"]
    for target in ("book", "notebooks", "test"):
        assert "cache-check" in prerequisites[target], target
    # The cache the check empties is the one nbval fills (tests/nbval_cache.py) and Jupyter
    # Book reads: _build/.jupyter_cache, both tools' default.
    assert re.search(r"^EXEC_CACHE = _build/\.jupyter_cache$", rules, re.M)
    assert re.search(r"^DOCTREES = _build/\.doctrees$", rules, re.M)
    assert re.search(r"^MODEL_STORE = _build/\.model_store$", rules, re.M)


# --- the execution cache follows recsys_lab and the lock -----------------------------------


def _make_env() -> dict[str, str]:
    # Under `make test` the outer make's flags (-n, -j, its variables) must not leak in.
    return {k: v for k, v in os.environ.items() if k not in {"MAKEFLAGS", "MFLAGS", "MAKELEVEL"}}


class Project:
    """A stand-in for the repository: a package, pyproject.toml, a lock, a warm cache."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.package = folder / "pkg"
        (self.package / "models").mkdir(parents=True)
        (self.package / "__init__.py").write_text('"""pkg"""\n')
        (self.package / "models" / "mf.py").write_text("EPOCHS = 10\n")
        (folder / "pyproject.toml").write_text('[project]\nname = "pkg"\n')
        (folder / "requirements.lock").write_text("numpy==2.4.6\n")
        self.cache = folder / "_build" / ".jupyter_cache"
        self.doctrees = folder / "_build" / ".doctrees"
        self.store = folder / "_build" / ".model_store"
        self.fingerprint = folder / "_build" / ".jupyter_cache.fingerprint"
        self.notebook = nbformat.v4.new_notebook()
        self.notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                                "language": "python"}
        self.notebook.cells = [nbformat.v4.new_code_cell("from pkg.models.mf import EPOCHS")]

    def warm(self) -> None:
        """Caches an executed notebook, writes a doctree and stores a fit, as a build would."""
        executed = nbformat.from_dict(self.notebook)
        executed.cells[0].execution_count = 1
        executed.cells[0].outputs = [nbformat.v4.new_output("stream", text="10\n")]
        get_cache(str(self.cache)).cache_notebook_bundle(
            CacheBundleIn(executed, str(self.folder / "chapter.ipynb")), check_validity=False,
            overwrite=True)
        self.doctrees.mkdir(parents=True, exist_ok=True)
        (self.doctrees / "chapter.doctree").write_bytes(b"doctree")
        self.store.mkdir(parents=True, exist_ok=True)
        (self.store / "fit.pkl").write_bytes(b"a fitted model")

    def is_warm(self) -> bool:
        try:
            get_cache(str(self.cache)).match_cache_notebook(self.notebook)
        except KeyError:
            return False
        return (self.doctrees / "chapter.doctree").exists() and (self.store / "fit.pkl").exists()

    def check(self) -> subprocess.CompletedProcess:
        variables = [f"EXEC_CACHE={self.cache}", f"DOCTREES={self.doctrees}",
                     f"MODEL_STORE={self.store}",
                     f"FINGERPRINT_SRC={self.package}",
                     f"FINGERPRINT_FILES={self.folder / 'pyproject.toml'} "
                     f"{self.folder / 'requirements.lock'}"]
        return subprocess.run(["make", "-s", "-f", str(MAKEFILE), "cache-check", *variables],
                              cwd=self.folder, capture_output=True, text=True, timeout=60,
                              env=_make_env())


@pytest.fixture
def project(tmp_path) -> Project:
    project = Project(tmp_path)
    project.warm()
    first = project.check()
    # A cache with no fingerprint beside it was built from unknown code: it is emptied.
    assert first.returncode == 0, first.stderr
    assert "emptying it" in first.stdout
    assert not project.is_warm() and project.fingerprint.exists()
    project.warm()
    assert project.is_warm()
    return project


def test_an_unchanged_package_keeps_the_warm_cache(project):
    stored = project.fingerprint.read_text()
    for path in project.package.rglob("*.py"):
        os.utime(path, (1, 1))  # a checkout or a touch: new times, same contents
    (project.package / "__pycache__").mkdir()
    (project.package / "__pycache__" / "mf.cpython-311.pyc").write_bytes(b"bytecode")
    (project.package / "notes.txt").write_text("not Python")
    result = project.check()
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert project.is_warm()
    assert project.fingerprint.read_text() == stored


CHANGES = {
    "a module edited": lambda p: (p.package / "models" / "mf.py").write_text("EPOCHS = 20\n"),
    "a module added": lambda p: (p.package / "models" / "vae.py").write_text("BETA = 0.2\n"),
    "a module removed": lambda p: (p.package / "models" / "mf.py").unlink(),
    "a module renamed": lambda p: (p.package / "models" / "mf.py").rename(
        p.package / "models" / "factorization.py"),
    "pyproject.toml edited": lambda p: (p.folder / "pyproject.toml").write_text(
        '[project]\nname = "pkg"\ndependencies = ["numpy"]\n'),
    "the lock edited": lambda p: (p.folder / "requirements.lock").write_text("numpy==2.4.7\n"),
}


@pytest.mark.parametrize("change", CHANGES)
def test_a_changed_source_empties_the_cache_once(project, change):
    stored = project.fingerprint.read_text()
    CHANGES[change](project)
    result = project.check()
    assert result.returncode == 0, result.stderr
    assert "emptying it" in result.stdout
    assert not project.is_warm()
    assert project.fingerprint.read_text() != stored
    # The build then refills the cache from the new code, and the next check keeps it.
    project.warm()
    again = project.check()
    assert again.returncode == 0 and again.stdout == "", again.stderr
    assert project.is_warm()


def test_a_missing_input_stops_the_check_and_leaves_the_cache_alone(project):
    (project.folder / "requirements.lock").unlink()
    result = project.check()
    assert result.returncode != 0
    assert "requirements.lock is missing" in result.stderr
    assert project.is_warm()


def test_the_repository_itself_can_be_fingerprinted(tmp_path):
    # The defaults (recsys_lab, pyproject.toml, requirements.lock) exist and hash.
    cache = tmp_path / ".jupyter_cache"
    result = subprocess.run(["make", "-s", "-f", str(MAKEFILE), "cache-check",
                             f"EXEC_CACHE={cache}", f"DOCTREES={tmp_path / '.doctrees'}",
                             f"MODEL_STORE={tmp_path / '.model_store'}"],
                            cwd=ROOT, capture_output=True, text=True, timeout=60,
                            env=_make_env())
    assert result.returncode == 0, result.stderr
    assert re.fullmatch(r"[0-9a-f]{64}\n", (tmp_path / ".jupyter_cache.fingerprint").read_text())


# --- nbval's kernels keep their temporary files to themselves -------------------------------


@pytest.mark.parametrize("status", [0, 3])
def test_nbval_gives_the_kernels_a_temporary_folder_it_removes_pass_or_fail(tmp_path, status):
    # nbval kills its kernels, so what they leave in $TMPDIR (TensorFlow's AutoGraph modules)
    # would pile up in /tmp. A stand-in for nbval records $TMPDIR, leaves a file there and
    # exits with `status`; make must pass that status on and leave no folder behind.
    folder, seen = tmp_path / "nbval_tmp", tmp_path / "seen"
    stand_in = (f"sh -c 'echo \"$$TMPDIR\" > {seen}; touch \"$$TMPDIR/generated.py\"; "
                f"exit {status}' --")
    result = subprocess.run(["make", "-s", "-f", str(MAKEFILE), "nbval", f"NBVAL={stand_in}",
                             f"NBVAL_TMP={folder}", "NOTEBOOKS=chapter.ipynb",
                             f"MODEL_STORE={tmp_path / '.model_store'}"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=60,
                            env=_make_env())
    assert (result.returncode == 0) == (status == 0), result.stderr
    assert seen.read_text() == f"{folder}\n"
    assert not folder.exists()
