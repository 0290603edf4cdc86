"""The bigger MovieLens datasets (ML-1M, ML-10M, ML-20M, ML-25M) from the GroupLens archives.

``load_movielens("ml-1m")`` returns the same :class:`~recsys_lab.datasets.MovieLens` object as
``load_movielens_100k()``, with the same guarantees: the official zip is downloaded once into
``<cache>/<name>/<name>.zip`` (``<cache>`` is ``data_home``, else ``$RECSYS_LAB_DATA``, else
``~/.cache/recsys_lab``), written atomically only after it passed its pinned checksum and
opened as a zip holding the expected files, and checked again at every load. A failure is a
:class:`~recsys_lab.datasets.DataError` that says what went wrong and what to do.

No chapter depends on these datasets: GroupLens forbids redistributing them, so they cannot be
fetched in CI. A reader with internet fills the cache with
``python -m recsys_lab.datasets fetch ml-1m`` (or ml-10m, ml-20m, ml-25m).

Ids are contiguous and 0-based, assigned in the order of the original ids: ``user`` is the rank
of ``userId`` among the users who rated, ``item`` the rank of ``movieId`` among the movies
rated at least once (``items["movie_id"]`` keeps the original id, for joining with the other
files of the archive). Unrated movies of the movies file are left out, so that every item
column of a user-item matrix has data, as in ML-100K.
"""

from __future__ import annotations

import hashlib
import io
import os
import sys
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from recsys_lab.datasets import (
    _SOURCE_ERRORS,
    _YEAR_IN_TITLE,
    STALE_AFTER_S,
    DataError,
    MovieLens,
    _atomic_write,
    _cache_root,
    _cannot_write,
    _download,
    _read_cached,
    _say,
    _sha256,
)

__all__ = ["ARCHIVES", "Archive", "archive_path", "fetch_movielens", "load_movielens"]


@dataclass(frozen=True)
class Archive:
    """One GroupLens archive: where it is, what it must hash to, how it is laid out."""

    name: str  # "ml-1m": the cache folder and the CLI name
    url: str
    sha256: str | None  # None only where no published SHA-256 could be found (then md5)
    md5: str | None
    size: int | None  # bytes, as published next to the SHA-256
    folder: str  # the folder inside the zip
    layout: str  # "dat" (``::``-separated, ML-1M/10M) or "csv" (ML-20M/25M)
    has_users: bool  # only ML-1M has a users file
    n_ratings: int
    n_users: int
    n_items: int  # movies rated at least once

    @property
    def members(self) -> tuple[str, ...]:
        files = ("ratings", "movies", "users") if self.has_users else ("ratings", "movies")
        return tuple(f"{self.folder}{name}.{self.layout}" for name in files)


_BASE = "https://files.grouplens.org/datasets/movielens/"

# Checksums. SHA-256 and size: TensorFlow Datasets, tensorflow_datasets/url_checksums/
# movielens.txt (github.com/tensorflow/datasets, commit 1c076ac3c19c8ea83e1d1a75e0623c9a699e0d7c),
# which lists ml-1m, ml-20m and ml-25m but not ml-10m. MD5: the ".md5" files GroupLens publishes
# next to each zip, as copied in github.com/eli-osherovich/papers_with_code
# (datasets/movielens/dl_config.py). No published SHA-256 of ml-10m.zip was found, so ML-10M is
# verified by its MD5 alone (enough against corruption and truncation, weaker against
# tampering); the loader says so when it fetches it.
# Counts: the README of each archive (ratings, users; items = movies with at least one rating).
ARCHIVES = {
    "ml-1m": Archive(
        "ml-1m", _BASE + "ml-1m.zip",
        sha256="a6898adb50b9ca05aa231689da44c217cb524e7ebd39d264c56e2832f2c54e20",
        md5="c4d9eecfca2ab87c1945afe126590906", size=5_917_549,
        folder="ml-1m/", layout="dat", has_users=True,
        n_ratings=1_000_209, n_users=6_040, n_items=3_706,
    ),
    "ml-10m": Archive(
        "ml-10m", _BASE + "ml-10m.zip",
        sha256=None,
        md5="ce571fd55effeba0271552578f2648bd", size=None,
        folder="ml-10M100K/", layout="dat", has_users=False,
        n_ratings=10_000_054, n_users=69_878, n_items=10_677,
    ),
    "ml-20m": Archive(
        "ml-20m", _BASE + "ml-20m.zip",
        sha256="96f243c338a8665f6bcc89c53edf6ee39162a846940de6b7c8c48aeada765ff3",
        md5="cd245b17a1ae2cc31bb14903e1204af3", size=198_702_078,
        folder="ml-20m/", layout="csv", has_users=False,
        n_ratings=20_000_263, n_users=138_493, n_items=26_744,
    ),
    "ml-25m": Archive(
        "ml-25m", _BASE + "ml-25m.zip",
        sha256="8b21cfb7eb1706b4ec0aac894368d90acf26ebdfb6aced3ebd4ad5bd1eb9c6aa",
        md5="6b51fb2759a8657d3bfcbfc42b592ada", size=261_978_986,
        folder="ml-25m/", layout="csv", has_users=False,
        n_ratings=25_000_095, n_users=162_541, n_items=59_047,
    ),
}

