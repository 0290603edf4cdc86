"""Tests of recsys_lab.datasets. The network is always simulated: GroupLens and PyPI are
replaced by fakes built in tmp_path, except for the module fixture that loads the real cache
(filled once by `make data`, or by the loader itself on a machine that can reach PyPI)."""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recsys_lab import datasets as ds

# --------------------------------------------------------------------------------------------
# Fixtures and fakes
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def movielens() -> ds.MovieLens:
    return ds.load_movielens_100k()


@pytest.fixture(scope="module")
def real_files(movielens) -> dict[str, bytes]:
    return {name: (movielens.path / name).read_bytes() for name in ds.FILES}


def make_wheel(path: Path, files: dict[str, bytes]) -> Path:
    """A zip laid out like the RecBole wheel, holding ``files``."""
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in files.items():
            archive.writestr(ds.WHEEL_MEMBER_DIR + name, data)
    return path


def grouplens_zip(files: dict[str, bytes]) -> bytes:
    """The GroupLens zip, rebuilt from the RecBole files (the inverse of our conversion)."""
    def body(name):
        return files[name].split(b"\n", 1)[1]

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("ml-100k/u.data", body("ml-100k.inter"))
        archive.writestr("ml-100k/u.user", body("ml-100k.user").replace(b"\t", b"|"))
    return buffer.getvalue()


class Calls:
    """Records calls to the fake network so tests can assert what was (not) tried."""

    def __init__(self):
        self.urlopen = 0
        self.pip: list[list[str]] = []


@pytest.fixture
def offline(monkeypatch) -> Calls:
    """No network at all: urllib raises URLError, `pip download` exits with an error."""
    calls = Calls()

    def urlopen(*args, **kwargs):
        calls.urlopen += 1
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    def run(command, *args, **kwargs):
        calls.pip.append(list(command))
        return subprocess.CompletedProcess(
            command, 1, stdout="", stderr="ERROR: No matching distribution found for recbole"
        )

    monkeypatch.setattr(urllib.request, "urlopen", urlopen)
    monkeypatch.setattr(subprocess, "run", run)
    return calls


def serve_wheel(monkeypatch, wheel: Path, *, pin: bool = True) -> None:
    """PyPI hands out ``wheel``; with ``pin`` its hash becomes the trusted one."""
    def download(scratch):
        target = Path(scratch) / ds.WHEEL_NAME
        target.write_bytes(wheel.read_bytes())
        return target

    monkeypatch.setattr(ds, "_download_wheel", download)
    if pin:
        monkeypatch.setattr(ds, "WHEEL_SHA256", hashlib.sha256(wheel.read_bytes()).hexdigest())


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


# --------------------------------------------------------------------------------------------
# The real data
# --------------------------------------------------------------------------------------------


def test_shapes_and_ids(movielens):
    r = movielens.ratings
    assert (movielens.n_users, movielens.n_items, len(r)) == (943, 1682, 100_000)
    assert list(r.columns) == ["user", "item", "rating", "timestamp"]
    assert [str(t) for t in r.dtypes] == ["int64", "int64", "float64", "int64"]
    assert set(r["user"]) == set(range(943)) and set(r["item"]) == set(range(1682))
    assert r["rating"].between(1, 5).all() and not r.isna().any().any()
    assert r.iloc[0].tolist() == [195, 241, 3.0, 881250949]  # u.data's first line, minus 1
    assert r["timestamp"].between(8.7e8, 9.0e8).all()


def test_items_and_users(movielens):
    items, users = movielens.items, movielens.users
    assert items["item"].tolist() == list(range(1682))
    assert items.loc[0, "title"] == "Toy Story" and items.loc[0, "year"] == 1995
    assert items.loc[0, "genres"] == ["Animation", "Children's", "Comedy"]
    assert items.loc[542, "title"] == "Misérables, Les"  # non-ASCII decoded
    assert items.loc[1411, "year"] == 1995 and "(1995)" not in items.loc[1411, "title"]
    assert pd.isna(items.loc[266, "year"]) and items["year"].isna().sum() == 1
    assert all(isinstance(g, list) and g for g in items["genres"])
    assert len(movielens.genres) == 19 and movielens.genres == sorted(movielens.genres)
    assert users["user"].tolist() == list(range(943))
    assert set(users["gender"]) == {"M", "F"} and users["age"].between(7, 73).all()
    assert users["occupation"].nunique() == 21


