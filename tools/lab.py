"""Start JupyterLab on the book for `make lab`: print its URL and how to stop it, or say why not.

    python tools/lab.py [--port 8888] [--allow-root] [--no-browser] [FOLDER]

Before starting, it refuses with a message that says what to do when the port is taken (a
fixed port, so the printed URL is the one to open; no silent move to the next free port) or
when it runs as root without ``--allow-root`` (JupyterLab would refuse too, deep in its log).
JupyterLab runs in a session of its own, so Ctrl-C reaches this launcher only: it stops the
server with SIGTERM, which shuts down every kernel, instead of JupyterLab's yes/no prompt.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

HOST = "127.0.0.1"
DEFAULT_PORT = 8888
READY_TIMEOUT = 120.0  # seconds; a first start on a cold disk imports a lot
STOP_TIMEOUT = 20.0


class LabError(RuntimeError):
    """JupyterLab cannot start here; the message says why and what to do."""


def port_problem(port: int, host: str = HOST) -> str | None:
    """Why JupyterLab could not listen on ``host:port``, or None when it can."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # As the server's own socket does: a port left in TIME_WAIT by a stopped server is free.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except PermissionError:
            return (f"port {port} needs privileges to listen on; choose one above 1023: "
                    f"make lab LAB_PORT=8890")
        except OSError:
            return (f"port {port} on {host} is in use (another JupyterLab? `jupyter server "
                    f"list` shows those of this environment); stop it, or choose another "
                    f"port: make lab LAB_PORT={port + 1}")
    return None


def root_problem(allow_root: bool, uid: int | None = None) -> str | None:
    """Why JupyterLab would refuse to run as this user, or None."""
    uid = os.geteuid() if uid is None else uid
    if uid == 0 and not allow_root:
        return ("JupyterLab does not run as root unless told to. Run `make lab` as an ordinary "
                "user, or, where root is the only user (a container): "
                "make lab LAB_ARGS=--allow-root")
    return None


def lab_command(folder: Path, port: int, extra: list[str]) -> list[str]:
    """The JupyterLab command line: ``folder`` as the file browser's root, ``port`` only."""
    return [
        sys.executable, "-m", "jupyterlab",
        f"--ServerApp.root_dir={folder}",
        f"--ServerApp.ip={HOST}",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        *extra,
    ]


def runtime_dir() -> Path:
    from jupyter_core.paths import jupyter_runtime_dir

    return Path(jupyter_runtime_dir())


def wait_until_ready(server: subprocess.Popen, timeout: float = READY_TIMEOUT) -> str:
    """The URL (with its token) of ``server`` once it listens, from the file it writes then."""
    info_file = runtime_dir() / f"jpserver-{server.pid}.json"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise LabError(f"JupyterLab stopped before it was ready (exit status "
                           f"{server.returncode}); its messages above say why.")
        try:
            info = json.loads(info_file.read_text())
        except (FileNotFoundError, json.JSONDecodeError):  # not yet, or half written
            time.sleep(0.2)
            continue
        return f"{info['url'].rstrip('/')}/lab?token={info['token']}"
    raise LabError(f"JupyterLab did not answer within {timeout:.0f} s; its messages above "
                   f"may say why (it is being stopped).")


def stop(server: subprocess.Popen) -> int:
    """Stop the server and its kernels (SIGTERM, then SIGKILL after STOP_TIMEOUT)."""
    # An impatient second Ctrl-C (or a SIGTERM) must not abandon a server that is stopping.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if server.poll() is None:
        server.terminate()
        try:
            server.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    return server.returncode


def _interrupt(signum, frame):
    """SIGTERM (from a process manager, a test) stops the server as Ctrl-C does."""
    raise KeyboardInterrupt


def run(folder: Path, port: int, allow_root: bool, extra: list[str]) -> int:
    for problem in (root_problem(allow_root), port_problem(port)):
        if problem:
            raise LabError(problem)
    if not folder.is_dir():
        raise LabError(f"{folder} is not a folder")
    if allow_root:
        extra = ["--allow-root", *extra]
    # stdin from /dev/null: the server must not read the terminal, whose Ctrl-C is ours.
    server = subprocess.Popen(lab_command(folder.resolve(), port, extra),
                              stdin=subprocess.DEVNULL, start_new_session=True)
    # Ctrl-C stops the server even where the shell started this launcher with SIGINT ignored.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        url = wait_until_ready(server)
        print(f"\nJupyterLab is running on {folder}/ at\n\n    {url}\n\n"
              f"Open that address in a browser. Stop JupyterLab with Ctrl-C here.\n", flush=True)
        server.wait()
        raise LabError(f"JupyterLab stopped by itself (exit status {server.returncode})")
    except KeyboardInterrupt:
        print("\nStopping JupyterLab and its kernels...", flush=True)
        stop(server)
        return 0
    except BaseException:
        stop(server)
        raise


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", default="book", type=Path)
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument("--allow-root", action="store_true",
                        help="run as root (JupyterLab refuses otherwise)")
    args, extra = parser.parse_known_args(argv)  # the rest goes to JupyterLab, e.g. --no-browser
    try:
        return run(args.folder, args.port, args.allow_root, extra)
    except LabError as error:
        print(f"make lab: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
