"""Tests of recsys_lab.movielens_large on small fixture archives laid out like GroupLens's.

The network is always simulated: the downloader is replaced by a fake that hands out a fixture
zip (or fails), and the pinned checksums, size and counts are those of the fixture.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import os
import urllib.error
import zipfile

import pytest

from recsys_lab import datasets as ds
from recsys_lab import movielens_large as ml

# User ids and movie ids are deliberately sparse (not 1..n) to test the contiguous renumbering;
# movie 50 is in the movies file but never rated, so it must not become an item.
RATINGS = [(7, 30, 4.0, 978300760), (7, 10, 3.5, 978302109), (2, 30, 5.0, 978301968),
           (9, 20, 1.0, 978300275), (2, 20, 2.0, 978824291)]
MOVIES = [(10, "Toy Story (1995)", "Animation|Children's|Comedy"),
          (20, "Amélie (Fabuleux destin d'Amélie Poulain, Le) (2001)", "Comedy|Romance"),
          (30, "Cosmos", "(no genres listed)"),
          (50, "Never Rated (1999)", "Drama")]
USERS = [(2, "M", 56, 16, "70072"), (7, "F", 1, 10, "48067"), (9, "M", 25, 20, "55117")]


def dat_zip(folder: str, with_users: bool) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(f"{folder}ratings.dat", "".join(
            f"{u}::{m}::{r:g}::{t}\n" for u, m, r, t in RATINGS))
        # ML-1M's movies.dat is Latin-1: the accents must survive.
        archive.writestr(f"{folder}movies.dat", "".join(
            f"{m}::{t}::{g}\n" for m, t, g in MOVIES).encode("latin-1"))
        if with_users:
            archive.writestr(f"{folder}users.dat", "".join(
                "::".join(map(str, row)) + "\n" for row in USERS))
    return buffer.getvalue()


def csv_zip(folder: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(f"{folder}ratings.csv", "userId,movieId,rating,timestamp\n" + "".join(
            f"{u},{m},{r:g},{t}\n" for u, m, r, t in RATINGS))
        archive.writestr(f"{folder}movies.csv", "movieId,title,genres\n" + "".join(
            f'{m},"{t}",{g}\n' for m, t, g in MOVIES))
    return buffer.getvalue()


def fixture_zip(name: str) -> bytes:
    archive = ml.ARCHIVES[name]
    if archive.layout == "dat":
        return dat_zip(archive.folder, archive.has_users)
    return csv_zip(archive.folder)


@pytest.fixture
def serve(monkeypatch):
    """``serve(name, payload)`` pins the fixture's checksums and makes it the download.

    Returns the list of URLs requested. ``pinned`` (default: the payload) is what the pins
    describe, so a different payload plays a corrupt or partial download.
    """
    requested = []

    def install(name, payload, pinned=None):
        pinned = payload if pinned is None else pinned
        archive = ml.ARCHIVES[name]
        monkeypatch.setitem(ml.ARCHIVES, name, dataclasses.replace(
            archive,
            sha256=hashlib.sha256(pinned).hexdigest() if archive.sha256 else None,
            md5=hashlib.md5(pinned).hexdigest(),
            size=len(pinned) if archive.size else None,
            n_ratings=len(RATINGS), n_users=3, n_items=3,
        ))

        def download(url, timeout_s=None):
            requested.append(url)
            return payload

        monkeypatch.setattr(ml, "_download", download)
        return requested

    return install


@pytest.fixture
def offline(monkeypatch):
    def download(url, timeout_s=None):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(ml, "_download", download)


def cache_files(tmp_path) -> list[str]:
    return sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file())


# --------------------------------------------------------------------------------------------
# Parsing
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(ml.ARCHIVES))
def test_parsing_gives_contiguous_ids_and_counts(name, tmp_path, serve):
    serve(name, fixture_zip(name))
    data = ml.load_movielens(name, tmp_path)
    assert isinstance(data, ds.MovieLens)
    assert (data.n_users, data.n_items, len(data.ratings)) == (3, 3, 5)
    # users 2 < 7 < 9 -> 0, 1, 2; movies 10 < 20 < 30 -> 0, 1, 2; file order kept.
    assert data.ratings["user"].tolist() == [1, 1, 0, 2, 0]
    assert data.ratings["item"].tolist() == [2, 0, 2, 1, 1]
    assert data.ratings["rating"].tolist() == [4.0, 3.5, 5.0, 1.0, 2.0]
    assert data.ratings.dtypes.astype(str).tolist() == ["int64", "int64", "float64", "int64"]
    assert data.items["item"].tolist() == [0, 1, 2]
    assert data.items["movie_id"].tolist() == [10, 20, 30]  # 50 was never rated
    assert data.path == tmp_path / name


@pytest.mark.parametrize("name", sorted(ml.ARCHIVES))
def test_titles_years_and_genres(name, tmp_path, serve):
    serve(name, fixture_zip(name))
    items = ml.load_movielens(name, tmp_path).items
    assert items["title"].tolist() == ["Toy Story",
                                       "Amélie (Fabuleux destin d'Amélie Poulain, Le)", "Cosmos"]
    assert items["year"].tolist()[:2] == [1995, 2001] and items["year"].isna().tolist()[2]
    assert items["genres"].tolist() == [["Animation", "Children's", "Comedy"],
                                        ["Comedy", "Romance"], []]


def test_users_only_where_the_dataset_has_them(tmp_path, serve):
    serve("ml-1m", fixture_zip("ml-1m"))
    users = ml.load_movielens("ml-1m", tmp_path).users
    assert users["user"].tolist() == [0, 1, 2]
    assert users["age"].tolist() == [56, 1, 25]
    assert users["gender"].tolist() == ["M", "F", "M"]
    assert users["occupation"].tolist() == ["self-employed", "K-12 student", "writer"]
    serve("ml-20m", fixture_zip("ml-20m"))
    assert ml.load_movielens("ml-20m", tmp_path).users is None


def test_cache_is_reused_without_network(tmp_path, serve, monkeypatch):
    requested = serve("ml-1m", fixture_zip("ml-1m"))
    ml.load_movielens("ml-1m", tmp_path)
    ml.load_movielens("ml-1m", tmp_path, download=False)
    assert requested == [ml.ARCHIVES["ml-1m"].url]
    assert cache_files(tmp_path) == ["ml-1m/ml-1m.zip"]


def test_fetch_returns_the_verified_path_and_clears_stale_part_files(tmp_path, serve):
    requested = serve("ml-20m", fixture_zip("ml-20m"))
    folder = tmp_path / "ml-20m"
    folder.mkdir()
    stale, fresh = folder / ".ml-20m.zip.0123.part", folder / ".ml-20m.zip.4567.part"
    stale.write_bytes(b"half")
    fresh.write_bytes(b"being written by another process")
    os.utime(stale, (1, 1))
    path = ml.fetch_movielens("ml-20m", tmp_path)
    assert path == ml.archive_path("ml-20m", tmp_path) == folder / "ml-20m.zip"
    assert ml.fetch_movielens("ml-20m", tmp_path, download=False) == path
    assert len(requested) == 1
    assert sorted(p.name for p in folder.iterdir()) == [fresh.name, "ml-20m.zip"]


def test_real_downloader_with_a_local_url(tmp_path, serve, monkeypatch):
    """The whole path through datasets._download (urllib, its time limit), on a file:// URL."""
    payload = fixture_zip("ml-1m")
    serve("ml-1m", payload)
    monkeypatch.setattr(ml, "_download", ds._download)
    source = tmp_path / "served" / "ml-1m.zip"
    source.parent.mkdir()
    source.write_bytes(payload)
    monkeypatch.setitem(ml.ARCHIVES, "ml-1m",
                        dataclasses.replace(ml.ARCHIVES["ml-1m"], url=source.as_uri()))
    assert ml.load_movielens("ml-1m", tmp_path / "cache").n_users == 3
    assert (tmp_path / "cache" / "ml-1m" / "ml-1m.zip").read_bytes() == payload


