"""A pytest plugin: notebooks that nbval executed cleanly go into the book's execution cache.

``make test`` runs every chapter under nbval and then builds the book with
``execute_notebooks: cache``. Without this plugin each chapter would be executed twice (about
ten minutes of CPU each time). With it, the build finds each notebook that nbval just ran in
``_build/.jupyter_cache`` (jupyter-cache matches a notebook by the hash of its code and
kernelspec) and only executes what changed or failed.

Only a notebook whose every cell passed is cached, with the outputs nbval received, execution
counts in order, and the kernel's ipywidgets state (what nbclient would have saved), so the
website embeds the same widgets either way.

Use: ``python -m pytest -p tests.nbval_cache --nbval-lax --nbval-current-env book/``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

_WIDGET_STATE_CODE = """\
def _recsys_lab_widget_state():
    import json
    try:
        from ipywidgets import Widget
        state = Widget.get_manager_state(drop_defaults=False)
    except Exception:  # no ipywidgets in the kernel: nothing to embed
        state = {"state": {}}
    print(json.dumps(state))
_recsys_lab_widget_state()
del _recsys_lab_widget_state
"""

_WIDGET_STATE_MIME = "application/vnd.jupyter.widget-state+json"


def pytest_addoption(parser):
    parser.addoption(
        "--nbval-cache-dir",
        default=None,
        help="jupyter-cache folder to add passing notebooks to (default: <rootdir>/_build/"
        ".jupyter_cache, where the book's build looks)",
    )


def _is_notebook_cell(item) -> bool:
    return type(item).__name__ == "IPyNbCell" and hasattr(item, "test_outputs")


_failed_notebooks: set[str] = set()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if _is_notebook_cell(item) and (report.failed or report.skipped):
        _failed_notebooks.add(str(item.parent.path))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item, nextitem):
    # Runs before nbval stops the kernel, which happens when the notebook's last cell is torn
    # down; the kernel is still alive here to report its widget state.
    if _is_notebook_cell(item) and (nextitem is None or nextitem.parent is not item.parent):
        notebook = item.parent
        if str(notebook.path) not in _failed_notebooks:
            _cache_executed_notebook(notebook, item.config)
    yield


def _kernel_widget_state(notebook) -> dict:
    kernel = notebook.kernel
    msg_id = kernel.execute_cell_input(_WIDGET_STATE_CODE, allow_stdin=False)
    kernel.await_reply(msg_id, timeout=60)
    text = []
    while True:
        message = notebook.get_kernel_message(timeout=60)
        if message["parent_header"].get("msg_id") != msg_id:
            continue
        kind, content = message["msg_type"], message["content"]
        if kind == "status" and content["execution_state"] == "idle":
            break
        if kind == "stream" and content["name"] == "stdout":
            text.append(content["text"])
        if kind == "error":
            raise RuntimeError(f"could not read the widget state: {content['evalue']}")
    return json.loads("".join(text))


def _cache_executed_notebook(notebook, config) -> None:
    import nbformat
    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn

    cells = [i for i in notebook.session.items if i.parent is notebook and _is_notebook_cell(i)]
    if any(cell.test_outputs is None for cell in cells):
        return  # a cell did not run (deselected, or the run stopped early)
    executed = notebook.nb
    for count, cell in enumerate(cells, start=1):
        cell.cell.execution_count = count
        cell.cell.outputs = [nbformat.from_dict(dict(output)) for output in cell.test_outputs]
        for output in cell.cell.outputs:
            if output.output_type == "execute_result":
                output.execution_count = count
    widget_state = _kernel_widget_state(notebook)
    if widget_state.get("state"):
        executed.metadata["widgets"] = {_WIDGET_STATE_MIME: widget_state}
    nbformat.validate(executed)

    folder = config.getoption("--nbval-cache-dir") or Path(config.rootpath) / "_build" / (
        ".jupyter_cache"
    )
    cache = get_cache(str(folder))
    cache.cache_notebook_bundle(
        CacheBundleIn(executed, str(notebook.path), data={"executed_by": "nbval"}),
        check_validity=False,
        overwrite=True,
    )