#: A whole archive (up to 262 MB) may take this long; a stalled connection still fails after
#: the per-read timeout of datasets.NETWORK_TIMEOUT_S.
DOWNLOAD_TIMEOUT_S = 1800.0

#: ML-1M's users.dat codes occupations as integers (its README gives the names).
ML1M_OCCUPATIONS = (
    "other or not specified", "academic/educator", "artist", "clerical/admin",
    "college/grad student", "customer service", "doctor/health care", "executive/managerial",
    "farmer", "homemaker", "K-12 student", "lawyer", "programmer", "retired", "sales/marketing",
    "scientist", "self-employed", "technician/engineer", "tradesman/craftsman", "unemployed",
    "writer",
)


def _archive(name: str) -> Archive:
    if name not in ARCHIVES:
        raise ValueError(f"unknown MovieLens dataset {name!r}; choose one of {sorted(ARCHIVES)} "
                         "(ML-100K is load_movielens_100k)")
    return ARCHIVES[name]


def archive_path(name: str, data_home: str | os.PathLike | None = None) -> Path:
    """Where the verified zip of dataset ``name`` is kept."""
    return _cache_root(data_home) / name / f"{name}.zip"


def _remedy(archive: Archive, path: Path) -> str:
    return (
        f"To fix it, run `python -m recsys_lab.datasets fetch {archive.name}` on a machine that "
        f"can reach files.grouplens.org, or download {archive.url} with a browser and save it "
        f"as {path} (it is checked before use)."
    )


# --------------------------------------------------------------------------------------------
# Verifying and fetching the archive
# --------------------------------------------------------------------------------------------


def _verify(archive: Archive, data: bytes, origin: str) -> None:
    """Raise DataError unless ``data`` is the whole, intact archive (size, hash, zip, members)."""
    if archive.size is not None and len(data) != archive.size:
        kind = "partial download (cut short)" if len(data) < archive.size else "wrong file"
        raise DataError(
            f"{archive.name}.zip from {origin} has {len(data)} bytes, expected "
            f"{archive.size}: {kind}"
        )
    for algorithm, expected in (("sha256", archive.sha256), ("md5", archive.md5)):
        if expected is None:
            continue
        if algorithm == "sha256":
            actual = _sha256(data)
        else:  # a published checksum, not a security measure of ours (FIPS builds allow it)
            actual = hashlib.md5(data, usedforsecurity=False).hexdigest()
        if actual != expected:
            raise DataError(
                f"{archive.name}.zip from {origin} fails its checksum (expected "
                f"{algorithm.upper()} {expected}, got {actual}; {len(data)} bytes): it is "
                "corrupt, partial or a different version"
            )
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as opened:
            names = set(opened.namelist())
    except zipfile.BadZipFile as err:
        raise DataError(
            f"{archive.name}.zip from {origin} is not a readable zip ({err}): the download is "
            "partial or corrupt"
        ) from err
    missing = [m for m in archive.members if m not in names]
    if missing:
        raise DataError(f"{archive.name}.zip from {origin} lacks {', '.join(missing)}")


def fetch_movielens(name: str, data_home: str | os.PathLike | None = None, *,
                    download: bool = True) -> Path:
    """Make sure the verified GroupLens zip of ``name`` is in the cache; return its path.

    A cached zip that fails verification is never used: it is downloaded again (or, with
    ``download=False``, a DataError names the problem). Nothing is written to the cache unless
    the download passes every check.
    """
    return _verified_archive(_archive(name), data_home, download)[0]


