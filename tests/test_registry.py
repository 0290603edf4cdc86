"""The model registry chapter 11 runs from, and the cost-versus-accuracy figure."""

import sys
from types import SimpleNamespace

import matplotlib
import numpy as np
import pandas as pd
import pytest

from recsys_lab import registry
from recsys_lab.baselines import EASE, Biases, GenrePopularity, MostPopular
from recsys_lab.datasets import synthetic_ratings
from recsys_lab.evaluate import Leaderboard, evaluate
from recsys_lab.plots import plot_cost_vs_accuracy
from recsys_lab.splits import (
    PROTOCOLS,
    cold_item_split,
    rating_split,
    seq_split,
    seq_validation_splits,
    topn_split,
)

matplotlib.use("Agg")


def test_every_protocol_has_entries_and_row_names_are_unique_per_protocol():
    for protocol in PROTOCOLS:
        names = [e.name for e in registry.entries(protocol)]
        assert names, protocol
        assert len(names) == len(set(names)), f"duplicate rows under {protocol}: {names}"


def test_every_entry_names_an_importable_class_with_the_interface():
    for entry in registry.entries():
        if entry.factory.startswith("recsys_lab.models."):
            continue  # importing Keras here would slow every unit test run; see below
        model_class = entry.model_class
        assert hasattr(model_class, "fit") and hasattr(model_class, "score_items"), entry


def test_model_entries_point_at_existing_classes_without_importing_them():
    import ast
    from pathlib import Path

    root = Path(registry.__file__).parent
    for entry in registry.entries():
        module, _, name = entry.factory.partition(":")
        path = root.parent / (module.replace(".", "/") + ".py")
        classes = {n.name for n in ast.walk(ast.parse(path.read_text()))
                   if isinstance(n, ast.ClassDef)}
        assert name in classes, f"{entry.factory} not defined in {path}"


def test_registry_does_not_import_tensorflow():
    assert "tensorflow" not in sys.modules or "recsys_lab.registry" in sys.modules


def test_get_finds_a_row_and_names_the_known_ones_otherwise():
    assert registry.get("EASE", "TOPN").factory.endswith(":EASE")
    with pytest.raises(ValueError, match="no model 'Nope' under TOPN; known: .*EASE"):
        registry.get("Nope", "TOPN")
    with pytest.raises(ValueError, match="unknown protocol"):
        registry.entries("RANKING")


def test_row_groups_lists_every_row_of_the_protocol_with_its_group():
    groups = registry.row_groups("SEQ", {"SASRec"})
    assert list(groups.index) == [e.name for e in registry.entries("SEQ")]
    assert list(groups.columns) == ["chapter", "model", "group", "Keras"]
    assert groups.loc["SASRec", "group"] == "neural" and groups.loc["SASRec", "Keras"]
    assert groups.loc["GRU4Rec", "group"] == "not neural" and groups.loc["GRU4Rec", "Keras"]
    assert groups.loc["EASE", "model"] == registry.get("EASE", "SEQ").call()
    assert not groups.loc["EASE", "Keras"] and groups.loc["EASE", "chapter"] == 1
    with pytest.raises(ValueError, match=r"neural names \['Nope'\] that are not rows of SEQ"):
        registry.row_groups("SEQ", {"SASRec", "Nope"})


def test_bad_entries_are_rejected_at_definition():
    with pytest.raises(ValueError, match="unknown protocol"):
        registry.Entry("X", "RANK", 1, "recsys_lab.baselines:EASE")
    with pytest.raises(ValueError, match="module:Class"):
        registry.Entry("X", "TOPN", 1, "recsys_lab.baselines.EASE")
    with pytest.raises(ValueError, match="unknown data arguments"):
        registry.Entry("X", "COLD", 1, "recsys_lab.baselines:EASE", data_params={"a": "b"})


def test_call_shows_the_settings_that_differ_from_the_defaults():
    entry = registry.Entry("EASE-200", "TOPN", 1, "recsys_lab.baselines:EASE", {"l2": 200.0})
    assert entry.call() == "EASE(l2=200.0)"
    assert isinstance(entry.build(data=None), EASE) and entry.build(None).l2 == 200.0


