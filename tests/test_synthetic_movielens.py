"""Tests of recsys_lab.synthetic_movielens on small sizes (10³–10⁵ rows, well under a second)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recsys_lab.synthetic_movielens import _AliasSampler, _allocate, synthetic_movielens


@pytest.fixture(scope="module")
def data():
    return synthetic_movielens(50_000, seed=3)


def test_shape_columns_and_default_sizes(data):
    ratings = data.ratings
    assert list(ratings.columns) == ["user", "item", "rating", "timestamp"]
    assert ratings.dtypes.astype(str).tolist() == ["int64", "int64", "float64", "int64"]
    assert len(ratings) == 50_000
    assert (data.n_users, data.n_items) == (round(50_000 / 150), round(5 * 50_000 ** 0.5))
    assert ratings["user"].between(0, data.n_users - 1).all()
    assert ratings["item"].between(0, data.n_items - 1).all()
    assert set(np.unique(ratings["rating"])) <= {1.0, 2.0, 3.0, 4.0, 5.0}
    assert data.user_factors.shape == (data.n_users, 16)
    assert data.item_factors.shape == (data.n_items, 16)


def test_pairs_are_distinct_and_grouped_by_user_in_time_order(data):
    ratings = data.ratings
    assert not ratings.duplicated(["user", "item"]).any()
    assert (np.diff(ratings["user"]) >= 0).all()
    same_user = np.diff(ratings["user"]) == 0
    assert (np.diff(ratings["timestamp"])[same_user] > 0).all()


def test_user_activity_is_exact_and_within_limits(data):
    counts = np.bincount(data.ratings["user"], minlength=data.n_users)
    np.testing.assert_array_equal(counts, data.user_activity)
    assert counts.min() >= 20 and counts.max() <= 0.5 * data.n_items
    assert counts.max() > 4 * np.median(counts)  # a long tail of heavy users


def test_same_seed_same_data_other_seed_other_data():
    first = synthetic_movielens(5_000, seed=1)
    pd.testing.assert_frame_equal(first.ratings, synthetic_movielens(5_000, seed=1).ratings)
    assert not first.ratings.equals(synthetic_movielens(5_000, seed=2).ratings)


def popularity_slope(data) -> float:
    """Slope of log(count) against log(rank) over the middle ranks (the head saturates)."""
    counts = np.sort(np.bincount(data.ratings["item"], minlength=data.n_items))[::-1]
    ranks = np.arange(1, data.n_items + 1)
    middle = slice(data.n_items // 50, data.n_items // 2)
    return -np.polyfit(np.log(ranks[middle]), np.log(counts[middle] + 0.5), 1)[0]


@pytest.mark.parametrize("exponent", [0.6, 1.0])
def test_item_popularity_exponent_is_roughly_recovered(exponent):
    # Sparse enough (20 rows per user, 3,000 items) that repeats rarely have to be redrawn.
    data = synthetic_movielens(40_000, n_users=2_000, n_items=3_000, item_exponent=exponent,
                               min_per_user=5, seed=0)
    assert popularity_slope(data) == pytest.approx(exponent, abs=0.12)


def test_planted_signal_decides_what_is_kept_and_the_rating():
    def affinity(data):
        users, items = data.ratings["user"], data.ratings["item"]
        return np.einsum("ij,ij->i", data.user_factors[users], data.item_factors[items])

    planted = synthetic_movielens(20_000, signal=2.0, seed=0)
    plain = synthetic_movielens(20_000, signal=0.0, seed=0)
    assert affinity(planted).mean() > 0.4  # u·v has unit variance: kept pairs lean positive
    assert abs(affinity(plain).mean()) < 0.05
    assert np.corrcoef(affinity(planted), planted.ratings["rating"])[0, 1] > 0.7
    noisy = synthetic_movielens(20_000, noise=3.0, seed=0)
    assert np.corrcoef(affinity(noisy), noisy.ratings["rating"])[0, 1] < 0.5


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"n_interactions": 0}, "n_interactions must be an integer"),
    ({"n_interactions": 1e5}, "n_interactions must be an integer"),
    ({"n_interactions": 1000, "rank": 0}, "rank must be"),
    ({"n_interactions": 1000, "item_exponent": -1}, "item_exponent must be"),
    ({"n_interactions": 1000, "noise": float("nan")}, "noise must be"),
    ({"n_interactions": 1000, "n_users": True}, "n_users must be an integer"),
    ({"n_interactions": 1000, "n_users": 100, "min_per_user": 20}, "cannot make 1000"),
    ({"n_interactions": 10_000, "n_users": 10, "n_items": 100}, "cannot make 10000"),
])
def test_bad_parameters_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        synthetic_movielens(**kwargs)


def test_allocate_respects_bounds_and_total():
    counts = _allocate(1_000, np.arange(1, 101, dtype=float) ** -1.0, low=3, high=40)
    assert counts.sum() == 1_000 and counts.min() >= 3 and counts.max() == 40
    assert (np.diff(counts) <= 0).all()  # heavier weight, at least as many


def test_alias_sampler_matches_its_distribution():
    p = np.array([0.5, 0.25, 0.125, 0.125, 0.0])
    draws = _AliasSampler(p).draw(np.random.default_rng(0), 200_000)
    np.testing.assert_allclose(np.bincount(draws, minlength=5) / len(draws), p, atol=0.005)
