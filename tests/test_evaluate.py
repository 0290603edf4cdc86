"""Evaluation on models whose answers are known, its boundary checks, and the leaderboard."""

import numpy as np
import pandas as pd
import pytest

from recsys_lab.baselines import MostPopular
from recsys_lab.evaluate import (
    Leaderboard,
    Validation,
    evaluate,
    ndcg_by_user,
    next_item_ranks,
    per_user_metrics,
    protocol_scores,
    sweep,
    top_lists,
)
from recsys_lab.splits import ColdSplit, SeqSplit, Split


class FixedScores:
    """A stand-in model that returns a fixed score matrix."""

    def __init__(self, scores):
        self.scores = np.asarray(scores, dtype=float)

    def fit(self, train, n_users, n_items):
        self.n_users_, self.n_items_ = n_users, n_items
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


@pytest.mark.parametrize("protocol", ["COLD-USER", "COLD-USER+5"])
def test_cold_user_protocols_rank_every_item_the_user_did_not_rate_in_training(protocol):
    # User 2 is new: no training rows (COLD-USER) or one known rating, item 0 (COLD-USER+5).
    known = pd.DataFrame({"user": [2], "item": [0]}) if protocol == "COLD-USER+5" else None
    train = pd.concat([TRAIN[["user", "item"]], known])
    scores = np.tile(np.arange(30, 0, -1.0), (3, 1))
    test = pd.DataFrame({"user": [2, 2, 2], "item": [1, 2, 25]})
    row = evaluate(FixedScores(scores), train, test, protocol, n_users=3, n_items=30)
    assert set(row) >= {"Precision@10", "Recall@20", "NDCG@10", "n_test_users"}
    assert "Coverage@10" not in row and row["n_test_users"] == 1
    # Ranks of items 1, 2 and 25 (0-based): 1, 2, 25 with nothing known; 0, 1, 24 once the
    # known item 0 is removed from the ranking.
    shift = 1 if protocol == "COLD-USER+5" else 0
    ranks = np.array([1, 2]) - shift
    assert row["Precision@10"] == pytest.approx(2 / 10)
    assert row["Recall@20"] == pytest.approx(2 / 3)
    ideal = sum(1 / np.log2(r + 2) for r in range(3))
    assert row["NDCG@10"] == pytest.approx(sum(1 / np.log2(ranks + 2)) / ideal)
    per_user = per_user_metrics(FixedScores(scores).fit(train, 3, 30), train, test, protocol)
    assert list(per_user.columns) == ["Precision@10", "Recall@20", "NDCG@10"]
    assert list(per_user.index) == [2]
    assert Validation(train, test, protocol)(FixedScores(scores).fit(train, 3, 30)) == {
        name: row[name] for name in ("Precision@10", "Recall@20", "NDCG@10")}


def test_leaderboard_tables_the_cold_user_protocols_best_first():
    board = Leaderboard([{"model": "A", "protocol": "COLD-USER", "NDCG@10": 0.2},
                         {"model": "B", "protocol": "COLD-USER", "NDCG@10": 0.3},
                         {"model": "A", "protocol": "COLD-USER+5", "NDCG@10": 0.4}])
    table = board.table("COLD-USER")
    assert list(table.index) == ["B", "A"]
    assert list(table.columns[:3]) == ["Precision@10", "Recall@20", "NDCG@10"]
    assert list(board.table("COLD-USER+5").index) == ["A"]


def test_leaderboard_best_reads_the_headline_metric_the_right_way():
    board = Leaderboard([{"model": "A", "protocol": "TOPN", "NDCG@10": 0.2},
                         {"model": "B", "protocol": "TOPN", "NDCG@10": 0.4},
                         {"model": "C", "protocol": "TOPN", "NDCG@10": 0.3},
                         {"model": "A", "protocol": "RATING", "RMSE": 0.90},
                         {"model": "B", "protocol": "RATING", "RMSE": 0.95}])
    assert board.best("TOPN") == "B"
    assert board.best("TOPN", ["A", "C"]) == "C"
    assert board.best("TOPN", iter(["A"])) == "A"
    assert board.best("RATING") == "A"  # the smaller error
    with pytest.raises(ValueError, match=r"no TOPN row named \['D'\]"):
        board.best("TOPN", ["A", "D"])
    with pytest.raises(ValueError, match="models is empty"):
        board.best("TOPN", [])


