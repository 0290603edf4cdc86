"""The four protocols: sizes, no leakage, ordering, determinism."""

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