def test_count_parameters_counts_learned_arrays_not_the_history():
    ratings = synthetic_ratings(n_users=30, n_items=20, seed=0).ratings
    assert registry.count_parameters(Biases().fit(ratings, 30, 20)) == 30 + 20
    assert registry.count_parameters(EASE().fit(ratings, 30, 20)) == 20 * 20
    assert registry.count_parameters(MostPopular().fit(ratings, 30, 20)) == 20


def test_count_parameters_counts_shared_network_weights_once():
    shared, own = SimpleNamespace(shape=(4, 2)), SimpleNamespace(shape=(3,))
    network = SimpleNamespace(count_params=lambda: 11, weights=[shared, own])
    tower = SimpleNamespace(count_params=lambda: 8, weights=[shared])
    model = SimpleNamespace(network_=network, tower_=tower, user_factors_=np.ones((5, 2)),
                            history_=None)
    assert registry.count_parameters(model) == 8 + 3


def test_count_parameters_adds_fitted_sub_models():
    ratings = synthetic_ratings(n_users=30, n_items=20, seed=0).ratings
    model = SimpleNamespace(factor_model_=Biases().fit(ratings, 30, 20),
                            scores_=np.ones((30, 20)))
    assert registry.count_parameters(model) == 30 + 20 + 30 * 20


def test_run_fits_scores_and_reports_cost():
    ratings = synthetic_ratings(n_users=60, n_items=40, seed=1).ratings
    data = SimpleNamespace(n_users=60, n_items=40)
    splits = {"RATING": rating_split(ratings), "TOPN": topn_split(ratings)}
    row = registry.run(registry.get("Biases", "RATING"), data, splits)
    assert row["model"] == "Biases" and row["chapter"] == 1 and row["parameters"] == 100
    assert 0 < row["RMSE"] < 1.5 and row["fit_seconds"] >= 0 and row["score_seconds"] >= 0
    row = registry.run(registry.get("EASE", "TOPN"), data, splits)
    assert 0 <= row["NDCG@10"] <= 1 and row["parameters"] == 40 * 40


def test_run_rows_gives_the_rows_as_a_leaderboard_and_the_models_by_name():
    ratings = synthetic_ratings(n_users=60, n_items=40, seed=1).ratings
    data = SimpleNamespace(n_users=60, n_items=40)
    split = topn_split(ratings)
    board, models = registry.run_rows(["EASE", "MostPopular"], "TOPN", data, split,
                                      store=False)
    table = board.table("TOPN")
    assert set(table.index) == {"EASE", "MostPopular"} and list(models) == ["EASE",
                                                                            "MostPopular"]
    alone = registry.run(registry.get("EASE", "TOPN"), data, {"TOPN": split}, store=False)
    assert table.loc["EASE", "NDCG@10"] == alone["NDCG@10"]
    assert table.loc["EASE", "parameters"] == 40 * 40
    assert isinstance(models["EASE"], EASE) and isinstance(models["MostPopular"], MostPopular)
    with pytest.raises(ValueError, match="no model 'EAZE' under TOPN"):
        registry.run_rows(["EAZE"], "TOPN", data, split, store=False)
    mine = Leaderboard().add({"model": "Mine", "protocol": "TOPN", "NDCG@10": 0.0,
                              "fit_seconds": 1.0})
    same, _ = registry.run_rows(["EASE"], "TOPN", data, split, store=False, board=mine)
    assert same is mine and set(mine.table("TOPN").index) == {"Mine", "EASE"}


def test_run_model_gives_a_models_row_as_run_gives_an_entrys():
    ratings = synthetic_ratings(n_users=60, n_items=40, seed=1).ratings
    data = SimpleNamespace(n_users=60, n_items=40)
    split = seq_split(ratings)
    entry = registry.get("Markov", "SEQ")
    board = Leaderboard()
    row = registry.run_model(entry.build(data), "Mine", "SEQ", data, split, board=board)
    alone = registry.run(entry, data, {"SEQ": split}, store=False)
    assert row["model"] == "Mine" and row["HR@10"] == alone["HR@10"]  # fitted on the history
    assert row["parameters"] == alone["parameters"] and row["score_seconds"] >= 0
    assert "chapter" not in row and list(board.table("SEQ").index) == ["Mine"]
    cold = cold_item_split(ratings, n_items=40, seed=0)
    genres = np.eye(4)[np.arange(40) % 4]
    cold_row = registry.run_model(GenrePopularity(genres), "Mine", "COLD", data, cold)
    cold_alone = evaluate(GenrePopularity(genres), cold.train, cold.test, "COLD",
                          candidates=cold.cold_items, n_users=60, n_items=40)
    assert cold_row["Recall@20"] == cold_alone["Recall@20"]  # only cold items were ranked