def test_rating_row_and_unknown_protocol():
    scores = np.full((2, 2), 4.0)
    row = evaluate(FixedScores(scores), TRAIN, TRAIN, "RATING", name="four")
    assert row["model"] == "four" and row["RMSE"] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="unknown protocol"):
        evaluate(FixedScores(scores), TRAIN, TRAIN, "TOP-N")


def test_leaderboard_replaces_rows_and_sorts():
    board = Leaderboard()
    board.add({"model": "A", "protocol": "TOPN", "NDCG@10": 0.2})
    board.add({"model": "B", "protocol": "TOPN", "NDCG@10": 0.4})
    board.add({"model": "A", "protocol": "TOPN", "NDCG@10": 0.3})
    board.add({"model": "A", "protocol": "RATING", "RMSE": 0.9})
    assert len(board) == 3
    assert list(board.table("TOPN").index) == ["B", "A"]
    assert list(board.table("TOPN")["NDCG@10"]) == [0.4, 0.3]
    assert board.table("RATING").loc["A", "RMSE"] == 0.9
    assert "parameters" not in board.table("TOPN")
    board.add({"model": "C", "protocol": "TOPN", "NDCG@10": 0.5, "parameters": 7})
    assert board.table("TOPN").loc["C", "parameters"] == 7
    assert not hasattr(Leaderboard, "save")  # rows live in the notebook, not in a file
    with pytest.raises(ValueError, match="needs"):
        board.add({"model": "D"})


@pytest.mark.parametrize("test, options, message", [
    (pd.DataFrame({"user": [0, 2], "item": [0, 1]}), {}, "unknown id 2: ids must be < n_users"),
    (pd.DataFrame({"user": [0], "item": [12]}), {}, "unknown id 12"),
    (pd.DataFrame({"user": [0], "item": [1]}), {"candidates": [-1]}, "COLD protocol only"),
])
def test_evaluate_checks_test_ids_against_the_sizes(test, options, message):
    with pytest.raises(ValueError, match=message):
        evaluate(FixedScores(np.zeros((2, 12))), TRAIN[["user", "item"]], test, "TOPN",
                 n_users=2, n_items=12, **options)


@pytest.mark.parametrize("candidates, message", [
    ([-1], "unknown item id -1"), ([12], "unknown item id 12"), ([], "candidates is empty"),
    ([[1, 2]], "1-D"),
])
def test_cold_candidates_are_checked(candidates, message):
    test = pd.DataFrame({"user": [0], "item": [5]})
    with pytest.raises(ValueError, match=message):
        evaluate(FixedScores(np.zeros((2, 12))), TRAIN[["user", "item"]], test, "COLD",
                 n_users=2, n_items=12, candidates=candidates)


def test_sizes_must_be_positive_integers():
    with pytest.raises(ValueError, match="n_users must be a positive integer, got True"):
        evaluate(FixedScores(np.zeros((2, 12))), TRAIN, TRAIN, "RATING", n_users=True,
                 n_items=12)


def test_a_fitted_model_sets_the_sizes():
    model = MostPopular().fit(TRAIN, 2, 12)
    test = pd.DataFrame({"user": [1], "item": [12]})
    with pytest.raises(ValueError, match="unknown id 12"):
        evaluate(model, TRAIN, test, "TOPN", fitted=True)