def test_knowledge_graph(movielens):
    kg = movielens.kg
    assert list(kg.columns) == ["item", "relation", "entity"] and len(kg) == 72_592
    assert kg["item"].between(0, 1681).all() and kg["item"].nunique() == 1598
    assert {"film.film.actor", "film.film.directed_by", "film.film.genre"} <= set(kg["relation"])
    assert kg["entity"].str.match(r"^[mg]\.\w+$").all()  # Freebase ids


def test_repr_and_warm_load_time(movielens):
    assert repr(movielens).startswith("MovieLens(943 users, 1682 items, 100000 ratings")
    start = time.perf_counter()
    ds.load_movielens_100k(movielens.path.parent, download=False)
    assert time.perf_counter() - start < 2.0


def test_import_does_not_load_tensorflow():
    code = "import sys, recsys_lab.datasets; assert 'tensorflow' not in sys.modules, 'tf'; " \
           "assert 'keras' not in sys.modules, 'keras'"
    subprocess.run([sys.executable, "-c", code], check=True)


# --------------------------------------------------------------------------------------------
# Cache integrity
# --------------------------------------------------------------------------------------------


def fill_cache(root: Path, files: dict[str, bytes]) -> Path:
    folder = ds.cache_dir(root)
    folder.mkdir(parents=True)
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return folder


def test_cache_is_used_without_network(tmp_path, real_files, offline):
    fill_cache(tmp_path, real_files)
    sources = ds.fetch_movielens_100k(tmp_path)
    assert set(sources.values()) == {"cache"}
    assert offline.urlopen == 0 and offline.pip == []


def test_corrupt_cache_file_is_rejected_when_offline(tmp_path, real_files, offline):
    folder = fill_cache(tmp_path, real_files)
    corrupt = bytearray(real_files["ml-100k.item"])
    corrupt[100] ^= 1  # one flipped bit
    (folder / "ml-100k.item").write_bytes(bytes(corrupt))
    with pytest.raises(ds.DataError) as err:
        ds.load_movielens_100k(tmp_path, download=False)
    message = str(err.value)
    assert "ml-100k.item" in message and ds.FILE_SHA256["ml-100k.item"] in message
    assert hashlib.sha256(corrupt).hexdigest() in message
    assert "Delete" in message and "make data" in message


def test_truncated_cache_file_is_detected(tmp_path, real_files, offline):
    folder = fill_cache(tmp_path, real_files)
    (folder / "ml-100k.kg").write_bytes(real_files["ml-100k.kg"][:1000])
    with pytest.raises(ds.DataError, match=r"ml-100k\.kg.*checksum"):
        ds.load_movielens_100k(tmp_path, download=False)
    # With download allowed but no network, it is still refused (and never used).
    with pytest.warns(ds.DataWarning, match="ml-100k.kg"), pytest.raises(ds.DataError):
        ds.load_movielens_100k(tmp_path)


def test_corrupt_cache_file_is_fetched_again(tmp_path, real_files, offline, monkeypatch):
    folder = fill_cache(tmp_path, real_files)
    (folder / "ml-100k.inter").write_bytes(b"user_id:token\n1\n")
    serve_wheel(monkeypatch, make_wheel(tmp_path / ds.WHEEL_NAME, real_files))
    with pytest.warns(ds.DataWarning, match="fetching it again"):
        data = ds.load_movielens_100k(tmp_path, grouplens=False)
    assert len(data.ratings) == 100_000
    assert (folder / "ml-100k.inter").read_bytes() == real_files["ml-100k.inter"]


def test_download_false_with_empty_cache(tmp_path, offline):
    with pytest.raises(ds.DataError) as err:
        ds.load_movielens_100k(tmp_path, download=False)
    message = str(err.value)
    assert "download=False" in message and "missing" in message
    assert str(ds.cache_dir(tmp_path)) in message and "make data" in message
    assert offline.urlopen == 0 and offline.pip == []


