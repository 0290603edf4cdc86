"""The model store: a later page reads a fit an earlier page made, and only that same fit."""

import dataclasses
import pickle
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from recsys_lab import registry
from recsys_lab.datasets import synthetic_ratings
from recsys_lab.evaluate import protocol_scores
from recsys_lab.model_store import ENVIRONMENT, ModelStore, fit_key, frame_fingerprint
from recsys_lab.splits import rating_split, topn_split


@pytest.fixture(scope="module")
def problem():
    ratings = synthetic_ratings(n_users=60, n_items=40, seed=1).ratings
    data = SimpleNamespace(ratings=ratings, n_users=60, n_items=40)
    return data, {"RATING": rating_split(ratings), "TOPN": topn_split(ratings)}


@pytest.fixture(autouse=True)
def no_store_from_the_environment(monkeypatch):
    monkeypatch.delenv(ENVIRONMENT, raising=False)


def test_a_second_run_reads_the_first_runs_fit_and_row(problem, tmp_path, monkeypatch):
    data, splits = problem
    entry = registry.get("EASE", "TOPN")
    first_models, second_models = {}, {}
    store = ModelStore(tmp_path)
    first = registry.run(entry, data, splits, first_models, store=store)
    assert (store.saves, store.hits) == (1, 0)
    assert len(list(tmp_path.glob("*.pkl"))) == 1

    def no_fit(*args, **kwargs):
        raise AssertionError("the stored fit should have been read, not made again")

    monkeypatch.setattr(registry.Entry, "build", no_fit)
    again = ModelStore(tmp_path)
    second = registry.run(entry, data, splits, second_models, store=again)
    assert (again.saves, again.hits) == (0, 1)
    assert second == first  # fit_seconds too: the row is the one the fit made
    np.testing.assert_array_equal(
        protocol_scores(second_models["TOPN", "EASE"], splits["TOPN"], "TOPN"),
        protocol_scores(first_models["TOPN", "EASE"], splits["TOPN"], "TOPN"))


def test_anything_the_fit_depends_on_makes_a_new_key(problem):
    data, splits = problem
    entry = registry.get("EASE", "TOPN")
    train, test = splits["TOPN"].train, splits["TOPN"].test
    key = fit_key(entry, data, train, test)
    assert fit_key(entry, data, train.copy(), test.copy()) == key
    others = [
        fit_key(dataclasses.replace(entry, params={"l2": 1.0}), data, train, test),
        fit_key(registry.get("ItemKNN", "TOPN"), data, train, test),
        fit_key(entry, data, train.iloc[1:], test),
        fit_key(entry, data, train, test.iloc[1:]),
        fit_key(entry, data, train.assign(item=train["item"][::-1].to_numpy()), test),
        fit_key(entry, data, train, test, candidates=np.arange(5)),
        fit_key(entry, SimpleNamespace(ratings=data.ratings.iloc[1:], n_users=60, n_items=40),
                train, test),
        fit_key(entry, SimpleNamespace(ratings=data.ratings, n_users=61, n_items=40),
                train, test),
    ]
    assert len({key, *others}) == len(others) + 1


def test_the_environment_names_the_store_and_false_turns_it_off(problem, tmp_path,
                                                                 monkeypatch):
    data, splits = problem
    assert ModelStore.from_environment() is None
    monkeypatch.setenv(ENVIRONMENT, str(tmp_path / "store"))
    assert ModelStore.from_environment().folder == tmp_path / "store"
    registry.run(registry.get("Biases", "RATING"), data, splits, store=False)
    assert not (tmp_path / "store").exists()
    registry.run(registry.get("Biases", "RATING"), data, splits)
    assert len(list((tmp_path / "store").glob("*.pkl"))) == 1


def test_a_damaged_file_is_named_in_a_warning_and_the_model_is_fitted_again(problem,
                                                                              tmp_path):
    data, splits = problem
    entry = registry.get("EASE", "TOPN")
    split = splits["TOPN"]
    path = ModelStore(tmp_path).path(fit_key(entry, data, split.train, split.test))
    path.write_bytes(b"not a pickle")
    store = ModelStore(tmp_path)
    with pytest.warns(RuntimeWarning, match=rf"{path.name} could not be read.*fitted again"):
        row = registry.run(entry, data, splits, store=store)
    assert (store.hits, store.saves) == (0, 1)
    assert pickle.loads(path.read_bytes())[0] == row  # replaced by the new fit


def test_a_model_that_cannot_be_pickled_raises_and_leaves_no_file(tmp_path):
    store = ModelStore(tmp_path / "store")
    with pytest.raises((pickle.PicklingError, AttributeError, TypeError)):
        store.save("key", {"model": "lambda"}, lambda: None)
    assert not list((tmp_path / "store").glob("*"))
    assert store.load("key") is None and store.saves == 0


def test_frames_with_list_columns_are_fingerprinted_by_their_contents():
    films = pd.DataFrame({"item": [0, 1], "genres": [["Drama"], ["Comedy", "Drama"]]})
    same = pd.DataFrame({"item": [0, 1], "genres": [["Drama"], ["Comedy", "Drama"]]})
    other = films.assign(genres=[["Drama"], ["Comedy"]])
    assert frame_fingerprint(films) == frame_fingerprint(same) != frame_fingerprint(other)
    assert frame_fingerprint(None) == "none"
