"""The protocols: sizes, no leakage, ordering, determinism."""

import numpy as np
import pandas as pd
import pytest

from recsys_lab import splits


@pytest.fixture(scope="module")
def ratings():
    rng = np.random.default_rng(3)
    n = 3000
    return pd.DataFrame({
        "user": rng.integers(0, 60, n), "item": rng.integers(0, 200, n),
        "rating": rng.integers(1, 6, n).astype(float), "timestamp": rng.integers(0, 10_000, n),
    }).drop_duplicates(["user", "item"]).reset_index(drop=True)


def _same_rows(parts, whole):
    joined = pd.concat(parts).sort_index()
    pd.testing.assert_frame_equal(joined, whole)


def test_rating_split_is_random_80_20_and_deterministic(ratings):
    train, test = splits.rating_split(ratings, seed=42)
    assert len(test) == round(0.2 * len(ratings))
    _same_rows([train, test], ratings)
    again = splits.rating_split(ratings, seed=42)
    pd.testing.assert_frame_equal(test, again.test)
    assert not test.index.equals(splits.rating_split(ratings, seed=1).test.index)


def test_topn_split_holds_out_a_fifth_of_each_user(ratings):
    train, test = splits.topn_split(ratings, seed=0)
    _same_rows([train, test], ratings)
    counts = ratings.groupby("user").size()
    held = test.groupby("user").size().reindex(counts.index, fill_value=0)
    np.testing.assert_array_equal(held.to_numpy(), np.round(0.2 * counts.to_numpy()))


def test_seq_split_leaves_the_last_two_out_in_time_order(ratings):
    split = splits.seq_split(ratings)
    _same_rows([split.train, split.valid, split.test], ratings)
    assert split.test["user"].is_unique and split.valid["user"].is_unique
    last_train = split.train.groupby("user")["timestamp"].max()
    valid_time = split.valid.set_index("user")["timestamp"]
    test_time = split.test.set_index("user")["timestamp"]
    assert (valid_time <= test_time.reindex(valid_time.index)).all()
    assert (last_train.reindex(valid_time.index) <= valid_time).all()
    assert len(split.history) == len(split.train) + len(split.valid)


def test_seq_split_keeps_short_histories_in_training():
    tiny = pd.DataFrame({"user": [0, 0, 1, 1, 1], "item": [1, 2, 1, 2, 3],
                         "timestamp": [5, 1, 1, 2, 3]})
    train, valid, test = splits.seq_split(tiny)
    assert list(test["item"]) == [3] and list(valid["item"]) == [2]
    assert list(train["item"]) == [2, 1, 1]  # user 0 in time order, then user 1


def test_seq_validation_splits_step_back_one_item_per_fold():
    # User 0 rated items 10..15 in time order (given shuffled); user 1 only 3 items.
    frame = pd.DataFrame({"user": [0] * 6 + [1] * 3, "item": [13, 10, 15, 11, 14, 12, 1, 2, 3],
                          "timestamp": [3, 0, 5, 1, 4, 2, 0, 1, 2]})
    folds = splits.seq_validation_splits(frame, n_folds=3)
    seq = splits.seq_split(frame)
    pd.testing.assert_frame_equal(folds[0].test, seq.valid)
    pd.testing.assert_frame_equal(folds[0].history, seq.train)
    assert [list(fold.test.query("user == 0")["item"]) for fold in folds] == [[14], [13], [12]]
    assert [list(fold.history.query("user == 0")["item"]) for fold in folds] == [
        [10, 11, 12, 13], [10, 11, 12], [10, 11]]
    # User 1's validation item has one item before it; the folds after have none.
    assert [list(fold.test["user"]) for fold in folds] == [[0, 1], [0], [0]]
    short = pd.DataFrame({"user": [2, 2], "item": [4, 5], "timestamp": [0, 1]})
    for fold in splits.seq_validation_splits(pd.concat([frame, short]), n_folds=3):
        assert list(fold.history.query("user == 2")["item"]) == [4, 5]


def test_seq_validation_splits_reject_a_bad_number_of_folds(ratings):
    for bad in (0, 2.5, True):
        with pytest.raises(ValueError, match="n_folds"):
            splits.seq_validation_splits(ratings, n_folds=bad)


def test_cold_item_split_removes_items_entirely(ratings):
    train, test, cold = splits.cold_item_split(ratings, seed=0, n_items=200)
    _same_rows([train, test], ratings)
    assert len(cold) == 40
    assert not set(train["item"]) & set(cold)
    assert set(test["item"]) <= set(cold)


def test_splits_reject_bad_input(ratings):
    with pytest.raises(ValueError, match="missing column"):
        splits.rating_split(ratings.drop(columns="rating"))
    with pytest.raises(ValueError, match="empty"):
        splits.topn_split(ratings.iloc[:0])
    with pytest.raises(ValueError, match="test_fraction"):
        splits.topn_split(ratings, test_fraction=1.5)
    with pytest.raises(ValueError, match="NaN"):
        splits.rating_split(ratings.assign(rating=np.nan))


def test_whole_number_float_ids_become_int64_ids():
    frame = pd.DataFrame({"user": [0.0, 0.0, 0.0, 1.0, 1.0, 1.0],
                          "item": [0.0, 1.0, 2.0, 0.0, 1.0, 2.0],
                          "rating": [4.0] * 6, "timestamp": [1, 2, 3, 1, 2, 3]})
    for parts in (splits.rating_split(frame), splits.topn_split(frame),
                  splits.seq_split(frame), splits.cold_item_split(frame)[:2]):
        for part in parts:
            assert part["user"].dtype == np.int64 and part["item"].dtype == np.int64
    with pytest.raises(ValueError, match="integer ids"):
        splits.topn_split(frame.assign(item=frame["item"] + 0.5))