def test_cost_vs_accuracy_plot_has_one_labelled_point_per_model():
    table = pd.DataFrame({"NDCG@10": [0.2, 0.4], "fit_seconds": [0.001, 3.0],
                          "parameters": [0, 1000]}, index=["MostPopular", "EASE"])
    axes = plot_cost_vs_accuracy(table, "NDCG@10", highlight=("EASE",))
    assert len(axes) == 2
    for ax in axes:
        assert [t.get_text() for t in ax.texts] == ["MostPopular", "EASE"]
        assert ax.get_xscale() == "log"
    with pytest.raises(ValueError, match="parameters"):
        plot_cost_vs_accuracy(table.drop(columns="parameters"), "NDCG@10")


def test_count_parameters_counts_arrays_shared_with_a_sub_model_once():
    from recsys_lab.models.mf import ImplicitALS

    ratings = synthetic_ratings(n_users=30, n_items=20, seed=0).ratings
    model = ImplicitALS(n_factors=3, epochs=1).fit(ratings, 30, 20)
    assert registry.count_parameters(model) == registry.count_parameters(model.mf_) == (
        30 * 3 + 20 * 3 + 30 + 20)


def test_run_all_gives_one_tidy_row_per_entry_with_costs(monkeypatch):
    ratings = synthetic_ratings(n_users=60, n_items=40, seed=1).ratings
    data = SimpleNamespace(ratings=ratings, n_users=60, n_items=40)
    monkeypatch.setattr(registry, "ENTRIES", tuple(
        e for e in registry.ENTRIES if e.chapter == 1
        and e.protocol in ("RATING", "TOPN")))
    table = registry.run_all(["RATING", "TOPN"], data)
    assert list(table[["protocol", "model"]].itertuples(index=False, name=None)) == [
        ("RATING", "GlobalMean"), ("RATING", "Biases"), ("TOPN", "MostPopular"),
        ("TOPN", "ItemKNN"), ("TOPN", "EASE"), ("TOPN", "UserKNN"), ("TOPN", "RP3beta"),
        ("TOPN", "iALS")]
    assert list(table.columns[:3]) == ["protocol", "model", "chapter"]
    assert list(table.columns[-3:]) == ["fit_seconds", "score_seconds", "parameters"]
    assert table.loc[table["model"] == "EASE", "parameters"].item() == 40 * 40
    assert np.isnan(table.loc[table["model"] == "EASE", "RMSE"].item())
    from recsys_lab.evaluate import Leaderboard

    topn = Leaderboard(table.to_dict("records")).table("TOPN")
    assert list(topn.columns[-2:]) == ["fit_seconds", "parameters"]
    with pytest.raises(ValueError, match="unknown protocol"):
        registry.run_all(["RANK"], data)


def test_the_new_user_protocols_have_their_baselines_and_the_feature_models():
    names = {p: [e.name for e in registry.entries(p)] for p in ("COLD-USER", "COLD-USER+5")}
    assert names["COLD-USER"] == ["MostPopular", "GroupPopularity", "FM", "DeepFM", "DCN-v2"]
    assert names["COLD-USER+5"] == ["MostPopular", "EASE", "iALS", "GroupPopularity", "FM",
                                    "DeepFM", "DCN-v2"]
    for protocol in ("COLD-USER", "COLD-USER+5"):
        for name in ("FM", "DeepFM", "DCN-v2"):
            entry = registry.get(name, protocol)
            assert entry.chapter == 10 and entry.params["task"] == "implicit"
            assert entry.params["user_history"] == entry.params["min_user_rows"] == 10
            assert dict(entry.data_params) == {"user_fields": "user_fields",
                                               "item_fields": "item_fields"}
    assert registry.get("iALS", "COLD-USER+5").factory == registry.get("iALS", "TOPN").factory
    for name in ("FM", "DeepFM"):  # rating prediction is their default task
        entry = registry.get(name, "RATING")
        assert entry.chapter == 10 and not entry.params and "user_fields" in entry.data_params