def test_validation_returns_the_protocols_metrics_of_evaluate():
    model = MostPopular().fit(TRAIN, 2, 12)
    held_out = pd.DataFrame({"user": [0, 1], "item": [1, 0]})
    row = evaluate(model, TRAIN, held_out, "TOPN", fitted=True)
    assert Validation(TRAIN, held_out, "TOPN")(model) == {
        name: row[name] for name in ("Precision@10", "Recall@10", "Recall@20", "NDCG@10",
                                     "Coverage@10")}
    assert Validation(TRAIN, held_out, "TOPN", metrics=["NDCG@10"])(model) == {
        "NDCG@10": row["NDCG@10"]}
    with pytest.raises(ValueError, match="not"):
        Validation(TRAIN, held_out, "TOPN", metrics=["RMSE"])


def test_sweep_evaluates_one_model_per_value():
    frame = pd.DataFrame({"user": [0, 0, 1, 1], "item": [0, 1, 1, 2]})
    table = sweep(lambda k: MostPopular(), [1, 2], frame, frame, "TOPN", n_users=2, n_items=3,
                  parameter="k")
    assert list(table["k"]) == [1, 2] and "NDCG@10" in table
    with pytest.raises(ValueError, match="at least one"):
        sweep(lambda k: MostPopular(), [], frame, frame, "TOPN", n_users=2, n_items=3)


def test_next_item_ranks_excludes_history_and_counts_ties_half():
    class Fixed:  # scores items 0..4 as 4, 3, 3, 1, 0 for every user
        def score_items(self, users):
            return np.tile([4.0, 3.0, 3.0, 1.0, 0.0], (len(users), 1))

    history = pd.DataFrame({"user": [0, 0, 1], "item": [0, 4, 3]})
    test = pd.DataFrame({"user": [0, 1], "item": [3, 2]})
    ranks = next_item_ranks(Fixed(), history, test, n_users=2, n_items=5)
    # User 0 saw item 0: items 1 and 2 beat item 3. User 1: item 0 beats 2, item 1 ties.
    np.testing.assert_allclose(ranks["rank"], [2.0, 1.5])
    np.testing.assert_array_equal(ranks["history_length"], [2, 1])
    with pytest.raises(ValueError, match="item"):
        next_item_ranks(Fixed(), history, test.assign(item=[3, 9]), n_users=2, n_items=5)


def test_per_user_metrics_are_the_rows_behind_evaluates_means():
    scores = np.tile(np.arange(12, 0, -1.0), (3, 1))
    test = pd.DataFrame({"user": [0, 0, 2], "item": [1, 10, 5]})
    model = FixedScores(scores).fit(TRAIN, 3, 12)
    per_user = per_user_metrics(model, TRAIN, test, "TOPN")
    assert list(per_user.index) == [0, 2]  # user 1 has no test item
    # User 0: item 1 first once its history is removed, item 11 tenth; user 2: item 5 sixth.
    assert per_user.loc[0, "Recall@10"] == pytest.approx(1.0)
    assert per_user.loc[2, "NDCG@10"] == pytest.approx(1 / np.log2(7))
    row = evaluate(model, TRAIN, test, "TOPN", fitted=True)
    for name in per_user.columns:
        assert per_user[name].mean() == pytest.approx(row[name])


def test_per_user_metrics_refuses_rating_and_stray_candidates():
    model = FixedScores(np.ones((2, 3))).fit(TRAIN, 2, 3)
    with pytest.raises(ValueError, match="RATING has no ranking"):
        per_user_metrics(model, TRAIN, TRAIN, "RATING")
    with pytest.raises(ValueError, match="COLD protocol only"):
        per_user_metrics(model, TRAIN, TRAIN, "TOPN", candidates=[1])


