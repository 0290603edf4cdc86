"""JupyterLab as a reader uses it: `make lab`'s launcher, a chapter's explorer, its Fit button.

The launcher (tools/lab.py, what `make lab` runs) starts JupyterLab on 127.0.0.1 at a free
port, with ``--allow-root`` (CI runs as root) and ``--no-browser``, on a temporary folder that
holds a trimmed copy of chapter 1: its set-up cell, the cells the explorer needs and the
explorer cell, found by content, so the copy follows the chapter as it changes. Headless
Chromium opens the notebook, runs every cell from JupyterLab's Run menu, moves the explorer's
sliders and presses **Fit** twice; the printed validation scores must appear and change.
Then Ctrl-C (SIGINT) stops the launcher, and no process started for the test may survive:
every one carries a marker in its environment, kernels included.

Nothing is written to the repository: Jupyter's settings, workspaces, runtime files and the
notebook's checkpoints all live in the temporary folder.
"""

from __future__ import annotations

import ast
import builtins
import contextlib
import importlib.util
import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import nbformat
import sitekit

LAUNCHER = sitekit.ROOT / "tools" / "lab.py"
CHAPTER = sitekit.ROOT / "book" / "01_data_and_evaluation.ipynb"
EXPLORER_CALL = re.compile(r"\bexplorer\(")
# Names a kernel provides without any cell defining them.
PREDEFINED = set(dir(builtins)) | {"display", "get_ipython", "In", "Out", "exit", "quit"}

# Inherited by the launcher, the server and its kernels: finds every process the test started.
MARKER = "RECSYS_BOOK_LAB_TEST"
READY_TIMEOUT = 60.0  # seconds for the launcher to print the URL
RUN_TIMEOUT_MS = 120_000  # kernel start, data, splits: about 15 s here; slack for slow CI
FIT_TIMEOUT_MS = 60_000  # one press of Fit: two fits of a few seconds
STOP_TIMEOUT = 30.0


# --------------------------------------------------------------------------- the trimmed chapter


def _cell_code(cell) -> ast.Module:
    from IPython.core.inputtransformer2 import TransformerManager

    return ast.parse(TransformerManager().transform_cell(cell.source))


def _outside_functions(node) -> Iterator[ast.AST]:
    """The nodes of ``node`` outside function, lambda and class bodies (which bind locally)."""
    for child in ast.iter_child_nodes(node):
        yield child
        if not isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef,
                                  ast.Lambda)):
            yield from _outside_functions(child)


def _bound(nodes) -> set[str]:
    names = set()
    for node in nodes:
        if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
            names.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.alias):
            names.add((node.asname or node.name).split(".")[0])
        elif isinstance(node, ast.arg):
            names.add(node.arg)
    return names


