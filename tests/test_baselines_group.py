"""GroupPopularity, the cold-user baseline: a hand case, its limits, and its checks."""

import numpy as np
import pandas as pd
import pytest

from recsys_lab.baselines import GroupPopularity, MostPopular

# Users 0 and 1 form group 0, users 2 and 3 group 1; user 4 (group 0) has no training rows.
GROUPS = np.array([0, 0, 1, 1, 0])
TRAIN = pd.DataFrame({"user": [0, 0, 1, 2, 2, 3], "item": [0, 1, 1, 2, 0, 2]})


def test_group_popularity_by_hand():
    model = GroupPopularity(GROUPS, shrinkage=2.0).fit(TRAIN, 5, 3)
    # p(i) = (2, 2, 2) / 4 users; group 0: counts (1, 2, 0) of 2 users, so
    # (c + 2 · 0.5) / (2 + 2); group 1: counts (1, 0, 2) of 2 users.
    np.testing.assert_allclose(model.group_scores_, [[0.5, 0.75, 0.25], [0.5, 0.25, 0.75]])
    # Every user gets the list of their group, whether or not they have training rows.
    np.testing.assert_allclose(model.score_items([4, 3, 0]),
                               model.group_scores_[[0, 1, 0]])


def test_without_shrinkage_a_group_follows_its_own_counts_and_an_empty_group_the_crowd():
    groups = np.array([0, 0, 1, 1, 2])  # nobody of group 2 has training rows
    model = GroupPopularity(groups, shrinkage=0.0).fit(TRAIN, 5, 3)
    np.testing.assert_allclose(model.group_scores_[:2], [[0.5, 1.0, 0.0], [0.5, 0.0, 1.0]])
    np.testing.assert_allclose(model.score_items([4]), [[0.5, 0.5, 0.5]])


def test_large_shrinkage_tends_to_the_global_share_most_popular_ranks_by():
    rng = np.random.default_rng(0)
    train = pd.DataFrame({"user": rng.integers(0, 50, 400), "item": rng.integers(0, 30, 400)})
    train = train.drop_duplicates(["user", "item"])
    groups = rng.integers(0, 4, 50)
    popular = MostPopular().fit(train, 50, 30).score_items([0])[0]
    shrunk = GroupPopularity(groups, shrinkage=1e9).fit(train, 50, 30).score_items([0])[0]
    np.testing.assert_allclose(shrunk, popular / train["user"].nunique(), atol=1e-7)
    own = GroupPopularity(groups, shrinkage=0.0).fit(train, 50, 30).score_items([0])[0]
    assert not np.array_equal(np.argsort(-own, kind="stable"),
                              np.argsort(-popular, kind="stable"))


@pytest.mark.parametrize("groups, message", [
    (np.zeros(4, dtype=int), r"user_groups must have shape \(n_users=5,\), got \(4,\)"),
    (np.zeros((5, 1), dtype=int), r"must have shape \(n_users=5,\)"),
    (np.array([0, 1, 0.5, 1, 0]), "integer group ids"),
    (np.array(["a", "b", "a", "b", "a"]), "integer group ids"),
    (np.array([0, 1, -1, 1, 0]), "negative group id -1"),
])
def test_bad_user_groups_are_rejected_at_fit(groups, message):
    with pytest.raises(ValueError, match=message):
        GroupPopularity(groups).fit(TRAIN, 5, 3)


def test_shrinkage_must_be_non_negative():
    with pytest.raises(ValueError, match="GroupPopularity: shrinkage must be a number ≥ 0"):
        GroupPopularity(GROUPS, shrinkage=-1.0).fit(TRAIN, 5, 3)
