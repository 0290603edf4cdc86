"""evaluate() on models whose answers are known, and the leaderboard's bookkeeping."""

import numpy as np
import pandas as pd
import pytest

from recsys_lab.evaluate import Leaderboard, evaluate


class FixedScores:
    """A stand-in model that returns a fixed score matrix."""

    def __init__(self, scores):
        self.scores = np.asarray(scores, dtype=float)

    def fit(self, train, n_users, n_items):
        return self

    def score_items(self, users):
        return self.scores[users]

    def predict(self, users, items):
        return self.scores[users, items]


TRAIN = pd.DataFrame({"user": [0, 1], "item": [0, 1], "rating": [5.0, 5.0]})


def test_topn_removes_history_and_scores_a_perfect_model_as_one():
    # Item 0 is user 0's history: scored highest, it must not count against the model.
    scores = np.tile(np.arange(12, 0, -1.0), (2, 1))
    test = pd.DataFrame({"user": [0, 0, 1], "item": [1, 2, 0], "rating": [1.0] * 3})
    row = evaluate(FixedScores(scores), TRAIN, test, "TOPN", n_users=2, n_items=12)
    assert row["NDCG@10"] == pytest.approx(1.0)
    assert row["Recall@20"] == pytest.approx(1.0)
    assert row["Precision@10"] == pytest.approx((2 / 10 + 1 / 10) / 2)
    assert row["n_test_users"] == 2


def test_seq_hit_rate_and_ndcg_by_hand():
    scores = np.tile(np.arange(12, 0, -1.0), (2, 1))
    test = pd.DataFrame({"user": [0, 1], "item": [3, 11]})
    row = evaluate(FixedScores(scores), TRAIN, test, "SEQ", n_users=2, n_items=12)
    # User 0: item 3 is at rank 3 once its history (item 0) is removed; user 1 misses.
    assert row["HR@10"] == pytest.approx(0.5)
    assert row["NDCG@10"] == pytest.approx((1 / np.log2(4)) / 2)


def test_cold_ranks_only_the_candidate_items():
    scores = np.tile(np.arange(30, 0, -1.0), (2, 1))
    test = pd.DataFrame({"user": [0, 1], "item": [25, 29]})
    row = evaluate(FixedScores(scores), TRAIN, test, "COLD", n_users=2, n_items=30,
                   candidates=[25, 29])
    assert row["Recall@20"] == pytest.approx(1.0)
    assert row["NDCG@10"] == pytest.approx((1 + 1 / np.log2(3)) / 2)


def test_rating_row_and_unknown_protocol():
    scores = np.full((2, 2), 4.0)
    row = evaluate(FixedScores(scores), TRAIN, TRAIN, "RATING", name="four")
    assert row["model"] == "four" and row["RMSE"] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="unknown protocol"):
        evaluate(FixedScores(scores), TRAIN, TRAIN, "TOP-N")


def test_leaderboard_replaces_rows_sorts_and_round_trips(tmp_path):
    board = Leaderboard()
    board.add({"model": "A", "protocol": "TOPN", "NDCG@10": 0.2})
    board.add({"model": "B", "protocol": "TOPN", "NDCG@10": 0.4})
    board.add({"model": "A", "protocol": "TOPN", "NDCG@10": 0.3})
    board.add({"model": "A", "protocol": "RATING", "RMSE": 0.9})
    assert len(board) == 3
    assert list(board.table("TOPN").index) == ["B", "A"]
    path = board.save(tmp_path / "board.csv")
    Leaderboard([{"model": "C", "protocol": "TOPN", "NDCG@10": 0.5}]).save(path)
    loaded = Leaderboard.load(path)
    assert list(loaded.table("TOPN")["NDCG@10"]) == [0.5, 0.4, 0.3]
    assert loaded.table("RATING").loc["A", "RMSE"] == 0.9
    with pytest.raises(ValueError, match="needs"):
        board.add({"model": "D"})
