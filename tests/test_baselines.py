"""Baselines on small data with a planted answer, and the shared interface's error messages."""

import numpy as np
import pandas as pd
import pytest

from recsys_lab.baselines import EASE, Biases, GlobalMean, ItemKNN, MostPopular


def two_communities(n_users=40, n_items=20, seed=0):
    """Users of community c interact with items of community c (the first or second half)."""
    rng = np.random.default_rng(seed)
    rows = []
    for user in range(n_users):
        community = user % 2
        items = rng.choice(n_items // 2, size=6, replace=False) + community * n_items // 2
        rows += [(user, int(item), 4.0) for item in items]
    return pd.DataFrame(rows, columns=["user", "item", "rating"])


def test_global_mean_predicts_the_mean():
    train = pd.DataFrame({"user": [0, 1], "item": [0, 1], "rating": [1.0, 4.0]})
    model = GlobalMean().fit(train, 2, 2)
    np.testing.assert_allclose(model.predict([0, 1], [1, 0]), [2.5, 2.5])


def test_biases_recover_planted_biases():
    rng = np.random.default_rng(0)
    user_bias, item_bias = rng.normal(0, 0.5, 50), rng.normal(0, 0.8, 40)
    users, items = np.meshgrid(np.arange(50), np.arange(40), indexing="ij")
    ratings = 3.5 + user_bias[users] + item_bias[items]
    train = pd.DataFrame({"user": users.ravel(), "item": items.ravel(),
                          "rating": ratings.ravel()})
    model = Biases(l2_item=0.0, l2_user=0.0, epochs=20).fit(train, 50, 40)
    np.testing.assert_allclose(model.predict(train["user"], train["item"]), train["rating"],
                               atol=1e-6)


def test_biases_shrink_rare_items_towards_zero():
    train = pd.DataFrame({"user": [0, 1, 2], "item": [0, 0, 1], "rating": [5.0, 5.0, 1.0]})
    loose = Biases(l2_item=0.0, l2_user=0.0).fit(train, 3, 2)
    strict = Biases(l2_item=100.0, l2_user=0.0).fit(train, 3, 2)
    assert abs(strict.item_bias_[1]) < abs(loose.item_bias_[1])


def test_most_popular_ranks_by_count():
    train = pd.DataFrame({"user": [0, 1, 2, 0], "item": [2, 2, 2, 1]})
    scores = MostPopular().fit(train, 3, 3).score_items([0, 1])
    assert scores.shape == (2, 3)
    np.testing.assert_array_equal(np.argsort(-scores[0]), [2, 1, 0])


@pytest.mark.parametrize("model", [ItemKNN(n_neighbors=5), EASE(l2=10.0)])
def test_item_models_recommend_within_the_community(model):
    train = two_communities()
    model.fit(train, 40, 20)
    scores = model.score_items(np.arange(40))
    scores[train["user"], train["item"]] = -np.inf
    best = scores.argmax(axis=1)
    np.testing.assert_array_equal(best // 10, np.arange(40) % 2)


def test_ease_matches_the_constrained_least_squares_solution():
    train = two_communities(seed=1)
    model = EASE(l2=3.0).fit(train, 40, 20)
    X = model.history_.toarray()
    for j in (0, 7, 15):
        others = np.delete(np.arange(20), j)
        Xo = X[:, others]
        column = np.linalg.solve(Xo.T @ Xo + 3.0 * np.eye(19), Xo.T @ X[:, j])
        np.testing.assert_allclose(model.weights_[others, j], column, atol=1e-8)
        assert model.weights_[j, j] == 0.0


def test_bad_input_names_the_problem():
    train = pd.DataFrame({"user": [0, 1], "item": [0, 1], "rating": [3.0, 4.0]})
    with pytest.raises(ValueError, match="missing column"):
        Biases().fit(train.drop(columns="rating"), 2, 2)
    with pytest.raises(ValueError, match="NaN"):
        Biases().fit(train.assign(rating=[np.nan, 1.0]), 2, 2)
    with pytest.raises(ValueError, match="empty"):
        EASE().fit(train.iloc[:0], 2, 2)
    with pytest.raises(ValueError, match="unknown id 1"):
        EASE().fit(train, 1, 2)
    with pytest.raises(ValueError, match="not fitted"):
        EASE().score_items([0])
    model = Biases().fit(train, 2, 2)
    with pytest.raises(ValueError, match="unknown user id 5"):
        model.predict([5], [0])
    with pytest.raises(ValueError, match="unknown item id 9"):
        model.predict([0], [9])
    with pytest.raises(ValueError, match="does not predict ratings"):
        MostPopular().fit(train, 2, 2).predict([0], [0])
    with pytest.raises(ValueError, match="n_items must be a positive integer"):
        EASE().fit(train, 2, 0)


def test_genre_popularity_scores_unseen_items_from_their_genres():
    from recsys_lab.baselines import GenrePopularity
    from recsys_lab.features import genre_matrix

    items = pd.DataFrame({"item": [0, 1, 2, 3], "genres": [["A"], ["B"], ["A"], ["B"]]})
    train = pd.DataFrame({"user": [0, 1, 2, 0], "item": [0, 0, 0, 1]})
    model = GenrePopularity(genre_matrix(items)).fit(train, 3, 4)
    scores = model.score_items([0])[0]
    assert scores[2] > scores[3] > 0  # items 2 and 3 were never seen; genre A is popular
    with pytest.raises(ValueError, match="item_genres must have shape"):
        GenrePopularity(np.ones((2, 2))).fit(train, 3, 4)


def test_biases_without_shrinkage_give_unrated_items_no_bias():
    from recsys_lab.baselines import Biases

    train = pd.DataFrame({"user": [0, 0, 1], "item": [0, 1, 1], "rating": [5.0, 3.0, 4.0]})
    model = Biases(l2_item=0.0, l2_user=0.0).fit(train, 3, 3)  # item 2, user 2: no ratings
    assert model.item_bias_[2] == 0.0 and model.user_bias_[2] == 0.0
    assert np.isfinite(model.predict([2, 0], [2, 2])).all()
