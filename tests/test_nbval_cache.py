"""The nbval → jupyter-cache bridge: a passing notebook is cached with outputs and widgets."""

import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from jupyter_cache import get_cache

ROOT = Path(__file__).resolve().parents[1]


def _notebook(path: Path, *sources: str) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(source) for source in sources]
    nbformat.write(nb, path)
    return nb


def _run_nbval(notebook: Path, cache: Path) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "pytest", "-q", "-p", "tests.nbval_cache", "--nbval-lax",
               "--nbval-current-env", f"--nbval-cache-dir={cache}", "-p", "no:cacheprovider",
               str(notebook)]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=180)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("nbval_cache")
    good = _notebook(folder / "good.ipynb", "print('hello')", "import ipywidgets\n"
                     "ipywidgets.IntSlider(value=3)", "6 * 7")
    bad = _notebook(folder / "bad.ipynb", "print('hello')", "raise ValueError('no')")
    results = {name: _run_nbval(folder / f"{name}.ipynb", folder / "cache")
               for name in ("good", "bad")}
    return get_cache(str(folder / "cache")), good, bad, results


def test_a_passing_notebook_is_cached_with_its_outputs_and_widget_state(runs):
    cache, good, _, results = runs
    assert results["good"].returncode == 0, results["good"].stdout
    _, executed = cache.merge_match_into_notebook(good)
    printed, slider, answer = (cell.outputs for cell in executed.cells)
    assert printed[0].text == "hello\n"
    assert answer[0].data["text/plain"] == "42" and answer[0].execution_count == 3
    view = slider[0].data["application/vnd.jupyter.widget-view+json"]
    state = executed.metadata.widgets["application/vnd.jupyter.widget-state+json"]["state"]
    assert state[view["model_id"]]["state"]["value"] == 3


def test_a_failing_notebook_is_not_cached(runs):
    cache, _, bad, results = runs
    assert results["bad"].returncode != 0
    with pytest.raises(KeyError):
        cache.match_cache_notebook(bad)
