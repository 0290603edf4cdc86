"""Serving a two-tower model: exported towers give the fitted vectors, exports are atomic and
never clobber a folder by accident, and the pipeline's latency table has its stages."""

import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from recsys_lab import serving
from recsys_lab.baselines import MostPopular
from recsys_lab.retrieval import ExactIndex
from recsys_lab.serving import export_towers, load_tower, pipeline_latency

N_USERS, N_ITEMS, N_USER_FEATURES = 30, 40, 3


@pytest.fixture(scope="module")
def model():
    from recsys_lab.models.ncf import TwoTower

    rng = np.random.default_rng(0)
    train = pd.DataFrame({"user": rng.integers(0, N_USERS, 400),
                          "item": rng.integers(0, N_ITEMS, 400)}).drop_duplicates()
    # User side features, no item features: the export must handle a tower with none.
    features = rng.random((N_USERS, N_USER_FEATURES)).astype(np.float32)
    return TwoTower(user_features=features, embedding_dim=8, hidden_units=(16,), epochs=1,
                    batch_size=64).fit(train, N_USERS, N_ITEMS)


@pytest.fixture(scope="module")
def exported(model, tmp_path_factory):
    return export_towers(model, tmp_path_factory.mktemp("serving") / "towers")


def test_the_exported_towers_give_the_fitted_vectors(model, exported):
    user_path, item_path = exported
    assert user_path.name == "user_tower" and item_path.name == "item_tower"
    user_tower, item_tower = load_tower(user_path), load_tower(item_path)
    assert (user_tower.n_ids_, user_tower.n_features_, user_tower.dim_) == (N_USERS, 3, 8)
    assert (item_tower.n_ids_, item_tower.n_features_, item_tower.dim_) == (N_ITEMS, 0, 8)
    users = np.arange(N_USERS)
    vectors = user_tower(users, model.user_features)
    assert vectors.dtype == np.float32 and vectors.shape == (N_USERS, 8)
    assert np.abs(vectors - model.user_vectors_).max() <= 1e-5
    assert np.abs(item_tower(np.arange(N_ITEMS)) - model.item_vectors_).max() <= 1e-5
    # Any batch size, in any order: the signature is not tied to the size it was traced at.
    some = np.array([7, 2])
    assert np.abs(user_tower(some, model.user_features[some])
                  - model.user_vectors_[some]).max() <= 1e-5
    assert user_tower(np.array([], dtype=int), np.zeros((0, 3))).shape == (0, 8)


def test_an_existing_folder_is_refused_unless_overwrite(model, tmp_path):
    target = tmp_path / "towers"
    target.mkdir()
    (target / "keep.txt").write_text("mine")
    with pytest.raises(ValueError, match="already exists.*overwrite=True"):
        export_towers(model, target)
    assert (target / "keep.txt").read_text() == "mine"
    user_path, item_path = export_towers(model, target, overwrite=True)
    assert sorted(p.name for p in target.iterdir()) == ["item_tower", "user_tower"]
    assert load_tower(item_path).dim_ == 8
    assert [p.name for p in tmp_path.iterdir()] == ["towers"]  # no temporary folder left
    (tmp_path / "file").write_text("")
    with pytest.raises(ValueError, match="not a folder"):
        export_towers(model, tmp_path / "file", overwrite=True)


def test_a_failed_export_leaves_nothing_behind(model, tmp_path, monkeypatch):
    calls = []

    def fail_on_the_second_tower(tower, path):
        calls.append(path.name)
        if len(calls) == 2:
            raise OSError("disk full")
        path.mkdir()

    monkeypatch.setattr(serving, "_export_tower", fail_on_the_second_tower)
    with pytest.raises(OSError, match="disk full"):
        export_towers(model, tmp_path / "towers")
    assert calls == ["user_tower", "item_tower"]
    assert list(tmp_path.iterdir()) == []


def test_only_a_fitted_two_tower_model_is_exported(tmp_path):
    from recsys_lab.models.ncf import TwoTower

    with pytest.raises(ValueError, match="not fitted"):
        export_towers(TwoTower(), tmp_path / "a")
    with pytest.raises(ValueError, match="no layer named user_tower or item_tower"):
        export_towers(SimpleNamespace(network_=SimpleNamespace(layers=[])), tmp_path / "b")
    assert list(tmp_path.iterdir()) == []


def test_a_loaded_tower_checks_its_inputs(model, exported, tmp_path):
    user_tower = load_tower(exported[0])
    with pytest.raises(ValueError, match="takes 3 side features"):
        user_tower(np.arange(3))
    with pytest.raises(ValueError, match=r"features must have shape \(3, 3\)"):
        user_tower(np.arange(3), np.zeros((3, 2)))
    with pytest.raises(ValueError, match=r"ids must lie in \[0, 30\)"):
        user_tower(np.array([0, 30]), np.zeros((2, 3)))
    with pytest.raises(ValueError, match="1-D array of integer ids"):
        user_tower(np.array([0.5]), np.zeros((1, 3)))
    with pytest.raises(ValueError, match="not a SavedModel folder"):
        load_tower(tmp_path)


def test_the_latency_table_has_every_stage_for_both_request_sizes(model, exported):
    user_tower = load_tower(exported[0])
    index = ExactIndex().build(model.item_vectors_.astype(np.float32))
    ranker = MostPopular().fit(pd.DataFrame({"user": [0, 1, 1], "item": [3, 3, 5]}),
                               N_USERS, N_ITEMS)
    table = pipeline_latency(user_tower, index, ranker, np.arange(20), model.user_features,
                             n_candidates=15, k=5, batch_size=8, exclude=ranker.history_)
    assert list(table.columns) == ["users_per_request", "stage", "requests", "median_ms",
                                   "p95_ms", "median_ms_per_user"]
    stages = ["user tower", "index search", "re-rank", "total"]
    assert table["stage"].tolist() == stages * 2
    assert table["users_per_request"].tolist() == [1] * 4 + [8] * 4
    assert table["requests"].tolist() == [20] * 4 + [2] * 4  # the last, partial batch is left
    assert (table["median_ms"] >= 0).all() and (table["p95_ms"] >= table["median_ms"]).all()
    for size, rows in table.groupby("users_per_request"):
        np.testing.assert_allclose(rows["median_ms_per_user"], rows["median_ms"] / size)


def test_the_latency_inputs_are_checked(model, exported):
    user_tower = load_tower(exported[0])
    index = ExactIndex().build(model.item_vectors_.astype(np.float32))
    with pytest.raises(ValueError, match="non-empty 1-D array of integer user ids"):
        pipeline_latency(user_tower, index, model, np.array([], dtype=int))
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        pipeline_latency(user_tower, index, model, np.arange(3), batch_size=0)
    with pytest.raises(ValueError, match="user_tower must be a callable"):
        pipeline_latency("tower", index, model, np.arange(3))
    with pytest.raises(ValueError, match="a row for every user"):
        pipeline_latency(user_tower, index, model, np.arange(3), np.zeros((2, 3)))


def test_importing_serving_loads_neither_tensorflow_nor_faiss():
    code = ("import sys, recsys_lab.serving; "
            "print(sorted(m for m in ('tensorflow', 'faiss', 'keras') if m in sys.modules))")
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True, timeout=60).stdout
    assert output.strip() == "[]"