def cell_names(tree: ast.Module) -> tuple[set[str], set[str]]:
    """(names the cell reads from earlier cells, names it defines for later cells)."""
    everywhere = list(ast.walk(tree))
    reads = {n.id for n in everywhere if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    return reads - _bound(everywhere) - PREDEFINED, _bound(_outside_functions(tree))


def explorer_notebook(chapter: Path = CHAPTER):
    """A copy of ``chapter`` with only its first code cell (the set-up), the cells the
    explorer cell needs, and the explorer cell; names that earlier cells only import come
    from one added cell of those imports, so no cell runs that the explorer does not need."""
    notebook = nbformat.read(chapter, as_version=4)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    explorers = [i for i, cell in enumerate(code) if EXPLORER_CALL.search(cell.source)]
    assert explorers, f"{chapter.name} has no cell calling explorer(...)"
    target = explorers[0]
    needed, _ = cell_names(_cell_code(code[target]))
    kept, imports = [code[target]], []
    for cell in reversed(code[:target]):
        tree = _cell_code(cell)
        reads, binds = cell_names(tree)
        setup = cell is code[0]
        if not setup:
            for statement in tree.body:
                if isinstance(statement, (ast.Import, ast.ImportFrom)):
                    names = _bound(statement.names)
                    if names & needed:
                        imports.insert(0, ast.unparse(statement))
                        needed -= names
        if setup or binds & needed:
            kept.insert(0, cell)
            needed = (needed - binds) | reads
    assert not needed, f"the explorer of {chapter.name} needs {sorted(needed)}: no cell defines it"
    imports_cell = nbformat.v4.new_code_cell("\n".join(imports), id="lab-test-imports")
    notebook.cells = [kept[0], imports_cell, *kept[1:]]
    for cell in notebook.cells:
        cell.outputs, cell.execution_count = [], None
    return notebook


# --------------------------------------------------------------------------- the launcher


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def marked_processes(marker: str) -> dict[int, str]:
    """{pid: command line} of every process whose environment carries ``marker``."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if marker.encode() in (entry / "environ").read_bytes().split(b"\0"):
                found[int(entry.name)] = (entry / "cmdline").read_bytes().replace(
                    b"\0", b" ").decode(errors="replace").strip()
        except OSError:  # gone meanwhile, or not ours to read
            continue
    return found


@dataclass
class Lab:
    """A running `make lab` launcher: its URL parts, its log and the processes it started."""

    base_url: str
    token: str
    log: Path
    marker: str

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


def _wait_for_url(launcher: subprocess.Popen, log: Path) -> str:
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        found = re.search(r"http://127\.0\.0\.1:\d+/lab\?token=\w+", log.read_text())
        if found:
            return found.group(0)
        if launcher.poll() is not None:
            break
        time.sleep(0.2)
    raise AssertionError(f"the launcher printed no URL:\n{log.read_text()[-4000:]}")


@contextlib.contextmanager
def running_lab(folder: Path, home: Path) -> Iterator[Lab]:
    """`make lab`'s launcher on ``folder``; Jupyter's own files under ``home``.

    On exit: SIGINT, as Ctrl-C in the terminal; then every marked process must be gone
    (leftovers are killed, so a failure leaves nothing running either)."""
    run_id = uuid.uuid4().hex
    marker = f"{MARKER}={run_id}"
    env = {**os.environ, **{name: str(home / name.lower()) for name in (
        "JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "JUPYTER_RUNTIME_DIR",
        "JUPYTERLAB_SETTINGS_DIR", "JUPYTERLAB_WORKSPACES_DIR", "IPYTHONDIR")}}
    env[MARKER] = run_id
    log = home / "lab.log"
    command = [sys.executable, str(LAUNCHER), "--port", str(free_port()), "--allow-root",
               "--no-browser", str(folder)]
    with open(log, "wb") as out:
        launcher = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env,
                                    stdin=subprocess.DEVNULL)
    try:
        url = _wait_for_url(launcher, log)
        base_url, token = url.split("lab?token=")
        yield Lab(base_url, token, log, marker)
    finally:
        launcher.send_signal(signal.SIGINT)
        try:
            status = launcher.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            status = None
        deadline = time.monotonic() + 10  # kernels may finish their own exit a moment later
        while (left := marked_processes(marker)) and time.monotonic() < deadline:
            time.sleep(0.2)
        for pid in left:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        launcher.wait()
        assert not left, f"processes left running after Ctrl-C: {left}"
        assert status == 0, f"the launcher ended with {status} after Ctrl-C:\n{log.read_text()}"


# --------------------------------------------------------------------------- JupyterLab's UI


def wait_for_kernel(page, lab: Lab, timeout: float = READY_TIMEOUT) -> None:
    """Until the notebook's kernel has started and is idle (the server's view of it): Run All
    clicked before JupyterLab has a kernel session runs nothing."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        response = page.request.get(f"{lab.base_url}api/sessions?token={lab.token}")
        sessions = response.json() if response.ok else []
        if any(s["path"].endswith(CHAPTER.name) and s["kernel"]["execution_state"] == "idle"
               for s in sessions):
            return
        page.wait_for_timeout(250)
    raise AssertionError(f"no idle kernel for {CHAPTER.name} after {timeout:.0f} s:\n"
                         f"{lab.log_tail()}")


def run_all_cells(page) -> None:
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).click()


def set_slider(page, label: str, value: int) -> None:
    """Type ``value`` into the readout of the slider labelled ``label``, as a reader can."""
    name = page.locator(".widget-label", has_text=re.compile(rf"^{re.escape(label)}$"))
    slider = page.locator(".widget-slider", has=name)
    readout = slider.locator(".widget-readout")
    readout.fill(str(value))
    readout.press("Enter")
    shown = readout.inner_text().strip()
    assert shown == str(value), f"the slider {label} shows {shown}, not {value}"