def test_cache_root_comes_from_the_environment(tmp_path, serve, monkeypatch):
    monkeypatch.setenv("RECSYS_LAB_DATA", str(tmp_path))
    serve("ml-25m", fixture_zip("ml-25m"))
    assert ml.load_movielens("ml-25m").path == tmp_path / "ml-25m"


def test_wrong_counts_are_a_parse_error(tmp_path, serve, monkeypatch):
    serve("ml-1m", fixture_zip("ml-1m"))
    monkeypatch.setitem(ml.ARCHIVES, "ml-1m",
                        dataclasses.replace(ml.ARCHIVES["ml-1m"], n_items=4))
    with pytest.raises(ds.DataError, match=r"expected \(5, 3, 4\)"):
        ml.load_movielens("ml-1m", tmp_path)


def test_unknown_name():
    with pytest.raises(ValueError, match="unknown MovieLens dataset 'ml-2m'"):
        ml.load_movielens("ml-2m")


# --------------------------------------------------------------------------------------------
# Failures: nothing half-written, clear messages
# --------------------------------------------------------------------------------------------


def test_checksum_failure_writes_nothing(tmp_path, serve):
    good = fixture_zip("ml-20m")
    tampered = good.replace(b"Toy Story", b"Toy Storm")  # same size, different hash
    serve("ml-20m", tampered, pinned=good)
    with pytest.raises(ds.DataError, match="fails its checksum.*SHA256.*Nothing was written"):
        ml.load_movielens("ml-20m", tmp_path)
    assert cache_files(tmp_path) == []


