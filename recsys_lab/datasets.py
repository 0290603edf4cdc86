"""Datasets: MovieLens-100K (downloaded, cached, checksummed) and synthetic data with planted
structure.

MovieLens-100K
--------------
``load_movielens_100k()`` returns a :class:`MovieLens` with contiguous 0-based ids. The five
files it reads are the RecBole-format copy of ML-100K (``ml-100k.inter/.item/.user/.kg/.link``),
kept in ``<cache>/ml-100k/`` where ``<cache>`` is ``data_home``, else ``$RECSYS_LAB_DATA``, else
``~/.cache/recsys_lab``. Missing files are fetched, in order, from

1. the official GroupLens zip (only ratings and users: ``u.data`` and ``u.user`` convert
   byte-for-byte into ``ml-100k.inter`` and ``ml-100k.user``; items, the knowledge graph and
   its links have no GroupLens equivalent with a known checksum, so they always come from 2);
2. the ``recbole==1.2.1`` wheel on PyPI, fetched with ``pip download --no-deps`` and read as a
   zip archive (RecBole is never installed or imported).

Whatever the source, each file must match the SHA-256 pinned below before it is written
(atomically) to the cache, and again every time it is read. A cached file that fails the check
is never used: with ``download=True`` it is fetched again (with a :class:`DataWarning`), with
``download=False`` a :class:`DataError` says which file, the expected and actual hashes, and
what to do. MovieLens may not be redistributed: the data live in the cache, never in the repo.

A fetch says on stderr which source it is trying (nothing is printed when the cache is
complete) and gives up on each source after about ``SOURCE_TIMEOUT_S`` seconds. Cache files
are created with the usual permissions (``0o666`` minus the umask), so a cache folder can be
copied to other accounts; a file that cannot be read or a folder that cannot be written is a
:class:`DataError` that names the path and the fix.

Run ``python -m recsys_lab.datasets fetch`` (``make data``) to fill the cache ahead of time.

Synthetic data
--------------
``synthetic_ratings``, ``synthetic_sequences``, ``synthetic_content`` and
``synthetic_communities`` draw seeded data whose structure is known (a low-rank matrix, a
Markov chain, content that determines item factors, two communities of users and items), so
tests and chapters can check that a model recovers what was planted.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import http.client
import io
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = [
    "DataError",
    "DataWarning",
    "MovieLens",
    "SyntheticCommunities",
    "SyntheticContent",
    "SyntheticRatings",
    "SyntheticSequences",
    "cache_dir",
    "fetch_movielens_100k",
    "load_movielens_100k",
    "synthetic_communities",
    "synthetic_content",
    "synthetic_ratings",
    "synthetic_sequences",
]

# --------------------------------------------------------------------------------------------
# Where the files come from, and what they must hash to
# --------------------------------------------------------------------------------------------

DATASET = "ml-100k"

#: SHA-256 of each RecBole-format file (identical in the wheel and, for .inter/.user, in the
#: conversion of the GroupLens zip). The md5 sums in the design notes describe the same bytes.
FILE_SHA256 = {
    "ml-100k.inter": "4edb74e2a81178c2ba9ff381495f754f996c4aea351b1272ca36b43da0935eff",
    "ml-100k.item": "51d7cdf777ce5c0f5b32c1d947a4a81fe07d75e78abbe761e0cd4d0756064532",
    "ml-100k.user": "4f670007d9cfbeb9807e757209af1555b9bcc186bde25e767f67cb67c6dd5972",
    "ml-100k.kg": "200a0636fa07c218119a42e5bac7aa3e26e3665a6f919c1b22909bd412b14779",
    "ml-100k.link": "524dca2c3d62619688ab99b3ec53ea2acb9b64d38eafec3e02bdd0dc6bb7d948",
}
FILES = tuple(FILE_SHA256)

GROUPLENS_URL = "https://files.grouplens.org/datasets/movielens/ml-100k.zip"
#: SHA-256 of the GroupLens zip. Left as None on purpose: it could not be measured where this
#: module was written (no access to grouplens.org), and a guessed hash is worse than none. The
#: zip is still safe to use because what we keep from it is checked against ``FILE_SHA256``.
GROUPLENS_ZIP_SHA256: str | None = None
#: RecBole headers prepended to the converted GroupLens files (u.data is already tab-separated,
#: u.user is pipe-separated).
_GROUPLENS_MEMBERS = {
    "ml-100k.inter": (
        "ml-100k/u.data",
        "user_id:token\titem_id:token\trating:float\ttimestamp:float\n",
    ),
    "ml-100k.user": (
        "ml-100k/u.user",
        "user_id:token\tage:token\tgender:token\toccupation:token\tzip_code:token\n",
    ),
}

WHEEL_REQUIREMENT = "recbole==1.2.1"
WHEEL_NAME = "recbole-1.2.1-py3-none-any.whl"
WHEEL_SHA256: str | None = "9c9948202011f37eb0a7c6768129313f00d6403ad221ec940d5e2d5d5f33a407"
WHEEL_MEMBER_DIR = "recbole/dataset_example/ml-100k/"

#: How long one source (GroupLens, then PyPI) may keep us waiting in all. On a stalled network
#: the user gets the clear error after about a minute, not minutes of silence.
SOURCE_TIMEOUT_S = 30.0
#: Timeout of one connect or read: urllib's socket timeout, pip's ``--timeout``. Set explicitly
#: so that a large ``PIP_DEFAULT_TIMEOUT`` in the environment cannot stretch the wait.
NETWORK_TIMEOUT_S = 10.0
#: pip's ``--retries`` (its default is 5): two attempts of NETWORK_TIMEOUT_S fit in
#: SOURCE_TIMEOUT_S, which is also enforced as a hard limit on the pip process.
PIP_RETRIES = 1
#: Leftovers of a killed fetch (part files, scratch folders) older than this are removed by the
#: next fetch. A live fetch lasts at most about a minute (two sources of SOURCE_TIMEOUT_S, then
#: writes of a few MB), so five minutes never removes what a concurrent fetch is writing.
STALE_AFTER_S = 300.0

N_USERS, N_ITEMS, N_RATINGS = 943, 1682, 100_000


class DataError(ValueError):
    """A data file is missing, corrupt or could not be fetched. The message says what to do."""


class DataWarning(UserWarning):
    """Something about the data cache was repaired (e.g. a corrupt file was fetched again)."""


def _cache_root(data_home: str | os.PathLike | None = None) -> Path:
    """The cache root shared by every dataset: ``data_home``, ``$RECSYS_LAB_DATA`` or
    ``~/.cache/recsys_lab`` (each dataset has its own folder inside)."""
    root = data_home or os.environ.get("RECSYS_LAB_DATA") or Path.home() / ".cache" / "recsys_lab"
    return Path(root).expanduser()


def cache_dir(data_home: str | os.PathLike | None = None) -> Path:
    """Folder holding the ML-100K files: ``data_home``, ``$RECSYS_LAB_DATA`` or
    ``~/.cache/recsys_lab``, plus ``ml-100k/``."""
    return _cache_root(data_home) / DATASET


def _remedy(folder: Path) -> str:
    return (
        "To fix it, run `make data` (or `python -m recsys_lab.datasets fetch`) on a machine "
        f"that can reach PyPI, or copy the five files {', '.join(FILES)} (found in the "
        f"{WHEEL_NAME} wheel under {WHEEL_MEMBER_DIR}) into {folder}."
    )


# --------------------------------------------------------------------------------------------
# Checksums, reading and writing the cache
# --------------------------------------------------------------------------------------------


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _cannot_read(path: Path, err: OSError) -> str:
    return (
        f"Cannot read {path} ({type(err).__name__}: {err.strerror or err}). If the cache was "
        f"copied from another account, its owner can make it readable: `chmod a+r {path}` "
        f"(and `chmod a+rx {path.parent}` for the folder). Or set RECSYS_LAB_DATA to a folder "
        "of your own and run `python -m recsys_lab.datasets fetch`."
    )


def _cannot_write(path: Path, folder: Path, err: OSError) -> str:
    return (
        f"Cannot write {path} ({type(err).__name__}: {err.strerror or err}). Make {folder} "
        f"writable (e.g. `chmod u+w {folder}`) and check that its disk is not full, or set "
        "RECSYS_LAB_DATA (or data_home) to a folder you can write, "
        "e.g. `export RECSYS_LAB_DATA=$HOME/recsys_lab_data`."
    )


def _read_cached(path: Path) -> bytes | None:
    """The bytes of cache file ``path``, or None if it does not exist.

    Any other failure (typically a file copied without read permission) is a DataError that
    names the file and the fix, never a bare PermissionError from deep inside pandas.
    """
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as err:
        raise DataError(_cannot_read(path, err)) from err


def _atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see either the old file or the whole new one.

    The bytes go to a part file in the same folder (same file system, so the rename is atomic),
    are flushed to disk, and only then renamed over ``path``. On any failure the part file is
    removed and ``path`` is left untouched.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    # Not tempfile.mkstemp: it creates files with mode 0600, and a cache copied to another
    # account (the README's advice for lab machines) would be unreadable there. Mode 0o666 lets
    # the umask decide, as for any file the user creates; O_EXCL never opens an existing file
    # (nor follows a symlink planted under that name).
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.part")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    fd = os.open(tmp, flags, 0o666)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _check_bytes(name: str, data: bytes, origin: str) -> None:
    """Raise DataError unless ``data`` has the pinned SHA-256 of file ``name``."""
    actual = _sha256(data)
    if actual != FILE_SHA256[name]:
        raise DataError(
            f"{name} from {origin} fails its checksum (expected SHA-256 {FILE_SHA256[name]}, "
            f"got {actual}; {len(data)} bytes): it is corrupt, partial or a different version"
        )


def _cached_status(folder: Path) -> dict[str, str]:
    """Map each file name to "ok", "missing" or a description of its checksum failure.

    Raises DataError if a file exists but cannot be read.
    """
    status = {}
    for name in FILES:
        data = _read_cached(folder / name)
        if data is None:
            status[name] = "missing"
            continue
        try:
            _check_bytes(name, data, str(folder / name))
            status[name] = "ok"
        except DataError as err:
            status[name] = str(err)
    return status


def _remove_stale_leftovers(folder: Path) -> None:
    """Remove the part files and scratch folders that a killed fetch left in ``folder``.

    Only those older than STALE_AFTER_S: younger ones may belong to a fetch running right now
    in another process (two notebooks started together), whose rename would then fail. Best
    effort, errors are ignored: a read-only cache has nothing of ours to clean, and a real write
    problem is reported when we write.
    """
    patterns = [f".{name}.*.part" for name in FILES] + [".fetch-*.tmp"]
    cutoff = time.time() - STALE_AFTER_S
    for pattern in patterns:
        for path in folder.glob(pattern):
            try:
                if path.lstat().st_mtime >= cutoff:
                    continue
                if path.is_dir() and not path.is_symlink():
                    shutil.rmtree(path)
                else:
                    path.unlink()
            except OSError:
                pass


@contextlib.contextmanager
def _scratch_folder(folder: Path):
    """A scratch folder for one fetch (pip's download and temporary files), always removed.

    It is made inside the cache folder rather than in the system temp folder: creating it
    checks that the cache can be written before anything is downloaded, and if the fetch is
    killed outright (SIGKILL, a kernel restart) its remains are where the next fetch removes
    them (:func:`_remove_stale_leftovers`).
    """
    try:
        folder.mkdir(parents=True, exist_ok=True)
        scratch = tempfile.TemporaryDirectory(
            dir=folder, prefix=".fetch-", suffix=".tmp", ignore_cleanup_errors=True
        )
    except OSError as err:
        raise DataError(_cannot_write(folder, folder, err)) from err
    with scratch as path:
        yield Path(path)


# --------------------------------------------------------------------------------------------
# Sources: GroupLens zip, PyPI wheel
# --------------------------------------------------------------------------------------------


def _say(message: str) -> None:
    """Tell the user what is being fetched (only ever called when something is fetched)."""
    print(f"recsys_lab: {message}", file=sys.stderr, flush=True)


def _download(url: str, timeout_s: float | None = None) -> bytes:
    """GET ``url``, giving up after about ``timeout_s`` (default ``SOURCE_TIMEOUT_S``) seconds.

    The socket timeout bounds each connect and read; the deadline, checked between chunks,
    bounds a download that trickles in. (Name lookup is bounded by the system resolver.)
    """
    total_s = SOURCE_TIMEOUT_S if timeout_s is None else timeout_s
    deadline = time.monotonic() + total_s
    chunks = []
    with urllib.request.urlopen(url, timeout=min(NETWORK_TIMEOUT_S, total_s)) as response:
        while chunk := response.read(1 << 16):
            chunks.append(chunk)
            if time.monotonic() > deadline:
                raise TimeoutError(f"download not finished after {total_s:g} s")
    return b"".join(chunks)


def _grouplens_files(url: str = GROUPLENS_URL) -> dict:
    """Download the GroupLens zip and convert ``u.data``/``u.user`` to RecBole format.

    Returns ``{file name: bytes}`` for the converted files; they are checksummed by the caller.
    Raises OSError (e.g. ``URLError``, no network; ``TimeoutError``) or DataError (unexpected
    content).
    """
    payload = _download(url)
    if GROUPLENS_ZIP_SHA256 is not None and _sha256(payload) != GROUPLENS_ZIP_SHA256:
        raise DataError(f"the GroupLens zip fails its checksum (got {_sha256(payload)})")
    try:
        archive = zipfile.ZipFile(io.BytesIO(payload))
    except zipfile.BadZipFile as err:
        raise DataError(f"the GroupLens download is not a zip file: {err}") from err
    files = {}
    with archive:
        for name, (member, header) in _GROUPLENS_MEMBERS.items():
            body = archive.read(member).decode("latin-1")
            files[name] = (header + body.replace("|", "\t")).encode("utf-8")
    n_lines = files["ml-100k.inter"].count(b"\n") - 1
    if n_lines != N_RATINGS:
        raise DataError(f"the GroupLens u.data has {n_lines} ratings, expected {N_RATINGS}")
    return files


def _pip_command(dest: Path) -> list[str]:
    """``pip download`` of the RecBole wheel alone into ``dest``, with explicit bounds."""
    return [
        sys.executable, "-m", "pip", "download", WHEEL_REQUIREMENT, "--dest", str(dest),
        "--no-deps", "--only-binary=:all:", "--disable-pip-version-check", "--quiet",
        "--no-input",  # a private index asking for a password fails instead of hanging
        "--no-cache-dir",  # nothing left in ~/.cache/pip, partial or whole
        f"--timeout={NETWORK_TIMEOUT_S:g}", f"--retries={PIP_RETRIES}",
    ]  # fmt: skip


def _download_wheel(scratch: Path) -> Path:
    """Run ``pip download`` for the RecBole wheel into ``scratch``; return the wheel's path.

    pip (not urllib) is used so that the user's index, proxy and certificate settings apply.
    Its temporary files go to ``scratch`` too (TMPDIR): pip killed by our timeout or by Ctrl-C
    cannot clean up after itself, but ``scratch`` is always removed by the caller.
    """
    env = dict(os.environ, TMPDIR=str(scratch), TEMP=str(scratch), TMP=str(scratch))
    timeout = SOURCE_TIMEOUT_S
    try:
        result = subprocess.run(
            _pip_command(scratch), capture_output=True, text=True, timeout=timeout, env=env
        )
    except subprocess.TimeoutExpired as err:
        raise TimeoutError(f"pip download did not finish in {timeout:g} s") from err
    if result.returncode != 0:
        tail = (result.stderr or result.stdout).strip().splitlines()[-3:]
        raise OSError(f"pip download failed (exit {result.returncode}): {' | '.join(tail)}")
    wheel = scratch / WHEEL_NAME
    if not wheel.is_file():
        raise OSError(f"pip download did not produce {WHEEL_NAME}")
    return wheel


def _wheel_files(wheel: Path) -> dict:
    """Read the five ML-100K files out of the RecBole wheel (a zip archive)."""
    payload = wheel.read_bytes()
    if WHEEL_SHA256 is not None and _sha256(payload) != WHEEL_SHA256:
        raise DataError(
            f"{wheel.name} fails its checksum (expected SHA-256 {WHEEL_SHA256}, "
            f"got {_sha256(payload)})"
        )
    try:
        with zipfile.ZipFile(io.BytesIO(payload)) as archive:
            return {name: archive.read(WHEEL_MEMBER_DIR + name) for name in FILES}
    except (zipfile.BadZipFile, KeyError) as err:
        raise DataError(f"{wheel.name} does not hold the ML-100K files: {err}") from err


def _use_grouplens(grouplens: bool | None) -> bool:
    if grouplens is not None:
        return grouplens
    return os.environ.get("RECSYS_LAB_NO_GROUPLENS", "").strip().lower() in ("", "0", "false")


# --------------------------------------------------------------------------------------------
# Fetching: cache first, then the sources in order
# --------------------------------------------------------------------------------------------

#: What a failing source may raise. A failure to write the cache is not among them: it is
#: reported as such (a DataError raised by _Fetch.store), not blamed on the source.
_SOURCE_ERRORS = (OSError, http.client.HTTPException, DataError, KeyError)


@dataclass
class _Fetch:
    """One fetch in progress: which files are in the cache (and from where), what failed."""

    folder: Path
    sources: dict[str, str]  # file name -> "cache", "grouplens" or "pypi wheel"
    tried: list[str]  # why each source (or file) could not be used, for the final error

    def needs(self, names) -> bool:
        return any(name not in self.sources for name in names)

    def attempt(self, label: str, get_files, origin: str) -> None:
        """Call ``get_files()``; store what it returns, or note in ``tried`` why it failed."""
        try:
            files = get_files()
        except _SOURCE_ERRORS as err:
            # Type names such as URLError or TimeoutError say something; OSError does not.
            kind = "" if type(err) in (OSError, DataError) else f"{type(err).__name__}: "
            self.tried.append(f"{label}: {kind}{err}")
            return
        self.store(files, origin)

    def store(self, files: dict, origin: str) -> None:
        """Write each needed file that passes its checksum; a write failure is a DataError."""
        for name, data in files.items():
            if name in self.sources:
                continue
            try:
                _check_bytes(name, data, origin)
            except DataError as err:
                self.tried.append(str(err))
                continue
            path = self.folder / name
            try:
                _atomic_write(path, data)
            except OSError as err:
                raise DataError(_cannot_write(path, self.folder, err)) from err
            self.sources[name] = origin


def _fetch_missing(fetch: _Fetch, grouplens: bool) -> None:
    """Try GroupLens (if wanted and useful), then the PyPI wheel, announcing each on stderr."""
    limit = f"up to {SOURCE_TIMEOUT_S:g} s"
    with _scratch_folder(fetch.folder) as scratch:
        if grouplens and fetch.needs(_GROUPLENS_MEMBERS):
            _say(f"fetching MovieLens-100K from {GROUPLENS_URL} ({limit})")
            fetch.attempt(f"GroupLens zip {GROUPLENS_URL}",
                          lambda: _grouplens_files(GROUPLENS_URL), "grouplens")
        if fetch.needs(FILES):
            _say(f"fetching MovieLens-100K from PyPI: {WHEEL_REQUIREMENT} via pip ({limit})")
            fetch.attempt(
                f"PyPI wheel {WHEEL_REQUIREMENT} via pip download",
                lambda: _wheel_files(_download_wheel(scratch)),
                "pypi wheel",
            )


def fetch_movielens_100k(
    data_home: str | os.PathLike | None = None,
    *,
    download: bool = True,
    grouplens: bool | None = None,
) -> dict[str, str]:
    """Make sure the five ML-100K files are in the cache and pass their checksums.

    Parameters
    ----------
    data_home : cache root (see :func:`cache_dir`).
    download : if False, never touch the network; missing or corrupt files raise DataError.
    grouplens : try the GroupLens zip before PyPI. ``None`` means yes unless the environment
        variable ``RECSYS_LAB_NO_GROUPLENS=1`` is set.

    Returns
    -------
    dict mapping each file name to where it came from: ``"cache"``, ``"grouplens"`` or
    ``"pypi wheel"``.

    Raises
    ------
    DataError
        If a file is missing or corrupt and cannot be (re)fetched (the message lists every
        source tried, why it failed, and what to do), or if the cache cannot be read or
        written (the message names the path and the fix).
    """
    folder = cache_dir(data_home)
    if download:
        _remove_stale_leftovers(folder)
    status = _cached_status(folder)
    corrupt = {name: why for name, why in status.items() if why not in ("ok", "missing")}
    if not download and any(s != "ok" for s in status.values()):
        problems = "; ".join(f"{n}: {s}" for n, s in status.items() if s != "ok")
        advice = "Delete the corrupt file(s) listed above. " if corrupt else ""
        raise DataError(
            f"MovieLens-100K is not usable in {folder} and download=False. {problems}. "
            f"{advice}{_remedy(folder)}"
        )
    for why in corrupt.values():
        # A corrupt cache file is never read; we replace it with a verified copy.
        warnings.warn(f"{why}; fetching it again", DataWarning, stacklevel=2)

    cached = {name: "cache" for name, s in status.items() if s == "ok"}
    state = ", ".join(f"{n} {'missing' if s == 'missing' else 'corrupt'}"
                      for n, s in status.items() if s != "ok")
    fetch = _Fetch(folder, sources=cached, tried=[f"cache {folder}: {state}"])
    if fetch.needs(FILES):
        _fetch_missing(fetch, _use_grouplens(grouplens))

    missing = [n for n in FILES if n not in fetch.sources]
    if missing:
        raise DataError(
            f"Could not obtain MovieLens-100K file(s) {', '.join(missing)}. Sources tried: "
            + " || ".join(fetch.tried) + ". " + _remedy(folder)
        )
    return {name: fetch.sources[name] for name in FILES}


# --------------------------------------------------------------------------------------------
# Parsing
# --------------------------------------------------------------------------------------------


def _read_table(folder: Path, name: str) -> pd.DataFrame:
    """Read one verified RecBole file; columns lose their ``:type`` suffix, values stay str."""
    data = _read_cached(folder / name)
    if data is None:
        raise DataError(f"{folder / name} has disappeared since it was verified. {_remedy(folder)}")
    _check_bytes(name, data, str(folder / name))  # verified at every use, not only at fetch
    frame = pd.read_csv(
        io.BytesIO(data), sep="\t", dtype=str, encoding="utf-8", keep_default_na=False,
        quoting=3,  # csv.QUOTE_NONE: titles contain quotes that are not quoting
    )
    frame.columns = [c.split(":")[0] for c in frame.columns]
    return frame


def _parse_ratings(raw: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({
        "user": raw["user_id"].astype(np.int64) - 1,
        "item": raw["item_id"].astype(np.int64) - 1,
        "rating": raw["rating"].astype(np.float64),
        "timestamp": raw["timestamp"].astype(np.float64).astype(np.int64),
    })


_YEAR_IN_TITLE = re.compile(r"^(?P<title>.*?)\s*\((?P<year>\d{4})\)\s*$")


def _parse_items(raw: pd.DataFrame) -> pd.DataFrame:
    """Items with title, year (nullable Int64) and a list of genres.

    Two rows of RecBole's file are irregular: item 267 (id 266) has title and year
    ``"unkonwn"`` (sic) -> title ``"unknown"``, year NA; item 1412 has year ``"V"`` (video) and
    the year left in its title -> year taken from the title and removed from it.
    """
    titles, years = [], []
    for title, year in zip(raw["movie_title"], raw["release_year"], strict=True):
        if title == "unkonwn":
            title = "unknown"
        match = _YEAR_IN_TITLE.match(title)
        if not year.isdigit() and match:
            title, year = match["title"], match["year"]
        titles.append(title)
        years.append(int(year) if year.isdigit() else pd.NA)
    items = pd.DataFrame({
        "item": raw["item_id"].astype(np.int64) - 1,
        "title": titles,
        "year": pd.array(years, dtype="Int64"),
        "genres": [g.split() for g in raw["class"]],
    })
    return items.sort_values("item", ignore_index=True)


def _parse_users(raw: pd.DataFrame) -> pd.DataFrame:
    users = pd.DataFrame({
        "user": raw["user_id"].astype(np.int64) - 1,
        "age": raw["age"].astype(np.int64),
        "gender": raw["gender"],
        "occupation": raw["occupation"],
    })
    return users.sort_values("user", ignore_index=True)


def _parse_kg(kg: pd.DataFrame, link: pd.DataFrame) -> pd.DataFrame:
    """Triples ``(item, relation, entity)`` whose head is the Freebase entity of a movie.

    Why only heads: every triple with a linked movie as *tail* (e.g.
    ``director --film.director.film--> movie``) is the inverse of a head triple already kept
    (``movie --film.film.directed_by--> director``); on ML-100K none adds a new
    (movie, entity) pair, so keeping them would only double-count. ``entity`` is a Freebase
    id string (``"m.0bln8"``); it may itself be another movie (sequels, prequels).
    """
    item_of = dict(zip(link["entity_id"], link["item_id"].astype(np.int64) - 1, strict=True))
    linked = kg[kg["head_id"].isin(item_of)]
    return pd.DataFrame({
        "item": linked["head_id"].map(item_of).astype(np.int64).to_numpy(),
        "relation": linked["relation_id"].to_numpy(),
        "entity": linked["tail_id"].to_numpy(),
    })


@dataclass(frozen=True, repr=False, eq=False)
class MovieLens:
    """MovieLens-100K with contiguous 0-based ids (original id minus 1).

    Attributes
    ----------
    ratings : DataFrame (100000 rows) ``user``, ``item`` (int64), ``rating`` (float64, 1..5),
        ``timestamp`` (int64, unix seconds), in the order of the original file.
    items : DataFrame (1682 rows, sorted by ``item``) ``item``, ``title`` (str),
        ``year`` (Int64, NA where unknown), ``genres`` (list of str, e.g.
        ``["Animation", "Children's", "Comedy"]``).
    users : DataFrame (943 rows, sorted by ``user``) ``user``, ``age`` (int64),
        ``gender`` (``"M"``/``"F"``), ``occupation`` (str).
    kg : DataFrame ``item`` (int64), ``relation`` (Freebase relation, str), ``entity``
        (Freebase id, str): knowledge-graph triples whose head is a movie (see
        ``_parse_kg``); 1598 of the 1682 items are linked.
    n_users, n_items : 943 and 1682.
    path : the folder the files were read from.
    """

    ratings: pd.DataFrame
    items: pd.DataFrame
    users: pd.DataFrame
    kg: pd.DataFrame
    n_users: int
    n_items: int
    path: Path = field(default=Path("."))

    @property
    def genres(self) -> list[str]:
        """Sorted genre names (19, including ML-100K's ``"unknown"``)."""
        return sorted({g for genres in self.items["genres"] for g in genres})

    def __repr__(self) -> str:
        return (
            f"MovieLens({self.n_users} users, {self.n_items} items, {len(self.ratings)} "
            f"ratings, {len(self.kg)} KG triples, {len(self.genres)} genres; from {self.path})"
        )


def load_movielens_100k(
    data_home: str | os.PathLike | None = None,
    download: bool = True,
    *,
    grouplens: bool | None = None,
) -> MovieLens:
    """Load MovieLens-100K, fetching and verifying the files first if needed.

    Parameters
    ----------
    data_home : cache root; default ``$RECSYS_LAB_DATA`` or ``~/.cache/recsys_lab``.
    download : allow fetching missing or corrupt files (GroupLens, then PyPI).
    grouplens : try GroupLens before PyPI (default: yes unless ``RECSYS_LAB_NO_GROUPLENS=1``).

    Returns
    -------
    MovieLens

    Raises
    ------
    DataError (a ValueError)
        If a file is missing or corrupt and cannot be fetched, with what to do about it.
    """
    fetch_movielens_100k(data_home, download=download, grouplens=grouplens)
    folder = cache_dir(data_home)
    tables = {name: _read_table(folder, name) for name in FILES}
    data = MovieLens(
        ratings=_parse_ratings(tables["ml-100k.inter"]),
        items=_parse_items(tables["ml-100k.item"]),
        users=_parse_users(tables["ml-100k.user"]),
        kg=_parse_kg(tables["ml-100k.kg"], tables["ml-100k.link"]),
        n_users=N_USERS,
        n_items=N_ITEMS,
        path=folder,
    )
    _check_shapes(data)
    return data


def _check_shapes(data: MovieLens) -> None:
    """Cheap structural checks: the checksum already guarantees content, this guards parsing."""
    expected = {"ratings": N_RATINGS, "items": N_ITEMS, "users": N_USERS}
    for name, rows in expected.items():
        if len(getattr(data, name)) != rows:
            raise DataError(f"parsed {name} has {len(getattr(data, name))} rows, expected {rows}")
    if not (np.array_equal(data.items["item"], np.arange(N_ITEMS))
            and np.array_equal(data.users["user"], np.arange(N_USERS))):
        raise DataError("parsed ids are not contiguous 0-based")


# --------------------------------------------------------------------------------------------
# Synthetic data with planted structure (NumPy only)
# --------------------------------------------------------------------------------------------


def _timestamps(rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` strictly increasing unix times (one per event of a user), 1 min to 1 day apart."""
    start = 880_000_000 + rng.integers(0, 10_000_000)
    return start + np.cumsum(rng.integers(60, 86_400, size=n))


def _observed_pairs(rng: np.random.Generator, n_users: int, n_items: int, density: float):
    """Each user rates ``max(1, round(density * n_items))`` distinct random items."""
    per_user = max(1, int(round(density * n_items)))
    items = np.argsort(rng.random((n_users, n_items)), axis=1)[:, :per_user]
    users = np.repeat(np.arange(n_users), per_user)
    return users, items.ravel()


def _ratings_frame(rng, users, items, true_ratings, noise) -> pd.DataFrame:
    """Observed ratings = true + Gaussian noise, clipped to 1..5; timestamps increase per user."""
    observed = true_ratings[users, items] + noise * rng.standard_normal(len(users))
    counts = np.bincount(users)
    times = np.concatenate([_timestamps(rng, c) for c in counts])
    return pd.DataFrame({
        "user": users.astype(np.int64),
        "item": items.astype(np.int64),
        "rating": np.clip(observed, 1.0, 5.0),
        "timestamp": times.astype(np.int64),
    })


@dataclass(frozen=True, eq=False)
class SyntheticRatings:
    """Ratings drawn from ``global_mean + user_factors @ item_factors.T`` plus noise.

    ratings : DataFrame ``user``, ``item``, ``rating`` (float in [1, 5]), ``timestamp``.
    user_factors : (n_users, rank);  item_factors : (n_items, rank).
    true_ratings : (n_users, n_items) = ``global_mean + user_factors @ item_factors.T``,
        not clipped, so ``true_ratings - global_mean`` has rank exactly ``rank``.
    """

    ratings: pd.DataFrame
    user_factors: np.ndarray
    item_factors: np.ndarray
    true_ratings: np.ndarray
    global_mean: float
    n_users: int
    n_items: int


def synthetic_ratings(
    n_users: int = 200,
    n_items: int = 150,
    rank: int = 3,
    density: float = 0.2,
    noise: float = 0.1,
    seed: int = 0,
) -> SyntheticRatings:
    """Low-rank explicit ratings for testing matrix factorisation and friends.

    Factors are N(0, rank^-1/2) so that each entry of ``U @ V.T`` has variance 1; the true
    rating is ``3 + U @ V.T`` (mostly within 1..5). Each user rates
    ``round(density * n_items)`` random items; the observed rating adds N(0, noise²) and is
    clipped to [1, 5] (continuous, not rounded to stars).
    """
    rng = np.random.default_rng(seed)
    scale = rank ** -0.25
    user_factors = scale * rng.standard_normal((n_users, rank))
    item_factors = scale * rng.standard_normal((n_items, rank))
    global_mean = 3.0
    true_ratings = global_mean + user_factors @ item_factors.T
    users, items = _observed_pairs(rng, n_users, n_items, density)
    return SyntheticRatings(
        ratings=_ratings_frame(rng, users, items, true_ratings, noise),
        user_factors=user_factors,
        item_factors=item_factors,
        true_ratings=true_ratings,
        global_mean=global_mean,
        n_users=n_users,
        n_items=n_items,
    )


@dataclass(frozen=True, eq=False)
class SyntheticSequences:
    """User histories generated by a planted Markov chain over items.

    ratings : DataFrame ``user``, ``item``, ``rating`` (1.0: implicit), ``timestamp``
        (strictly increasing within a user, so sorting by time recovers the chain order).
    transition : (n_items, n_items) row-stochastic matrix the walks were drawn from.
    next_item : (n_items,) the most likely successor of each item (``transition.argmax(1)``).
    """

    ratings: pd.DataFrame
    transition: np.ndarray
    next_item: np.ndarray
    n_users: int
    n_items: int


def synthetic_sequences(
    n_users: int = 300,
    n_items: int = 50,
    length: int = 20,
    seed: int = 0,
    n_successors: int = 3,
    p_top: float = 0.7,
    noise: float = 0.05,
) -> SyntheticSequences:
    """Sequences from a sparse Markov chain; sequence models must learn "after a comes b".

    Each item has ``n_successors`` random successors: the first gets probability ``p_top``,
    the others share the rest; the chain is then mixed with a uniform jump of weight ``noise``.
    Walks start at a uniform item and never repeat an item (as in MovieLens, a user meets an
    item once): at each step already-visited items are masked and the row renormalised.
    Requires ``length <= n_items``.
    """
    if length > n_items:
        raise ValueError(f"length={length} must be <= n_items={n_items} (items do not repeat)")
    rng = np.random.default_rng(seed)
    transition = np.zeros((n_items, n_items))
    rest = (1.0 - p_top) / max(n_successors - 1, 1)
    for item in range(n_items):
        others = rng.permutation(np.delete(np.arange(n_items), item))[:n_successors]
        transition[item, others] = [p_top] + [rest] * (n_successors - 1)
    transition = (1.0 - noise) * transition + noise / n_items

    items = np.empty((n_users, length), dtype=np.int64)
    for user in range(n_users):
        visited = np.zeros(n_items, dtype=bool)
        current = rng.integers(n_items)
        for step in range(length):
            items[user, step] = current
            visited[current] = True
            probs = np.where(visited, 0.0, transition[current])
            current = rng.choice(n_items, p=probs / probs.sum())
    ratings = pd.DataFrame({
        "user": np.repeat(np.arange(n_users, dtype=np.int64), length),
        "item": items.ravel(),
        "rating": 1.0,
        "timestamp": np.concatenate([_timestamps(rng, length) for _ in range(n_users)]),
    })
    return SyntheticSequences(ratings, transition, transition.argmax(axis=1), n_users, n_items)


@dataclass(frozen=True, eq=False)
class SyntheticContent:
    """Items whose token content determines their factors (for cold-start models).

    tokens : (n_items, length) int64 token ids in ``1..n_tokens-1`` (0 is left free for
        padding, e.g. ``Embedding(mask_zero=True)``).
    item_factors : (n_items, rank) the item's mixture over ``rank`` topics (rows sum to 1):
        the factors a model should predict from ``tokens``.
    user_factors : (n_users, rank);  true_ratings : (n_users, n_items)
        = ``global_mean + user_factors @ item_factors.T``.
    ratings : DataFrame ``user``, ``item``, ``rating`` (clipped to [1, 5]), ``timestamp``.
    topic_of_token : (n_tokens,) which topic owns each token (-1 for padding id 0).
    """

    tokens: np.ndarray
    item_factors: np.ndarray
    user_factors: np.ndarray
    true_ratings: np.ndarray
    ratings: pd.DataFrame
    topic_of_token: np.ndarray
    global_mean: float
    n_users: int
    n_items: int


def synthetic_content(
    n_items: int = 200,
    n_users: int = 300,
    n_tokens: int = 500,
    length: int = 30,
    rank: int = 4,
    density: float = 0.1,
    noise: float = 0.1,
    seed: int = 0,
) -> SyntheticContent:
    """Item "descriptions" drawn from topics; an item's topic mix is its factor vector.

    The vocabulary ``1..n_tokens-1`` is split into ``rank`` blocks, one per topic. An item's
    topic weights are Dirichlet(0.3) (mostly one or two topics); each of its ``length`` tokens
    picks a topic from those weights and then a uniform token of that topic's block. So the
    token histogram reveals the weights, and ratings depend on the item only through them.
    """
    rng = np.random.default_rng(seed)
    topic_of_token = np.concatenate([[-1], np.arange(n_tokens - 1) * rank // (n_tokens - 1)])
    blocks = [np.flatnonzero(topic_of_token == k) for k in range(rank)]
    topic_weights = rng.dirichlet(np.full(rank, 0.3), size=n_items)
    topics = np.array([rng.choice(rank, size=length, p=w) for w in topic_weights])
    tokens = np.empty_like(topics)
    for k, block in enumerate(blocks):
        mask = topics == k
        tokens[mask] = rng.choice(block, size=int(mask.sum()))

    # The topic mix *is* the item factor (not centred: centring would lose a rank, as rows
    # sum to 1). Users are scaled so that U @ V.T has unit variance.
    item_factors = topic_weights
    user_factors = rng.standard_normal((n_users, rank))
    user_factors /= (user_factors @ item_factors.T).std()
    global_mean = 3.0
    true_ratings = global_mean + user_factors @ item_factors.T
    users, items = _observed_pairs(rng, n_users, n_items, density)
    return SyntheticContent(
        tokens=tokens.astype(np.int64),
        item_factors=item_factors,
        user_factors=user_factors,
        true_ratings=true_ratings,
        ratings=_ratings_frame(rng, users, items, true_ratings, noise),
        topic_of_token=topic_of_token,
        global_mean=global_mean,
        n_users=n_users,
        n_items=n_items,
    )


@dataclass(frozen=True, eq=False)
class SyntheticCommunities:
    """Implicit interactions with two planted communities (for graph and neighbourhood models).

    interactions : DataFrame ``user``, ``item`` (int64), one row per interaction.
    user_group, item_group : (n_users,), (n_items,) the community of each user and item
        (``id % 2``): users interact mostly with the items of their own community.
    """

    interactions: pd.DataFrame
    user_group: np.ndarray
    item_group: np.ndarray
    n_users: int
    n_items: int

    def own_share_of_top(self, scores: np.ndarray, k: int = 5) -> float:
        """The share of the users' top-``k`` unseen items that lie in the user's community.

        ``scores`` is ``(n_users, n_items)``, a model's scores for every pair; items in
        ``interactions`` are left out of each ranking. A random ranking scores the own
        community's share of the unseen items, ``(n_items / 2 − n_own) / (n_items − n_own −
        n_other)`` for an even ``n_items``; a model that recovers the communities scores 1.
        """
        seen = np.zeros((self.n_users, self.n_items), dtype=bool)
        seen[self.interactions["user"], self.interactions["item"]] = True
        top = np.argsort(-np.where(seen, -np.inf, scores), axis=1)[:, :k]
        return float((self.item_group[top] == self.user_group[:, None]).mean())


def synthetic_communities(n_users: int = 40, n_items: int = 30, n_own: int = 7,
                          n_other: int = 1, seed: int = 0) -> SyntheticCommunities:
    """Two communities: user ``u`` and item ``i`` belong to community ``id % 2``.

    Each user interacts with ``n_own`` distinct items of their own community and ``n_other``
    of the other, drawn uniformly. A model that recovers the structure ranks, for every
    user, the unseen items of their own community first.
    """
    for name, value, least in (("n_users", n_users, 2), ("n_items", n_items, 2),
                               ("n_own", n_own, 0), ("n_other", n_other, 0)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < least:
            raise ValueError(f"{name} must be an integer ≥ {least}, got {value!r}")
    item_group = np.arange(n_items) % 2
    if n_own > int((item_group == 0).sum()) or n_other > int((item_group == 1).sum()):
        raise ValueError(f"n_own ({n_own}) and n_other ({n_other}) must not exceed a "
                         f"community's {n_items // 2} items")
    rng = np.random.default_rng(seed)
    rows = []
    for user in range(n_users):
        own = np.flatnonzero(item_group == user % 2)
        other = np.flatnonzero(item_group != user % 2)
        items = np.concatenate([rng.choice(own, n_own, replace=False),
                                rng.choice(other, n_other, replace=False)])
        rows += [(user, int(item)) for item in items]
    interactions = pd.DataFrame(rows, columns=["user", "item"]).astype("int64")
    return SyntheticCommunities(interactions, np.arange(n_users) % 2, item_group, n_users,
                                n_items)


# --------------------------------------------------------------------------------------------
# Command line: python -m recsys_lab.datasets fetch
# --------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m recsys_lab.datasets")
    sub = parser.add_subparsers(dest="command", required=True)
    fetch = sub.add_parser("fetch", help="fill and verify the cache of a MovieLens dataset")
    fetch.add_argument("dataset", nargs="?", default=DATASET,
                       choices=[DATASET, "ml-1m", "ml-10m", "ml-20m", "ml-25m"],
                       help=f"which MovieLens (default {DATASET}, the one the book uses)")
    fetch.add_argument("--data-home", default=None, help="cache root (default $RECSYS_LAB_DATA)")
    fetch.add_argument("--no-grouplens", action="store_true",
                       help=f"{DATASET} only: skip the GroupLens zip")
    args = parser.parse_args(argv)
    if args.dataset != DATASET:
        # Imported here: movielens_large builds on this module, not the other way round.
        from recsys_lab.movielens_large import main_fetch

        return main_fetch(args.dataset, args.data_home)

    start = time.perf_counter()
    try:
        sources = fetch_movielens_100k(
            args.data_home, grouplens=False if args.no_grouplens else None
        )
        data = load_movielens_100k(args.data_home, download=False)
    except DataError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    for name, source in sources.items():
        print(f"{cache_dir(args.data_home) / name}: verified (from {source})")
    print(f"{data!r} in {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