# --------------------------------------------------------------------------------------------
# Sources: no network, fake wheels, fake GroupLens zip
# --------------------------------------------------------------------------------------------


def test_no_network_names_both_sources_and_remedy(tmp_path, offline):
    with pytest.raises(ds.DataError) as err:
        ds.load_movielens_100k(tmp_path)
    message = str(err.value)
    assert "GroupLens" in message and ds.GROUPLENS_URL in message and "URLError" in message
    assert "PyPI wheel recbole==1.2.1" in message and "No matching distribution" in message
    assert "make data" in message and str(ds.cache_dir(tmp_path)) in message
    assert offline.urlopen == 1
    (command,) = offline.pip
    assert command[:3] == [sys.executable, "-m", "pip"]
    assert {"download", "--no-deps", "--only-binary=:all:", "recbole==1.2.1"} <= set(command)
    assert leftovers(ds.cache_dir(tmp_path)) == []


def test_grouplens_can_be_disabled(tmp_path, offline, monkeypatch):
    monkeypatch.setenv("RECSYS_LAB_NO_GROUPLENS", "1")
    with pytest.raises(ds.DataError, match="PyPI wheel") as err:
        ds.load_movielens_100k(tmp_path)
    assert offline.urlopen == 0 and "GroupLens zip" not in str(err.value)


def test_wheel_with_wrong_hash_is_rejected(tmp_path, real_files, offline, monkeypatch):
    serve_wheel(monkeypatch, make_wheel(tmp_path / "w.whl", real_files), pin=False)
    with pytest.raises(ds.DataError, match=rf"{ds.WHEEL_NAME} fails its checksum"):
        ds.load_movielens_100k(tmp_path, grouplens=False)
    assert leftovers(ds.cache_dir(tmp_path)) == []


def test_wheel_member_with_wrong_content_is_rejected(tmp_path, real_files, offline, monkeypatch):
    files = dict(real_files, **{"ml-100k.user": real_files["ml-100k.user"][:-50]})
    serve_wheel(monkeypatch, make_wheel(tmp_path / "w.whl", files))
    with pytest.raises(ds.DataError, match=r"ml-100k\.user from pypi wheel fails its checksum"):
        ds.load_movielens_100k(tmp_path, grouplens=False)
    # The good files are kept (verified), the bad one is never written.
    assert leftovers(ds.cache_dir(tmp_path)) == sorted(set(ds.FILES) - {"ml-100k.user"})


def test_wheel_route_fills_cache(tmp_path, real_files, offline, monkeypatch):
    serve_wheel(monkeypatch, make_wheel(tmp_path / "w.whl", real_files))
    assert set(ds.fetch_movielens_100k(tmp_path).values()) == {"pypi wheel"}
    assert leftovers(ds.cache_dir(tmp_path)) == sorted(ds.FILES)
    assert ds.load_movielens_100k(tmp_path, download=False).n_items == 1682


def test_grouplens_route_then_wheel_for_the_rest(tmp_path, real_files, offline, monkeypatch):
    payload = grouplens_zip(real_files)
    monkeypatch.setattr(urllib.request, "urlopen", lambda *a, **k: io.BytesIO(payload))
    serve_wheel(monkeypatch, make_wheel(tmp_path / "w.whl", real_files))
    sources = ds.fetch_movielens_100k(tmp_path, grouplens=True)
    assert sources == {
        "ml-100k.inter": "grouplens", "ml-100k.user": "grouplens", "ml-100k.item": "pypi wheel",
        "ml-100k.kg": "pypi wheel", "ml-100k.link": "pypi wheel",
    }


def test_grouplens_with_wrong_content_falls_back(tmp_path, real_files, offline, monkeypatch):
    wrong_users = real_files["ml-100k.user"].replace(b"\tM\t", b"\tF\t")
    bad = dict(real_files, **{"ml-100k.user": wrong_users})
    payload = grouplens_zip(bad)
    monkeypatch.setattr(urllib.request, "urlopen", lambda *a, **k: io.BytesIO(payload))
    serve_wheel(monkeypatch, make_wheel(tmp_path / "w.whl", real_files))
    sources = ds.fetch_movielens_100k(tmp_path, grouplens=True)
    assert sources["ml-100k.inter"] == "grouplens" and sources["ml-100k.user"] == "pypi wheel"
    assert (ds.cache_dir(tmp_path) / "ml-100k.user").read_bytes() == real_files["ml-100k.user"]