def _remove_stale_part_files(path: Path) -> None:
    """Remove what a killed download left (``_atomic_write``'s part files), if old enough not
    to belong to a download running now in another process. Best effort, as for ML-100K."""
    cutoff = time.time() - STALE_AFTER_S
    for part in path.parent.glob(f".{path.name}.*.part"):
        try:
            if part.lstat().st_mtime < cutoff:
                part.unlink()
        except OSError:
            pass


def _verified_archive(archive: Archive, data_home, download: bool) -> tuple[Path, bytes]:
    """The cached archive's path and bytes, verified now (fetched first if needed)."""
    path = archive_path(archive.name, data_home)
    cached = _read_cached(path)
    if cached is not None:
        try:
            _verify(archive, cached, str(path))
            return path, cached
        except DataError as err:
            if not download:
                raise DataError(f"{err}. Delete {path}. {_remedy(archive, path)}") from err
            _say(f"{err}; fetching it again")
    elif not download:
        raise DataError(f"{path} does not exist and download=False. {_remedy(archive, path)}")

    _remove_stale_part_files(path)
    unpinned = "" if archive.sha256 else " (no published SHA-256: checked by its MD5)"
    _say(f"fetching {archive.url}{unpinned} (up to {DOWNLOAD_TIMEOUT_S:g} s)")
    try:
        data = _download(archive.url, timeout_s=DOWNLOAD_TIMEOUT_S)
    except _SOURCE_ERRORS as err:
        kind = "" if type(err) in (OSError, DataError) else f"{type(err).__name__}: "
        raise DataError(
            f"Could not download {archive.url} ({kind}{err}). {_remedy(archive, path)}"
        ) from err
    try:
        _verify(archive, data, archive.url)
    except DataError as err:
        raise DataError(f"{err}. Nothing was written to {path.parent}. "
                        f"{_remedy(archive, path)}") from err
    try:
        _atomic_write(path, data)
    except OSError as err:
        raise DataError(_cannot_write(path, path.parent, err)) from err
    return path, data


# --------------------------------------------------------------------------------------------
# Parsing
# --------------------------------------------------------------------------------------------


def _decode(data: bytes) -> str:
    """ML-20M/25M are UTF-8; ML-1M's movies.dat is Latin-1 (its accents are not valid UTF-8)."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def _read_ratings(archive: Archive, opened: zipfile.ZipFile, member: str) -> pd.DataFrame:
    if archive.layout == "dat":
        # "::" is one separator; as a tab the fast C parser reads it (ratings hold no tabs).
        data = opened.read(member).replace(b"::", b"\t")
        names = ["userId", "movieId", "rating", "timestamp"]
        return pd.read_csv(io.BytesIO(data), sep="\t", header=None, names=names,
                           dtype={"rating": np.float64})
    with opened.open(member) as stream:  # streamed: ML-25M's ratings.csv is 650 MB unzipped
        return pd.read_csv(stream, dtype={"rating": np.float64})


def _read_movies(archive: Archive, data: bytes) -> pd.DataFrame:
    if archive.layout == "dat":
        # Split by hand: titles contain quotes and commas that are not CSV quoting.
        rows = [line.split("::", 2) for line in _decode(data).splitlines() if line]
        return pd.DataFrame(rows, columns=["movieId", "title", "genres"]).astype(
            {"movieId": np.int64})
    return pd.read_csv(io.BytesIO(data), dtype={"movieId": np.int64, "title": str,
                                                "genres": str}, keep_default_na=False)


def _ranks(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(sorted distinct ids, the 0-based rank of each id) in O(n), for non-negative ids."""
    present = np.zeros(int(ids.max()) + 1, dtype=bool)
    present[ids] = True
    rank = np.cumsum(present) - 1
    return np.flatnonzero(present), rank[ids]


def _split_title(title: str) -> tuple[str, object]:
    match = _YEAR_IN_TITLE.match(title)
    return (match["title"], int(match["year"])) if match else (title.strip(), pd.NA)


def _items(movie_ids: np.ndarray, movies: pd.DataFrame) -> pd.DataFrame:
    """One row per rated movie; a rated movie absent from the movies file gets no title."""
    known = movies.drop_duplicates("movieId").set_index("movieId").reindex(movie_ids)
    titles, years = [], []
    for title in known["title"]:
        if isinstance(title, str):
            title, year = _split_title(title)
        else:
            title, year = pd.NA, pd.NA
        titles.append(title)
        years.append(year)
    genres = [[] if not isinstance(g, str) or g == "(no genres listed)" else g.split("|")
              for g in known["genres"]]
    return pd.DataFrame({
        "item": np.arange(len(movie_ids), dtype=np.int64),
        "title": titles,
        "year": pd.array(years, dtype="Int64"),
        "genres": genres,
        "movie_id": movie_ids.astype(np.int64),
    })


