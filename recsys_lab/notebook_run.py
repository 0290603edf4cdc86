"""Run one notebook in a kernel of its own, with time and output limits, and record its checks.

:func:`run_notebook` starts a fresh IPython kernel (this Python, in a separate process) in a
given working folder, runs a short preamble, then every code cell in order, and shuts the
kernel down whatever happens. It keeps no output: only, per cell, whether it ran, the error
it raised, and the verdict of every ``check_*`` it called.

How a verdict is read: the preamble wraps every ``check_*`` function of
:mod:`recsys_lab.exercises` so that each call, besides returning its :class:`Feedback` as
usual, publishes the verdict as a display output of its own MIME type (:data:`MIME`), signed
with HMAC-SHA256 under a key made for this run. The key reaches the kernel in an
environment variable that the preamble removes at once, so it is in no cell's source or
history. Printing "✅", defining a ``check_*`` of one's own or publishing an unsigned (or
copied) verdict therefore grades nothing: only a call of the book's check counts. This
protects the grade against mistakes and casual tricks, not against code written to attack
the grader (the student's code runs with the teacher's rights).

Limits: every cell has ``cell_timeout`` seconds and the whole notebook ``notebook_timeout``
(kernel start included). A cell past its limit is interrupted (KeyboardInterrupt); if the
kernel is still busy :data:`INTERRUPT_GRACE` seconds later it is shut down and the
remaining cells are not run. After an error the next cells still run, as "Restart and run
all" would not, so that one broken cell does not cost the exercises after it. The kernel
drops what the notebook prints beyond ``max_output`` characters; its own process output
(C libraries, TensorFlow's log) goes nowhere.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import os
import queue
import secrets
import subprocess
import time
from pathlib import Path

MIME = "application/vnd.recsys-lab.check+json"
"""The MIME type of the display output that carries a check's verdict."""

KEY_VARIABLE = "RECSYS_LAB_GRADING_KEY"
"""The environment variable that hands the kernel its signing key (removed at once)."""

INTERRUPT_GRACE = 5.0
"""Seconds a kernel has to stop after an interrupt before it is shut down."""

_POLL = 0.5  # seconds between checks that the kernel is still alive
_MAX_TEXT = 500  # characters kept of an error or a check's message

_PREAMBLE = r'''
def _recsys_lab_grading(mime, variable, max_output):
    import functools, hashlib, hmac, importlib, json, os, pkgutil, sys
    from IPython.display import display
    key = os.environ.pop(variable, "").encode()
    import recsys_lab.exercises as package
    modules = [package] + [importlib.import_module(f"{package.__name__}.{info.name}")
                           for info in pkgutil.iter_modules(package.__path__)]

    def recorded(name, check):
        @functools.wraps(check)
        def graded(*args, **kwargs):
            result = check(*args, **kwargs)
            message = getattr(result, "message", None)
            body = json.dumps({"check": name, "passed": bool(result),
                               "message": str(result if message is None else message)[:2000]})
            mac = hmac.new(key, body.encode(), hashlib.sha256).hexdigest()
            display({mime: {"record": body, "mac": mac}}, raw=True)
            return result
        return graded

    wrapped = {}
    for module in modules:
        for name, value in list(vars(module).items()):
            if name.startswith("check_") and callable(value):
                if id(value) not in wrapped:
                    wrapped[id(value)] = recorded(name, value)
                setattr(module, name, wrapped[id(value)])

    left = [max_output]
    for stream in (sys.stdout, sys.stderr):
        def capped(text, write=stream.write):
            if left[0] <= 0:
                return len(text)
            kept = text[:left[0]]
            left[0] -= len(text)
            write(kept if left[0] > 0 else kept + "\n[the grader dropped the rest of the output]\n")
            return len(text)
        stream.write = capped


_recsys_lab_grading({mime!r}, {variable!r}, {max_output!r})
del _recsys_lab_grading
'''


@dataclasses.dataclass(frozen=True)
class CheckRecord:
    """One call of a ``check_*`` function: its name, whether it passed, its message."""

    check: str
    passed: bool
    message: str


@dataclasses.dataclass
class CellRun:
    """What happened to one code cell.

    ``index`` is the cell's position in the notebook (0-based, all cells counted);
    ``status`` one of ``"ok"``, ``"error"`` (it raised; ``error`` says what),
    ``"timeout"`` (interrupted at its time limit) and ``"not run"`` (``error`` says why).
    """

    index: int
    status: str = "not run"
    error: str = ""
    records: list[CheckRecord] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class NotebookRun:
    """The cells of one run (code cells only, by index), why it stopped early ("" if it
    did not), how many verdicts were ignored as not signed by this run, and its duration."""

    cells: dict[int, CellRun]
    stopped: str = ""
    ignored_records: int = 0
    seconds: float = 0.0


def _this_python_kernel():
    """A kernel manager for an IPython kernel on this very interpreter (not whatever
    "python3" kernel spec comes first on the machine, which may lack recsys_lab)."""
    from ipykernel.kernelspec import RESOURCES, get_kernel_dict
    from jupyter_client.kernelspec import KernelSpec, KernelSpecManager
    from jupyter_client.manager import KernelManager

    class ThisPython(KernelSpecManager):
        def get_kernel_spec(self, kernel_name):
            return KernelSpec(resource_dir=RESOURCES, **get_kernel_dict())

    return KernelManager(kernel_spec_manager=ThisPython(), kernel_name="python3")


def _short(text: str) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= _MAX_TEXT else text[:_MAX_TEXT - 1] + "…"