def test_md5_alone_protects_ml10m(tmp_path, serve):
    good = fixture_zip("ml-10m")
    serve("ml-10m", good.replace(b"Toy Story", b"Toy Storm"), pinned=good)
    assert ml.ARCHIVES["ml-10m"].sha256 is None
    with pytest.raises(ds.DataError, match="expected MD5"):
        ml.load_movielens("ml-10m", tmp_path)
    assert cache_files(tmp_path) == []


def test_partial_download_is_named_and_writes_nothing(tmp_path, serve):
    good = fixture_zip("ml-1m")
    serve("ml-1m", good[: len(good) // 2], pinned=good)
    with pytest.raises(ds.DataError, match="partial download"):
        ml.load_movielens("ml-1m", tmp_path)
    assert cache_files(tmp_path) == []


def test_corrupt_zip_is_rejected(tmp_path, serve, monkeypatch):
    serve("ml-10m", b"<html>503 Service Unavailable</html>")  # the pins match: only the zip
    with pytest.raises(ds.DataError, match="not a readable zip"):  # check can catch it
        ml.load_movielens("ml-10m", tmp_path)
    assert cache_files(tmp_path) == []


def test_missing_member_is_named(tmp_path, serve):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("ml-1m/ratings.dat", "1::1::5::1\n")
    serve("ml-1m", buffer.getvalue())
    with pytest.raises(ds.DataError, match="lacks ml-1m/movies.dat, ml-1m/users.dat"):
        ml.load_movielens("ml-1m", tmp_path)
    assert cache_files(tmp_path) == []


def test_offline_error_names_the_url_and_the_fix(tmp_path, offline):
    with pytest.raises(ds.DataError) as caught:
        ml.load_movielens("ml-25m", tmp_path)
    message = str(caught.value)
    assert "Could not download https://files.grouplens.org/datasets/movielens/ml-25m.zip" in message
    assert "URLError" in message and "Temporary failure in name resolution" in message
    assert "python -m recsys_lab.datasets fetch ml-25m" in message
    assert str(tmp_path / "ml-25m" / "ml-25m.zip") in message
    assert cache_files(tmp_path) == []


def test_download_false_with_empty_cache(tmp_path, offline):
    with pytest.raises(ds.DataError, match="does not exist and download=False"):
        ml.load_movielens("ml-1m", tmp_path, download=False)


def test_corrupt_cached_zip_is_fetched_again(tmp_path, serve, capsys):
    good = fixture_zip("ml-1m")
    requested = serve("ml-1m", good)
    path = ml.archive_path("ml-1m", tmp_path)
    path.parent.mkdir(parents=True)
    path.write_bytes(good[:100])
    with pytest.raises(ds.DataError, match="partial download.*Delete"):
        ml.load_movielens("ml-1m", tmp_path, download=False)
    assert ml.load_movielens("ml-1m", tmp_path).n_items == 3
    assert requested == [ml.ARCHIVES["ml-1m"].url]
    assert path.read_bytes() == good
    assert "fetching it again" in capsys.readouterr().err


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------


def test_cli_fetches_a_named_dataset(tmp_path, serve, capsys):
    serve("ml-10m", fixture_zip("ml-10m"))
    assert ds.main(["fetch", "ml-10m", "--data-home", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert f"{tmp_path / 'ml-10m' / 'ml-10m.zip'}: verified" in out
    assert "MovieLens(3 users, 3 items, 5 ratings" in out


def test_cli_failure_is_one_line_and_exit_code_1(tmp_path, offline, capsys):
    assert ds.main(["fetch", "ml-1m", "--data-home", str(tmp_path)]) == 1
    announce, error = capsys.readouterr().err.splitlines()
    assert announce.startswith("recsys_lab: fetching https://files.grouplens.org/")
    assert error.startswith("error: Could not download")


def test_cli_without_a_name_still_fetches_ml100k(tmp_path, monkeypatch):
    called = []
    monkeypatch.setattr(ds, "fetch_movielens_100k", lambda *a, **k: called.append(a) or {})
    monkeypatch.setattr(ds, "load_movielens_100k", lambda *a, **k: "ML-100K")
    monkeypatch.setattr(ml, "load_movielens", lambda *a, **k: pytest.fail("wrong loader"))
    assert ds.main(["fetch", "--data-home", str(tmp_path)]) == 0
    assert called == [(str(tmp_path),)]


def test_cli_choices_match_the_archives(capsys):
    with pytest.raises(SystemExit):
        ds.main(["fetch", "ml-2m"])
    usage = capsys.readouterr().err
    assert all(name in usage for name in ml.ARCHIVES)


def test_pinned_checksums_look_like_checksums():
    for archive in ml.ARCHIVES.values():
        assert archive.url == f"https://files.grouplens.org/datasets/movielens/{archive.name}.zip"
        assert archive.sha256 is None or len(bytes.fromhex(archive.sha256)) == 32
        assert len(bytes.fromhex(archive.md5)) == 16
    assert [a.name for a in ml.ARCHIVES.values() if a.sha256 is None] == ["ml-10m"]