def _users(user_ids: np.ndarray, data: bytes) -> pd.DataFrame:
    """ML-1M users: age is the lower bound of the age band (1 means under 18)."""
    raw = pd.read_csv(io.BytesIO(data.replace(b"::", b"\t")), sep="\t", header=None,
                      names=["userId", "gender", "age", "occupation", "zip"], dtype=str)
    raw = raw.astype({"userId": np.int64}).set_index("userId").reindex(user_ids)
    occupation = raw["occupation"].astype(np.int64)
    if occupation.min() < 0 or occupation.max() >= len(ML1M_OCCUPATIONS):
        raise DataError("users.dat has an occupation code outside 0..20")
    return pd.DataFrame({
        "user": np.arange(len(user_ids), dtype=np.int64),
        "age": raw["age"].astype(np.int64).to_numpy(),
        "gender": raw["gender"].to_numpy(),
        "occupation": np.asarray(ML1M_OCCUPATIONS, dtype=object)[occupation.to_numpy()],
    })


def _parse(archive: Archive, zipped: bytes, path: Path) -> MovieLens:
    ratings_member, *others = archive.members
    with zipfile.ZipFile(io.BytesIO(zipped)) as opened:
        raw = _read_ratings(archive, opened, ratings_member)
        files = {m.rsplit("/", 1)[1].split(".")[0]: opened.read(m) for m in others}
    user_ids, users = _ranks(raw["userId"].to_numpy(np.int64))
    movie_ids, items = _ranks(raw["movieId"].to_numpy(np.int64))
    ratings = pd.DataFrame({
        "user": users.astype(np.int64),
        "item": items.astype(np.int64),
        "rating": raw["rating"].to_numpy(np.float64),
        "timestamp": raw["timestamp"].to_numpy(np.int64),
    })
    del raw
    data = MovieLens(
        ratings=ratings,
        items=_items(movie_ids, _read_movies(archive, files["movies"])),
        users=_users(user_ids, files["users"]) if archive.has_users else None,
        kg=pd.DataFrame({"item": pd.Series(dtype=np.int64), "relation": pd.Series(dtype=str),
                         "entity": pd.Series(dtype=str)}),
        n_users=len(user_ids),
        n_items=len(movie_ids),
        path=path.parent,
    )
    found = (len(ratings), data.n_users, data.n_items)
    expected = (archive.n_ratings, archive.n_users, archive.n_items)
    if found != expected:
        raise DataError(f"parsed {archive.name} has (ratings, users, items) = {found}, "
                        f"expected {expected}")
    return data


def load_movielens(name: str, data_home: str | os.PathLike | None = None,
                   download: bool = True) -> MovieLens:
    """Load ML-1M, ML-10M, ML-20M or ML-25M, fetching and verifying the archive if needed.

    Returns a :class:`~recsys_lab.datasets.MovieLens`: ``ratings`` (``user``, ``item``,
    ``rating`` float64 — half stars from ML-10M on —, ``timestamp``) in file order; ``items``
    (``item``, ``title``, ``year``, ``genres`` — empty for "(no genres listed)" —,
    ``movie_id``); ``users`` (ML-1M: ``user``, ``age``, ``gender``, ``occupation``; None for
    the others, which have no users file); ``kg`` empty (no knowledge graph).

    Raises DataError (a ValueError) if the archive is missing or corrupt and cannot be fetched.
    """
    archive = _archive(name)
    # Verified at every load, not only at fetch; the verified bytes are the ones parsed.
    path, zipped = _verified_archive(archive, data_home, download)
    return _parse(archive, zipped, path)


def main_fetch(name: str, data_home: str | os.PathLike | None = None) -> int:
    """``python -m recsys_lab.datasets fetch <name>``: fetch, verify and parse; exit code."""
    start = time.perf_counter()
    try:
        data = load_movielens(name, data_home)
    except DataError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"{archive_path(name, data_home)}: verified")
    print(f"{data!r} in {time.perf_counter() - start:.1f} s")
    return 0