# --------------------------------------------------------------------------------------------
# Atomic writes and the command line
# --------------------------------------------------------------------------------------------


def test_atomic_write_failure_leaves_no_file(tmp_path, monkeypatch):
    target = tmp_path / "f.bin"

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        ds._atomic_write(target, b"x" * 1000)
    assert leftovers(tmp_path) == []


def test_failed_write_during_fetch_leaves_cache_empty(tmp_path, real_files, offline, monkeypatch):
    serve_wheel(monkeypatch, make_wheel(tmp_path / "w.whl", real_files))

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(ds.DataError, match="disk full"):
        ds.fetch_movielens_100k(tmp_path, grouplens=False)
    assert leftovers(ds.cache_dir(tmp_path)) == []


def test_cli_fetch(tmp_path, real_files, offline, monkeypatch, capsys):
    serve_wheel(monkeypatch, make_wheel(tmp_path / "w.whl", real_files))
    assert ds.main(["fetch", "--data-home", str(tmp_path), "--no-grouplens"]) == 0
    out = capsys.readouterr().out
    assert out.count("verified (from pypi wheel)") == 5 and "MovieLens(943 users" in out
    assert offline.urlopen == 0


def test_cli_fetch_failure_exit_code(tmp_path, offline, capsys):
    assert ds.main(["fetch", "--data-home", str(tmp_path)]) == 1
    assert "make data" in capsys.readouterr().err


# --------------------------------------------------------------------------------------------
# Permissions: files readable by others, clear errors for unreadable or unwritable caches
# --------------------------------------------------------------------------------------------


@pytest.fixture
def restore_umask():
    """The test may change the process umask; the previous one is restored afterwards."""
    previous = os.umask(0o022)
    os.umask(previous)
    yield
    os.umask(previous)


@pytest.mark.parametrize("mask, mode", [(0o022, 0o644), (0o077, 0o600)])
def test_cache_files_respect_the_umask(tmp_path, real_files, offline, monkeypatch, restore_umask,
                                       mask, mode):
    os.umask(mask)
    ds._atomic_write(tmp_path / "f.bin", b"x")
    assert (tmp_path / "f.bin").stat().st_mode & 0o777 == mode
    serve_wheel(monkeypatch, make_wheel(tmp_path / "w.whl", real_files))
    ds.fetch_movielens_100k(tmp_path / "data", grouplens=False)
    folder = ds.cache_dir(tmp_path / "data")
    assert {(folder / n).stat().st_mode & 0o777 for n in ds.FILES} == {mode}


def deny_reading(monkeypatch, denied: Path) -> None:
    """Reading ``denied`` raises PermissionError (chmod 000 does not stop root, who runs CI)."""
    read_bytes = Path.read_bytes

    def guarded(self):
        if self == denied:
            raise PermissionError(13, "Permission denied", str(self))
        return read_bytes(self)

    monkeypatch.setattr(Path, "read_bytes", guarded)


@pytest.mark.parametrize("download", [False, True])
def test_unreadable_cache_file_is_a_clear_error(tmp_path, real_files, offline, monkeypatch,
                                                 download):
    folder = fill_cache(tmp_path, real_files)
    deny_reading(monkeypatch, folder / "ml-100k.item")
    with pytest.raises(ds.DataError) as err:
        ds.load_movielens_100k(tmp_path, download=download)
    message = str(err.value)
    assert f"Cannot read {folder / 'ml-100k.item'}" in message and "Permission denied" in message
    assert f"chmod a+r {folder / 'ml-100k.item'}" in message and "RECSYS_LAB_DATA" in message
    assert offline.urlopen == 0 and offline.pip == []  # not "repaired" by a download