def test_hits_by_user_by_hand_and_as_the_hit_rates_average():
    from recsys_lab.evaluate import full_hit_rate, hits_by_user, sampled_hit_rate

    scores = np.tile(np.arange(12, 0, -1.0), (2, 1))  # item 0 best, item 11 worst
    test = pd.DataFrame({"user": [0, 0, 1], "item": [2, 11, 3]})
    model = FixedScores(scores).fit(TRAIN, 2, 12)
    # User 0 interacted with items 0, 2 and 11: only unseen item 1 is above item 2, and
    # eight unseen items are above item 11. User 1 (items 1 and 3): items 0 and 2 are
    # above item 3.
    hits = hits_by_user(model, TRAIN, test, k=2)
    np.testing.assert_array_equal(hits[0], [True, False])
    np.testing.assert_array_equal(hits[1], [False])
    np.testing.assert_array_equal(hits_by_user(model, TRAIN, test, k=3)[1], [True])
    all_pairs = np.concatenate(list(hits_by_user(model, TRAIN, test).values()))
    assert full_hit_rate(model, TRAIN, test) == pytest.approx(all_pairs.mean())
    sampled = hits_by_user(model, TRAIN, test, n_negatives=3, seed=4)
    assert sampled_hit_rate(model, TRAIN, test, n_negatives=3, seed=4) == pytest.approx(
        np.concatenate(list(sampled.values())).mean())


def test_per_unit_scores_pair_squared_errors_under_rating():
    from recsys_lab.evaluate import per_unit_scores
    from recsys_lab.splits import Split

    scores = np.array([[4.0, 2.0], [3.0, 5.0]])
    test = pd.DataFrame({"user": [0, 1, 1], "item": [0, 0, 1], "rating": [5.0, 1.0, 5.0]},
                        index=[7, 8, 9])
    model = FixedScores(scores).fit(TRAIN, 2, 2)
    errors = per_unit_scores(model, Split(TRAIN, test), "RATING")
    assert errors.name == "squared error" and list(errors.index) == [7, 8, 9]
    np.testing.assert_allclose(errors, [1.0, 4.0, 0.0])  # their mean is the MSE
    row = evaluate(model, TRAIN, test, "RATING", fitted=True)
    assert np.sqrt(errors.mean()) == pytest.approx(row["RMSE"])


def test_per_unit_scores_score_as_the_registry_does():
    from recsys_lab.evaluate import per_unit_scores
    from recsys_lab.splits import ColdSplit, SeqSplit

    scores = np.tile(np.arange(20, 0, -1.0), (2, 1))  # item 0 best, item 19 worst
    model = FixedScores(scores).fit(TRAIN, 2, 20)
    # SEQ: the history is train + valid, so user 0's valid item 1 leaves her ranking.
    seq = SeqSplit(pd.DataFrame({"user": [0, 1], "item": [0, 1], "timestamp": [0, 0]}),
                   pd.DataFrame({"user": [0, 1], "item": [1, 0], "timestamp": [1, 1]}),
                   pd.DataFrame({"user": [0, 1], "item": [2, 19], "timestamp": [2, 2]}))
    hits = per_unit_scores(model, seq, "SEQ")
    assert hits.name == "HR@10" and list(hits.index) == [0, 1]
    np.testing.assert_array_equal(hits, [1.0, 0.0])
    row = evaluate(model, seq.history, seq.test, "SEQ", fitted=True)
    assert hits.mean() == pytest.approx(row["HR@10"])
    # COLD: only the cold items are ranked, so item 19 is second of items 18 and 19.
    cold = ColdSplit(TRAIN, pd.DataFrame({"user": [0], "item": [19]}), np.array([18, 19]))
    ndcg = per_unit_scores(model, cold, "COLD")
    assert ndcg.name == "NDCG@10"
    assert ndcg.loc[0] == pytest.approx(1 / np.log2(3))  # second of the two candidates