def press_fit(page, interact, previous: str) -> str:
    """Click Fit; wait for the explorer's printed scores to differ from ``previous``."""
    interact.locator("button", has_text="Fit").click()
    output = interact.locator(".widget-output")
    deadline = time.monotonic() + FIT_TIMEOUT_MS / 1000
    while time.monotonic() < deadline:
        text = output.inner_text().strip()
        if text != previous and text.count("NDCG@10") == 2:
            return text
        page.wait_for_timeout(200)
    raise AssertionError(f"Fit printed no new scores; the explorer shows {output.inner_text()!r}")


def test_explorer_notebook_keeps_the_setup_and_the_explorer():
    chapter = nbformat.read(CHAPTER, as_version=4).cells
    first_code = next(cell for cell in chapter if cell.cell_type == "code")
    sources = [cell.source for cell in explorer_notebook().cells]
    assert sources[0] == first_code.source and EXPLORER_CALL.search(sources[-1])
    assert any("start_chapter(" in source for source in sources)
    assert len(sources) < len(chapter) / 4  # a few cells, not the chapter's slow ones


def test_fit_button_works_in_jupyterlab(browser, tmp_path):
    folder, home = tmp_path / "book", tmp_path / "jupyter"
    folder.mkdir()
    home.mkdir()
    nbformat.write(explorer_notebook(), folder / CHAPTER.name)
    with running_lab(folder, home) as lab:
        record = sitekit.PageRecord(url=f"{lab.base_url}lab/tree/{CHAPTER.name}")
        context = sitekit.new_context(browser, lab.base_url, record)
        try:
            page = context.new_page()
            sitekit.watch(page, record, lab.base_url)
            response = page.goto(f"{record.url}?token={lab.token}")
            record.status = response.status if response else None
            page.locator(".jp-Notebook .jp-Cell").first.wait_for()
            wait_for_kernel(page, lab)
            run_all_cells(page)
            interact = page.locator(".jp-OutputArea .widget-interact")
            try:
                # JupyterLab skips rendering cells out of view: scroll to the explorer.
                interact.wait_for(state="attached", timeout=RUN_TIMEOUT_MS)
                interact.scroll_into_view_if_needed()
                interact.locator("button", has_text="Fit").wait_for(timeout=FIT_TIMEOUT_MS)
            except Exception as error:
                outputs = page.locator(".jp-OutputArea").all_inner_texts()
                raise AssertionError(f"no Fit button after Run All ({error}); outputs:\n"
                                     f"{outputs}\nJupyterLab's log:\n{lab.log_tail()}") from None
            errors = [t for t in page.locator(".jp-OutputArea").all_inner_texts()
                      if "Traceback" in t]
            assert not errors, f"a cell failed:\n{errors}"
            assert interact.locator(".widget-output").inner_text().strip() == ""
            set_slider(page, "n_neighbors", 10)
            set_slider(page, "l2", 50)
            first = press_fit(page, interact, previous="")
            set_slider(page, "l2", 3000)
            second = press_fit(page, interact, previous=first)
            ease = [line for line in second.splitlines() if line.startswith("EASE")]
            assert ease and ease[0] not in first, (first, second)
            running = marked_processes(lab.marker).values()
            assert any("ipykernel_launcher" in command for command in running), running
            problems = record.problems()  # console errors, failed or non-local requests
            assert not problems, "\n".join(problems)
        finally:
            context.close()


# --------------------------------------------------------------------------- refusals, cheaply


def _launcher_module():
    spec = importlib.util.spec_from_file_location("lab_launcher", LAUNCHER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_lab_refuses_a_taken_port_and_says_what_to_do():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, str(LAUNCHER), "--port", str(port), "--allow-root", "--no-browser"],
            capture_output=True, text=True, timeout=60, cwd=sitekit.ROOT)
    assert result.returncode == 2, result
    assert f"port {port} on 127.0.0.1 is in use" in result.stderr
    assert "LAB_PORT=" in result.stderr


def test_lab_refuses_root_unless_allowed():
    lab = _launcher_module()
    assert "make lab LAB_ARGS=--allow-root" in lab.root_problem(allow_root=False, uid=0)
    assert lab.root_problem(allow_root=True, uid=0) is None
    assert lab.root_problem(allow_root=False, uid=1000) is None