def test_unwritable_cache_folder_fails_before_any_download(tmp_path, offline, monkeypatch):
    def mkdtemp(*args, **kwargs):
        raise PermissionError(13, "Permission denied", kwargs.get("dir"))

    monkeypatch.setattr(ds.tempfile, "mkdtemp", mkdtemp)
    with pytest.raises(ds.DataError) as err:
        ds.fetch_movielens_100k(tmp_path)
    message = str(err.value)
    folder = ds.cache_dir(tmp_path)
    assert f"Cannot write {folder}" in message and f"chmod u+w {folder}" in message
    assert "RECSYS_LAB_DATA" in message and "PyPI" not in message
    assert offline.urlopen == 0 and offline.pip == []


def test_write_failure_is_not_blamed_on_the_source(tmp_path, real_files, offline, monkeypatch):
    serve_wheel(monkeypatch, make_wheel(tmp_path / "w.whl", real_files))

    def atomic_write(path, data):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(ds, "_atomic_write", atomic_write)
    with pytest.raises(ds.DataError) as err:
        ds.fetch_movielens_100k(tmp_path, grouplens=False)
    message = str(err.value)
    folder = ds.cache_dir(tmp_path)
    assert message.startswith(f"Cannot write {folder / 'ml-100k.inter'} (PermissionError")
    assert "writable" in message and "RECSYS_LAB_DATA" in message
    assert "via pip download" not in message and "Sources tried" not in message
    assert leftovers(folder) == []  # the scratch folder is gone too


def test_cli_permission_error_is_one_line_without_traceback(tmp_path, real_files, offline,
                                                            monkeypatch, capsys):
    folder = fill_cache(tmp_path, real_files)
    deny_reading(monkeypatch, folder / "ml-100k.kg")
    assert ds.main(["fetch", "--data-home", str(tmp_path)]) == 1
    captured = capsys.readouterr()
    assert captured.out == "" and "Traceback" not in captured.err
    assert captured.err.startswith(f"error: Cannot read {folder / 'ml-100k.kg'}")
    assert captured.err.count("\n") == 1


# --------------------------------------------------------------------------------------------
# Leftovers of interrupted fetches
# --------------------------------------------------------------------------------------------


def leave(path: Path, seconds_ago: float) -> Path:
    """A leftover at ``path`` (a file, unless it is a folder already), ``seconds_ago`` old."""
    if not path.is_dir():
        path.write_bytes(b"partial")
    past = time.time() - seconds_ago
    os.utime(path, (past, past))
    return path


def test_stale_part_files_and_scratch_folders_are_removed(tmp_path, real_files, offline):
    folder = fill_cache(tmp_path, real_files)
    old = ds.STALE_AFTER_S + 60
    leave(folder / ".ml-100k.inter.0123abcd.part", old)
    (folder / ".fetch-abc.tmp").mkdir()  # a killed fetch's scratch folder, with pip's download
    leave(folder / ".fetch-abc.tmp" / ds.WHEEL_NAME, old)
    leave(folder / ".fetch-abc.tmp", old)
    fresh = leave(folder / ".ml-100k.kg.4567cdef.part", 10)  # a concurrent fetch's, maybe
    others = [leave(folder / name, old) for name in (".notes.part", "ml-100k.inter.bak")]
    ds.fetch_movielens_100k(tmp_path)  # warm cache: cleans up, fetches nothing
    assert leftovers(folder) == sorted([*ds.FILES, fresh.name, *(p.name for p in others)])
    assert offline.urlopen == 0 and offline.pip == []


def test_download_false_removes_nothing(tmp_path, real_files, offline):
    folder = fill_cache(tmp_path, real_files)
    part = leave(folder / ".ml-100k.inter.0123abcd.part", ds.STALE_AFTER_S + 60)
    ds.fetch_movielens_100k(tmp_path, download=False)
    assert part.exists()


def pip_leaving_temp_files(calls: list, outcome: BaseException):
    """A fake `subprocess.run` for pip that leaves a partial download in its TMPDIR, as a pip
    killed by our timeout or by Ctrl-C does, then raises ``outcome``."""
    def run(command, *args, **kwargs):
        calls.append((list(command), kwargs))
        unpack = Path(kwargs["env"]["TMPDIR"]) / "pip-unpack-xyz"
        unpack.mkdir()
        (unpack / ds.WHEEL_NAME).write_bytes(b"x" * 2000)
        raise outcome

    return run


