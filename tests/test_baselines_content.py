"""GenreYearPopularity and ContentKNN, the content baselines of the COLD protocol: hand cases,
their limits, and their checks."""

import numpy as np
import pandas as pd
import pytest

from recsys_lab.baselines import ContentKNN, GenrePopularity, GenreYearPopularity
from recsys_lab.features import bag_of_tokens

# Items 0–3 are warm (popularity 3, 1, 2, 1), item 4 is cold; two genres.
TRAIN = pd.DataFrame({"user": [0, 1, 2, 0, 0, 1, 2], "item": [0, 0, 0, 1, 2, 2, 3]})
GENRES = np.array([[1, 0], [1, 0], [0, 1], [1, 1], [1, 0]], dtype=float)
YEARS = np.array([1997, 1990, 1997, 1997, 1997], dtype=float)


def test_genre_year_popularity_by_hand():
    model = GenreYearPopularity(GENRES, YEARS, shrinkage=1.0).fit(TRAIN, 3, 5)
    # Genre 0: warm items 0, 1, 3 with popularity 3, 1, 1 → all-year mean 5/3; in 1997
    # items 0 and 3 → (3 + 1 + 1 · 5/3) / (2 + 1). Genre 1: items 2, 3 → mean 1.5; in 1997
    # both → (2 + 1 + 1.5) / 3. In 1990 genre 0 has item 1: (1 + 5/3) / 2.
    g0_1997, g1_1997, g0_1990 = (4 + 5 / 3) / 3, 4.5 / 3, (1 + 5 / 3) / 2
    np.testing.assert_allclose(model.item_scores_,
                               [g0_1997, g0_1990, g1_1997, (g0_1997 + g1_1997) / 2, g0_1997])
    np.testing.assert_allclose(model.score_items([2]), [model.item_scores_])


def test_huge_shrinkage_is_popularity_by_genre_and_an_unknown_year_falls_back_to_it():
    genre = GenrePopularity(GENRES).fit(TRAIN, 3, 5).item_scores_
    shrunk = GenreYearPopularity(GENRES, YEARS, shrinkage=1e12).fit(TRAIN, 3, 5)
    np.testing.assert_allclose(shrunk.item_scores_, genre)
    undated = GenreYearPopularity(GENRES, np.full(5, np.nan)).fit(TRAIN, 3, 5)
    np.testing.assert_allclose(undated.item_scores_, genre)