def test_scoring_inputs_name_the_history_and_candidates_of_each_protocol():
    from recsys_lab.evaluate import scoring_inputs
    from recsys_lab.splits import ColdSplit, SeqSplit, Split

    frame = pd.DataFrame({"user": [0], "item": [0], "timestamp": [0]})
    seq = SeqSplit(frame, frame.assign(item=1), frame.assign(item=2))
    history, candidates = scoring_inputs(seq, "SEQ")
    assert candidates is None and list(history["item"]) == [0, 1]
    cold = ColdSplit(TRAIN, frame, np.array([18, 19]))
    history, candidates = scoring_inputs(cold, "COLD")
    assert history is TRAIN and list(candidates) == [18, 19]
    assert scoring_inputs(Split(TRAIN, frame), "TOPN") == (TRAIN, None)
    with pytest.raises(ValueError, match="protocol"):
        scoring_inputs(Split(TRAIN, frame), "TOPK")


def test_top_lists_hide_the_history_and_break_ties_by_item_id():
    scores = np.array([[5.0, 4.0, 4.0, 1.0], [1.0, 2.0, 3.0, 4.0]])
    model = FixedScores(scores).fit(TRAIN, 2, 4)
    split = Split(TRAIN, pd.DataFrame({"user": [0, 1], "item": [2, 0]}))
    ranked = protocol_scores(model, split, "TOPN")
    assert ranked[0, 0] == ranked[1, 1] == -np.inf        # each user's training item
    assert ranked[0, 1] == 4.0 and ranked[1, 3] == 4.0
    assert top_lists(model, split, "TOPN", k=2).tolist() == [[1, 2], [3, 2]]
    assert scores[0, 0] == 5.0                            # the model's own scores untouched


def test_top_lists_rank_only_cold_candidates_and_the_seq_history():
    scores = np.tile(np.arange(6, 0, -1.0), (2, 1))
    model = FixedScores(scores).fit(TRAIN, 2, 6)
    cold = ColdSplit(TRAIN, pd.DataFrame({"user": [0], "item": [5]}), np.array([4, 5]))
    assert top_lists(model, cold, "COLD", k=2).tolist() == [[4, 5], [4, 5]]
    train = TRAIN.assign(timestamp=[1, 1])
    valid = pd.DataFrame({"user": [0, 1], "item": [2, 3], "timestamp": [2, 2]})
    seq = SeqSplit(train, valid, pd.DataFrame({"user": [0, 1], "item": [4, 4]}))
    assert top_lists(model, seq, "SEQ", k=2).tolist() == [[1, 3], [0, 2]]


def test_top_lists_refuse_rating_an_unfitted_model_and_a_bad_k():
    model = FixedScores(np.zeros((2, 4)))
    split = Split(TRAIN, TRAIN)
    with pytest.raises(ValueError, match="RATING scores ratings"):
        protocol_scores(model.fit(TRAIN, 2, 4), split, "RATING")
    with pytest.raises(ValueError, match="k must be a positive integer"):
        top_lists(model, split, "TOPN", k=0)
    with pytest.raises(Exception, match="fit"):
        protocol_scores(FixedScores(np.zeros((2, 4))), split, "TOPN")


def test_ndcg_by_user_scores_given_lists_by_hand():
    import scipy.sparse as sp
    relevant = sp.csr_matrix(np.array([[0, 1, 0, 1], [0, 0, 0, 0], [1, 0, 0, 0]]))
    top = np.array([[1, 3], [0, 1], [3, 2]])
    scores = ndcg_by_user(top, relevant, [0, 2])
    # user 0: hits at ranks 1 and 2, both relevant found -> 1; user 2: no hit -> 0.
    assert scores.name == "NDCG@2" and scores.index.tolist() == [0, 2]
    np.testing.assert_allclose(scores.to_numpy(), [1.0, 0.0])
    # a single hit at rank 2 of 2 relevant: (1/log2 3) / (1 + 1/log2 3)
    second = ndcg_by_user(np.array([[0, 3]]), relevant[:1], [0])
    np.testing.assert_allclose(second.to_numpy(), [(1 / np.log2(3)) / (1 + 1 / np.log2(3))])