@pytest.fixture()
def fake_fields(monkeypatch):
    """A stand-in for ``recsys_lab.fields``: what the registry asks of it, recorded."""
    calls = []
    fields = SimpleNamespace(
        demographic_groups=lambda users: (calls.append("groups")
                                          or (users["user"].to_numpy() % 3, ["a", "b", "c"])),
        user_fields=lambda users: calls.append("user_fields") or "U",
        item_fields=lambda items, kg: calls.append(("item_fields", kg)) or "I")
    monkeypatch.setitem(sys.modules, "recsys_lab.fields", fields)
    return calls


def test_data_arguments_of_the_feature_chapter_come_from_fields(fake_fields):
    data = SimpleNamespace(users=pd.DataFrame({"user": np.arange(6)}), items=None, kg="kg")
    np.testing.assert_array_equal(registry.DATA_ARGUMENTS["user_groups"](data),
                                  [0, 1, 2, 0, 1, 2])
    assert registry.DATA_ARGUMENTS["user_fields"](data) == "U"
    assert registry.DATA_ARGUMENTS["item_fields"](data) == "I"
    assert fake_fields == ["groups", "user_fields", ("item_fields", "kg")]


def test_run_scores_group_popularity_on_the_held_out_users(fake_fields):
    ratings = synthetic_ratings(n_users=60, n_items=40, density=0.6, seed=1).ratings
    data = SimpleNamespace(ratings=ratings, users=pd.DataFrame({"user": np.arange(60)}),
                           n_users=60, n_items=40)
    from recsys_lab.evaluate import per_user_metrics
    from recsys_lab.splits import standard_splits

    splits = standard_splits(ratings, n_items=40, n_users=60)
    models = {}
    row = registry.run(registry.get("GroupPopularity", "COLD-USER"), data, splits, models)
    # The fitted model is kept for per-user comparisons; it reproduces the row.
    model = models["COLD-USER", "GroupPopularity"]
    split = splits["COLD-USER"]
    per_user = per_user_metrics(model, split.train, split.test, "COLD-USER")
    assert per_user["NDCG@10"].mean() == pytest.approx(row["NDCG@10"])
    assert row["protocol"] == "COLD-USER" and row["chapter"] == 10
    assert row["n_test_users"] == 12 and row["parameters"] == 3 * 40
    assert 0 <= row["NDCG@10"] <= 1 and "Recall@20" in row


def test_run_rows_on_splits_in_two_processes_gives_the_fits_of_a_loop():
    # The claim chapter 7.1 makes: two worker processes make the fits a loop makes, Keras
    # networks included, to the last bit of every score.
    ratings = synthetic_ratings(n_users=50, n_items=30, seed=2).ratings
    data = SimpleNamespace(n_users=50, n_items=30)
    folds = seq_validation_splits(ratings, n_folds=2)
    names = ["Markov", "SASRec"]
    in_processes = registry.run_rows_on_splits(names, "SEQ", data, folds, store=False,
                                               n_jobs=2)
    assert len(in_processes) == 2
    for fold, (board, models) in zip(folds, in_processes, strict=True):
        loop_board, loop_models = registry.run_rows(names, "SEQ", data, fold, store=False)
        assert list(models) == names
        columns = ["HR@10", "NDCG@10"]
        pd.testing.assert_frame_equal(board.table("SEQ")[columns],
                                      loop_board.table("SEQ")[columns])
        users = fold.test["user"].to_numpy()
        for name in names:
            np.testing.assert_array_equal(models[name].score_items(users),
                                          loop_models[name].score_items(users))
    with pytest.raises(ValueError, match="no model 'SASRek' under SEQ"):
        registry.run_rows_on_splits(["SASRek"], "SEQ", data, folds, n_jobs=2)