def test_pip_timeout_gives_clear_error_and_leaves_nothing(tmp_path, offline, monkeypatch):
    monkeypatch.setenv("PIP_DEFAULT_TIMEOUT", "180")  # as on some machines: must not apply
    calls = []
    timeout = subprocess.TimeoutExpired(["pip"], ds.SOURCE_TIMEOUT_S)
    monkeypatch.setattr(subprocess, "run", pip_leaving_temp_files(calls, timeout))
    with pytest.raises(ds.DataError) as err:
        ds.fetch_movielens_100k(tmp_path, grouplens=False)
    message = str(err.value)
    assert "PyPI wheel recbole==1.2.1 via pip download: TimeoutError" in message
    assert f"did not finish in {ds.SOURCE_TIMEOUT_S:g} s" in message and "make data" in message
    ((command, kwargs),) = calls
    assert kwargs["timeout"] == ds.SOURCE_TIMEOUT_S <= 30
    assert f"--timeout={ds.NETWORK_TIMEOUT_S:g}" in command
    assert f"--retries={ds.PIP_RETRIES}" in command
    assert ds.NETWORK_TIMEOUT_S * (ds.PIP_RETRIES + 1) <= ds.SOURCE_TIMEOUT_S
    assert {"--no-cache-dir", "--no-input", "--no-deps"} <= set(command)
    scratch = Path(kwargs["env"]["TMPDIR"])
    assert scratch.parent == ds.cache_dir(tmp_path)
    assert command[command.index("--dest") + 1] == str(scratch)
    assert not scratch.exists() and leftovers(ds.cache_dir(tmp_path)) == []