def _time_rank(frame):
    """Each row's position in its user's history, in time order (ties in input order)."""
    return frame.sort_values(["user", "timestamp"], kind="stable").groupby("user").cumcount()


def test_cold_user_split_holds_out_users_and_keeps_their_first_ratings(ratings):
    rank = _time_rank(ratings)
    for n_known in (0, 1, 3, 5, 10):
        train, test, cold = splits.cold_user_split(ratings, seed=0, n_known=n_known)
        assert len(cold) == 12 and np.all(np.diff(cold) > 0) and cold.dtype == np.int64
        is_cold = ratings["user"].isin(cold)
        # Warm users keep everything; a cold user keeps their first n_known, in time order.
        expected_train = ratings[~is_cold | (rank.reindex(ratings.index) < n_known)]
        pd.testing.assert_frame_equal(train, expected_train)
        assert (train[train["user"].isin(cold)].groupby("user").size() <= n_known).all()
        pd.testing.assert_frame_equal(test, ratings[is_cold & (rank >= 10)])
        assert not set(train.index) & set(test.index)
        # Rows keep their input order.
        assert train.index.is_monotonic_increasing and test.index.is_monotonic_increasing


def test_cold_user_test_rows_are_the_same_for_every_number_of_known_ratings(ratings):
    tests = [splits.cold_user_split(ratings, n_known=k).test for k in (0, 1, 3, 5, 10)]
    for test in tests[1:]:
        pd.testing.assert_frame_equal(test, tests[0])
    # Between the known ratings and the test ones, a cold user's ratings are in neither part.
    train, test, cold = splits.cold_user_split(ratings, n_known=3)
    left_out = len(ratings) - len(train) - len(test)
    per_user = ratings[ratings["user"].isin(cold)].groupby("user").size()
    assert left_out == int((per_user.clip(upper=10) - per_user.clip(upper=3)).sum())


def test_cold_user_split_orders_by_time_and_breaks_ties_by_input_order():
    tiny = pd.DataFrame({"user": [0, 0, 0, 0, 1, 1], "item": [5, 6, 7, 8, 1, 2],
                         "timestamp": [30, 10, 20, 10, 1, 2]})
    train, test, cold = splits.cold_user_split(tiny, seed=1, cold_fraction=0.5, n_known=2,
                                               max_known=3)
    assert list(cold) == [0]
    # User 0 in time order: items 6 and 8 (both at 10, input order), 7, then 5.
    assert list(train["item"]) == [6, 8, 1, 2] and list(test["item"]) == [5]


def test_cold_users_are_drawn_from_n_users_and_the_draw_is_seeded(ratings):
    first = splits.cold_user_split(ratings, seed=0, n_users=100).cold_users
    assert len(first) == 20 and first.max() < 100
    np.testing.assert_array_equal(first, splits.cold_user_split(ratings, n_users=100).cold_users)
    assert not np.array_equal(first, splits.cold_user_split(ratings, seed=1,
                                                            n_users=100).cold_users)


def test_cold_user_split_rejects_bad_settings(ratings):
    with pytest.raises(ValueError, match="n_known \\(6\\) must not exceed max_known \\(5\\)"):
        splits.cold_user_split(ratings, n_known=6, max_known=5)
    with pytest.raises(ValueError, match="n_known must be a non-negative integer"):
        splits.cold_user_split(ratings, n_known=-1)
    with pytest.raises(ValueError, match="max_known must be a non-negative integer"):
        splits.cold_user_split(ratings, max_known=2.5)
    with pytest.raises(ValueError, match="cold_fraction"):
        splits.cold_user_split(ratings, cold_fraction=0.0)
    with pytest.raises(ValueError, match="missing column.*timestamp"):
        splits.cold_user_split(ratings.drop(columns="timestamp"))
    with pytest.raises(ValueError, match="unknown id"):
        splits.cold_user_split(ratings, n_users=10)


def test_standard_splits_cover_every_protocol(ratings):
    standard = splits.standard_splits(ratings, n_items=200, n_users=60)
    assert set(standard) == set(splits.PROTOCOLS)
    cold, cold_5 = standard["COLD-USER"], standard["COLD-USER+5"]
    np.testing.assert_array_equal(cold.cold_users, cold_5.cold_users)
    pd.testing.assert_frame_equal(cold.test, cold_5.test)
    assert not cold.train["user"].isin(cold.cold_users).any()
    assert (cold_5.train[cold_5.train["user"].isin(cold.cold_users)]
            .groupby("user").size() == 5).all()


def test_every_movielens_cold_user_has_at_least_ten_test_items():
    from recsys_lab.datasets import load_movielens_100k

    data = load_movielens_100k()
    assert data.ratings.groupby("user").size().min() >= 20
    standard = splits.standard_splits(data.ratings, n_items=data.n_items, n_users=data.n_users)
    for protocol in ("COLD-USER", "COLD-USER+5"):
        split = standard[protocol]
        assert len(split.cold_users) == round(0.2 * data.n_users)
        per_user = split.test.groupby("user").size().reindex(split.cold_users, fill_value=0)
        assert per_user.min() >= 10, protocol


def test_history_positions_follow_time_and_keep_ties_in_input_order():
    from recsys_lab.splits import history_positions

    frame = pd.DataFrame({"user": [1, 0, 1, 0, 1], "item": [0, 1, 2, 3, 4],
                          "timestamp": [5, 9, 5, 3, 1]})
    np.testing.assert_array_equal(history_positions(frame), [1, 1, 2, 0, 0])
    with pytest.raises(ValueError, match="timestamp"):
        history_positions(frame.drop(columns="timestamp"))