class _Kernel:
    """A started kernel and its client; :meth:`execute` runs code with a time limit."""

    def __init__(self, cwd: Path, env: dict, timeout: float):
        self.manager = _this_python_kernel()
        self.client = None
        self.manager.start_kernel(cwd=str(cwd), env=env, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
                                  extra_arguments=["--HistoryManager.hist_file=:memory:"])
        try:
            self.client = self.manager.client()
            self.client.start_channels()
            self.client.wait_for_ready(timeout=max(timeout, 1.0))
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        if self.client is not None:
            self.client.stop_channels()
        if self.manager.has_kernel:
            self.manager.shutdown_kernel(now=True)

    def execute(self, code: str, timeout: float, key: bytes, store_history: bool = True):
        """Run ``code``; return ``(state, error, records, ignored)``.

        ``state`` is "idle" (done), "timeout" (interrupted and stopped), "stuck" (still
        busy after the interrupt) or "dead" (the kernel process ended).
        """
        msg_id = self.client.execute(code, store_history=store_history, allow_stdin=False,
                                     stop_on_error=False)
        deadline = time.monotonic() + timeout
        error, records, ignored, interrupted = "", [], 0, False
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                if interrupted:
                    return "stuck", error, records, ignored
                self.manager.interrupt_kernel()
                interrupted, deadline = True, time.monotonic() + INTERRUPT_GRACE
                continue
            try:
                message = self.client.get_iopub_msg(timeout=min(left, _POLL))
            except queue.Empty:
                if not self.manager.is_alive():
                    return "dead", error, records, ignored
                continue
            if message["parent_header"].get("msg_id") != msg_id:
                continue
            kind, content = message["msg_type"], message["content"]
            if kind == "status" and content.get("execution_state") == "idle":
                return ("timeout" if interrupted else "idle"), error, records, ignored
            if kind == "error" and not error:
                error = _short(f"{content.get('ename', 'Error')}: {content.get('evalue', '')}")
            elif kind in ("display_data", "execute_result") and MIME in content.get("data", {}):
                record = _verified(content["data"][MIME], key)
                if record is None:
                    ignored += 1
                else:
                    records.append(record)


def _verified(payload, key: bytes) -> CheckRecord | None:
    """The verdict in ``payload`` if this run's key signed it, else None."""
    try:
        body, mac = payload["record"], payload["mac"]
        expected = hmac.new(key, body.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, str(mac)):
            return None
        record = json.loads(body)
        return CheckRecord(str(record["check"]), record["passed"] is True,
                           _short(record["message"]))
    except Exception:
        return None


def run_notebook(notebook: dict, cwd: Path, *, cell_timeout: float = 300.0,
                 notebook_timeout: float = 900.0, max_output: int = 1_000_000,
                 env: dict | None = None) -> NotebookRun:
    """Run every code cell of ``notebook`` (nbformat 4 JSON) in a new kernel in ``cwd``.

    ``env`` is the kernel's environment (default: this process's, so that the data cache
    setting ``RECSYS_LAB_DATA`` passes through). The kernel is always shut down. Never
    raises for anything the notebook does; see the module docstring for the limits.
    """
    start = time.monotonic()
    deadline = start + notebook_timeout
    cells = {index: CellRun(index) for index, cell in enumerate(notebook.get("cells", []))
             if cell.get("cell_type") == "code"}
    run = NotebookRun(cells)
    key = secrets.token_hex(32)
    kernel_env = {**(os.environ if env is None else env), KEY_VARIABLE: key}
    kernel = None
    try:
        try:
            kernel = _Kernel(cwd, kernel_env, min(60.0, notebook_timeout))
        except Exception as error:  # no kernel: nothing runs, and the report says why
            run.stopped = _short(f"the kernel did not start ({type(error).__name__}: {error})")
            return run
        preamble = _PREAMBLE.replace("{mime!r}", repr(MIME)).replace(
            "{variable!r}", repr(KEY_VARIABLE)).replace("{max_output!r}", repr(max_output))
        state, error, _, _ = kernel.execute(preamble, max(deadline - time.monotonic(), 1.0),
                                            key.encode(), store_history=False)
        if state != "idle" or error:
            run.stopped = _short(f"the grader could not prepare the kernel ({error or state})")
            return run
        for index, cell in cells.items():
            source = _source(notebook["cells"][index])
            left = deadline - time.monotonic()
            if left <= 0:
                run.stopped = (f"the notebook's time limit ({notebook_timeout:g} s) ran out "
                               f"before cell {index + 1}")
                break
            if not source.strip():
                cell.status = "ok"
                continue
            limit = min(cell_timeout, left)
            state, error, records, ignored = kernel.execute(source, limit, key.encode())
            cell.records, cell.error = records, error
            run.ignored_records += ignored
            if state == "idle":
                cell.status = "error" if error else "ok"
                continue
            cell.status = "timeout" if state in ("timeout", "stuck") else "error"
            if state == "dead":
                cell.error = "the kernel died while running this cell (out of memory, or exit?)"
                run.stopped = f"the kernel died in cell {index + 1}"
                break
            what = (f"the notebook's time limit ({notebook_timeout:g} s) ran out during this "
                    f"cell" if limit < cell_timeout else
                    f"the cell ran past its time limit ({cell_timeout:g} s)")
            if state == "stuck":
                cell.error = f"{what} and did not stop when interrupted"
                run.stopped = f"the kernel was shut down: cell {index + 1} would not stop"
                break
            cell.error = f"{what} and was interrupted"
            if limit < cell_timeout:
                run.stopped = (f"the notebook's time limit ({notebook_timeout:g} s) ran out "
                               f"in cell {index + 1}")
                break
    finally:
        if kernel is not None:
            kernel.close()
        run.seconds = time.monotonic() - start
    for cell in run.cells.values():
        if cell.status == "not run" and not cell.error:
            cell.error = f"not run: {run.stopped}" if run.stopped else "not run"
    return run


def _source(cell: dict) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)