def test_interrupted_pip_leaves_nothing(tmp_path, offline, monkeypatch):
    calls = []
    monkeypatch.setattr(subprocess, "run", pip_leaving_temp_files(calls, KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        ds.fetch_movielens_100k(tmp_path, grouplens=False)
    assert len(calls) == 1 and leftovers(ds.cache_dir(tmp_path)) == []


# --------------------------------------------------------------------------------------------
# What the user sees: announced, bounded fetches; silence on a warm cache
# --------------------------------------------------------------------------------------------


def test_each_source_is_announced_on_stderr(tmp_path, offline, capsys):
    with pytest.raises(ds.DataError):
        ds.fetch_movielens_100k(tmp_path, grouplens=True)
    captured = capsys.readouterr()
    limit = f"(up to {ds.SOURCE_TIMEOUT_S:g} s)"
    assert captured.out == "" and captured.err.splitlines() == [
        f"recsys_lab: fetching MovieLens-100K from {ds.GROUPLENS_URL} {limit}",
        f"recsys_lab: fetching MovieLens-100K from PyPI: recbole==1.2.1 via pip {limit}",
    ]


def test_warm_cache_prints_nothing(tmp_path, real_files, offline, capsys):
    fill_cache(tmp_path, real_files)
    ds.load_movielens_100k(tmp_path)
    assert capsys.readouterr() == ("", "")


class TrickleResponse(io.RawIOBase):
    """An HTTP response that never ends: a few bytes every 10 ms."""

    def read(self, size=-1):
        time.sleep(0.01)
        return b"x" * 10


def test_grouplens_download_is_bounded(tmp_path, offline, monkeypatch):
    timeouts = []

    def urlopen(url, timeout=None):
        timeouts.append(timeout)
        return TrickleResponse()

    monkeypatch.setattr(urllib.request, "urlopen", urlopen)
    monkeypatch.setattr(ds, "SOURCE_TIMEOUT_S", 0.1)
    start = time.perf_counter()
    with pytest.raises(ds.DataError) as err:
        ds.fetch_movielens_100k(tmp_path, grouplens=True)
    assert time.perf_counter() - start < 5
    assert timeouts == [0.1]  # min(NETWORK_TIMEOUT_S, SOURCE_TIMEOUT_S)
    assert f"GroupLens zip {ds.GROUPLENS_URL}: TimeoutError" in str(err.value)
    assert len(offline.pip) == 1  # then PyPI was tried


# --------------------------------------------------------------------------------------------
# Synthetic generators
# --------------------------------------------------------------------------------------------


def test_synthetic_ratings_low_rank_and_deterministic():
    a, b = ds.synthetic_ratings(seed=1), ds.synthetic_ratings(seed=1)
    pd.testing.assert_frame_equal(a.ratings, b.ratings)
    assert not ds.synthetic_ratings(seed=2).ratings.equals(a.ratings)
    assert a.user_factors.shape == (200, 3) and a.item_factors.shape == (150, 3)
    assert a.true_ratings.shape == (200, 150)
    assert np.linalg.matrix_rank(a.true_ratings - a.global_mean) == 3
    r = a.ratings
    assert len(r) == 200 * 30 and not r.duplicated(["user", "item"]).any()
    assert r["rating"].between(1, 5).all()
    truth = a.true_ratings[r["user"], r["item"]]
    inside = (truth > 1) & (truth < 5)
    assert (r["rating"] - truth)[inside].std() == pytest.approx(0.1, rel=0.1)
    assert (r.groupby("user")["timestamp"].diff().dropna() > 0).all()


def test_synthetic_sequences_follow_the_chain():
    s = ds.synthetic_sequences(seed=0)
    pd.testing.assert_frame_equal(s.ratings, ds.synthetic_sequences(seed=0).ratings)
    assert s.transition.shape == (50, 50)
    np.testing.assert_allclose(s.transition.sum(axis=1), 1.0)
    r = s.ratings
    assert len(r) == 300 * 20 and not r.duplicated(["user", "item"]).any()
    assert (r.groupby("user")["timestamp"].diff().dropna() > 0).all()
    seq = r.sort_values(["user", "timestamp"])
    same_user = seq["user"].to_numpy()[1:] == seq["user"].to_numpy()[:-1]
    prev, nxt = seq["item"].to_numpy()[:-1][same_user], seq["item"].to_numpy()[1:][same_user]
    # The planted most likely successor is the observed next item most of the time...
    assert np.mean(nxt == s.next_item[prev]) > 0.5
    # ...and the most frequent observed successor of almost every item.
    counts = np.zeros((50, 50))
    np.add.at(counts, (prev, nxt), 1)
    assert np.mean(counts.argmax(axis=1) == s.next_item) > 0.9
    with pytest.raises(ValueError, match="length"):
        ds.synthetic_sequences(n_items=10, length=11)


def test_synthetic_content_tokens_reveal_factors():
    c = ds.synthetic_content(seed=0)
    np.testing.assert_array_equal(c.tokens, ds.synthetic_content(seed=0).tokens)
    assert c.tokens.shape == (200, 30) and c.tokens.min() >= 1 and c.tokens.max() <= 499
    assert c.item_factors.shape == (200, 4) and c.user_factors.shape == (300, 4)
    assert np.linalg.matrix_rank(c.true_ratings - c.global_mean) == 4
    # The share of an item's tokens from each topic estimates its topic weights.
    topics = c.topic_of_token[c.tokens]
    share = np.stack([(topics == k).mean(axis=1) for k in range(4)], axis=1)
    assert np.corrcoef(share.ravel(), c.item_factors.ravel())[0, 1] > 0.9
    np.testing.assert_allclose(c.item_factors.sum(axis=1), 1.0)
    assert c.ratings["rating"].between(1, 5).all() and len(c.ratings) == 300 * 20


def test_synthetic_communities_plant_what_they_say():
    from recsys_lab.datasets import synthetic_communities

    planted = synthetic_communities(n_users=10, n_items=12, n_own=4, n_other=1, seed=3)
    frame = planted.interactions
    assert len(frame) == 10 * 5 and not frame.duplicated().any()
    own = planted.item_group[frame["item"]] == planted.user_group[frame["user"]]
    assert (np.bincount(frame["user"], weights=own) == 4).all()
    # Scores that favour each user's community recover it; constant scores do not.
    favour = (planted.user_group[:, None] == planted.item_group[None, :]).astype(float)
    assert planted.own_share_of_top(favour, k=2) == 1.0
    assert planted.own_share_of_top(np.zeros((10, 12)), k=2) < 1.0
    with pytest.raises(ValueError, match="n_own .7. and n_other .1. must not exceed"):
        synthetic_communities(n_items=12, n_own=7)
    with pytest.raises(ValueError, match="n_users must be an integer ≥ 2"):
        synthetic_communities(n_users=1)