def test_the_year_separates_items_of_the_same_genres():
    # Two genres, recent films popular, old ones not: only the year can tell the cold ones apart.
    rng = np.random.default_rng(0)
    n_items, n_users = 40, 30
    years = np.where(np.arange(n_items) % 2 == 0, 1997.0, 1960.0)
    genres = np.eye(2)[np.arange(n_items) % 4 // 2]
    rows = [(u, i) for i in range(30) for u in range(n_users)
            if rng.random() < (0.6 if years[i] == 1997 else 0.05)]
    train = pd.DataFrame(rows, columns=["user", "item"])
    scores = GenreYearPopularity(genres, years).fit(train, n_users, n_items).item_scores_
    cold = np.arange(30, n_items)
    assert (scores[cold][years[cold] == 1997].min() > scores[cold][years[cold] == 1960].max())
    flat = GenrePopularity(genres).fit(train, n_users, n_items).item_scores_
    assert flat[cold].std() < scores[cold].std()


@pytest.mark.parametrize("kwargs, message", [
    ({"item_genres": GENRES[:4]}, r"item_genres must have shape \(n_items=5, n_genres\)"),
    ({"item_years": YEARS[:4]}, r"item_years must have shape \(n_items=5,\), got \(4,\)"),
    ({"item_years": np.r_[YEARS[:4], np.inf]}, "finite years or NaN"),
    ({"shrinkage": -1.0}, "GenreYearPopularity: shrinkage must be a number ≥ 0"),
])
def test_genre_year_popularity_rejects_bad_input(kwargs, message):
    settings = {"item_genres": GENRES, "item_years": YEARS} | kwargs
    with pytest.raises(ValueError, match=message):
        GenreYearPopularity(**settings).fit(TRAIN, 3, 5)


def test_content_knn_by_hand():
    # Item contents: 0 = {a}, 1 = {a, b}, 2 = {c}; user 0 has item 0, user 1 items 0 and 2.
    content = np.array([[1, 0, 0], [1, 1, 0], [0, 0, 1]], dtype=float)
    train = pd.DataFrame({"user": [0, 1, 1], "item": [0, 0, 2]})
    model = ContentKNN(content, shrinkage=0.0, idf=False).fit(train, 2, 3)
    cos01 = 1 / np.sqrt(2)
    np.testing.assert_allclose(model.similarity_, [[1, cos01, 0], [cos01, 1, 0], [0, 0, 1]])
    # user 0: similarity to item 0; user 1: mean similarity to items 0 and 2.
    np.testing.assert_allclose(model.score_items([0, 1]),
                               [[1, cos01, 0], [0.5, cos01 / 2, 0.5]])


def test_idf_and_shrinkage_change_the_similarity_as_documented():
    content = np.array([[1, 1, 0], [1, 0, 1], [1, 0, 1]], dtype=float)
    train = pd.DataFrame({"user": [0], "item": [0]})
    # Token 0 is carried by every item: idf log(3/3) = 0 removes it.
    idf = ContentKNN(content, shrinkage=0.0, idf=True).fit(train, 1, 3)
    assert idf.similarity_[0, 1] == 0 and idf.similarity_[1, 2] == pytest.approx(1.0)
    plain = ContentKNN(content, shrinkage=2.0, idf=False).fit(train, 1, 3)
    assert plain.similarity_[0, 1] == pytest.approx(1 / (2 + 2))  # a·b / (‖a‖‖b‖ + 2)


def test_content_knn_ranks_the_cold_item_that_shares_the_users_content_first():
    rng = np.random.default_rng(1)
    n_items, n_tokens = 30, 12
    tokens = np.zeros((n_items, 3), dtype=int)
    tokens[:, 0] = 1 + np.arange(n_items) % 2 * 6  # each item's "genre": token 1 or 7
    tokens[:, 1:] = tokens[:, :1] + rng.integers(1, 6, (n_items, 2))
    # user 0 likes the genre-1 warm items, user 1 the genre-7 ones; items 20–29 are cold
    train = pd.DataFrame([(i % 2, i) for i in range(20)], columns=["user", "item"])
    model = ContentKNN(bag_of_tokens(tokens, n_tokens + 1)).fit(train, 2, n_items)
    scores = model.score_items([0, 1])[:, 20:]
    genre = tokens[20:, 0]
    assert scores[0, genre == 1].min() > scores[0, genre == 7].max()
    assert scores[1, genre == 7].min() > scores[1, genre == 1].max()


def test_content_knn_accepts_item_content_and_checks_its_input():
    from recsys_lab.features import ItemContent

    content = ItemContent(tokens=np.array([[1, 2], [2, 0], [3, 0]]),
                          vocabulary=["<pad>", "a", "b", "c"], fields=("genre",))
    train = pd.DataFrame({"user": [0], "item": [0]})
    model = ContentKNN(content, shrinkage=0.0, idf=False).fit(train, 1, 3)
    assert model.similarity_[0, 1] == pytest.approx(1 / np.sqrt(2))
    assert model.similarity_[0, 2] == 0
    with pytest.raises(ValueError, match=r"item_content must have shape \(n_items=3"):
        ContentKNN(np.ones((2, 4))).fit(train, 1, 3)
    with pytest.raises(ValueError, match="finite, non-negative"):
        ContentKNN(-np.ones((3, 4))).fit(train, 1, 3)
    with pytest.raises(ValueError, match="ContentKNN: shrinkage must be a number ≥ 0"):
        ContentKNN(np.ones((3, 4)), shrinkage=-1).fit(train, 1, 3)
