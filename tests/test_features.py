"""Item features: the genre matrix, content token sequences and bags of tokens."""

import numpy as np
import pandas as pd
import pytest

from recsys_lab.features import bag_of_tokens, content_tokens, genre_matrix


@pytest.fixture
def items():
    return pd.DataFrame({
        "item": [0, 1, 2],
        "title": ["Star Wars", "Return of the Jedi", "Star Trek: The Movie"],
        "year": pd.array([1977, 1983, pd.NA], dtype="Int64"),
        "genres": [["Action", "Sci-Fi"], ["Action", "Sci-Fi"], ["Sci-Fi"]],
    })


@pytest.fixture
def kg():
    rows = [(0, "film.film.actor", "ford"), (1, "film.film.actor", "ford"),
            (0, "film.film.actor", "hamill"), (1, "film.film.actor", "hamill"),
            (2, "film.film.actor", "shatner"), (0, "film.film.directed_by", "lucas"),
            (1, "film.film.directed_by", "lucas"), (1, "film.film.directed_by", "lucas"),
            (0, "film.film.unknown_relation", "x"), (1, "film.film.unknown_relation", "x")]
    return pd.DataFrame(rows, columns=["item", "relation", "entity"])


def test_genre_matrix_marks_each_items_genres(items):
    matrix = genre_matrix(items, ["Action", "Sci-Fi"])
    np.testing.assert_array_equal(matrix, [[1, 1], [1, 1], [0, 1]])
    with pytest.raises(ValueError, match="not among"):
        genre_matrix(items, ["Action"])


def test_content_tokens_order_vocabulary_and_padding(items, kg):
    content = content_tokens(items, kg, min_count=1, max_length=12)
    assert content.tokens.shape == (3, 12) and content.vocabulary[0] == "<pad>"
    # Field order: genres, decade and year, title words (no stop words), then KG relations
    # in KG_RELATIONS order (director before actor); duplicates and unknown relations dropped.
    assert content.decode(1) == ["genre:Action", "genre:Sci-Fi", "decade:1980s", "year:1983",
                                 "title:return", "title:jedi", "director:lucas", "actor:ford",
                                 "actor:hamill"]
    assert content.decode(2) == ["genre:Sci-Fi", "title:star", "title:trek", "title:movie",
                                 "actor:shatner"]  # no year: no year tokens
    assert (content.tokens[2, content.lengths[2]:] == 0).all()
    assert content.vocab_size == len(set(content.vocabulary))
    # A model holding the content prints a one-line summary of it; equality reads the tokens.
    assert repr(content) == (f"ItemContent(fields={content.fields!r}, n_items=3, "
                             f"max_length=12, vocab_size={content.vocab_size})")
    assert content == content_tokens(items, kg, min_count=1, max_length=12)
    assert content != content_tokens(items, kg, min_count=1, max_length=11)
    assert hash(content) == hash(content_tokens(items, kg, min_count=1, max_length=12))


def test_min_count_keeps_tokens_shared_by_items(items, kg):
    content = content_tokens(items, kg, min_count=2)
    assert content.decode(2) == ["genre:Sci-Fi", "title:star"]
    assert "actor:shatner" not in content.vocabulary and "actor:ford" in content.vocabulary


def test_fields_select_content_and_caps_apply(items, kg):
    genres_only = content_tokens(items, fields=["genre"], min_count=1)
    assert genres_only.decode(0) == ["genre:Action", "genre:Sci-Fi"]
    many = pd.DataFrame({"item": 0, "relation": "film.film.actor",
                         "entity": [f"a{j}" for j in range(40)]})
    capped = content_tokens(items, many, fields=["kg"], min_count=1)
    assert len(capped.decode(0)) == 16  # KG_RELATIONS caps actors at 16
    cut = content_tokens(items, kg, min_count=1, max_length=3)
    assert cut.decode(1) == ["genre:Action", "genre:Sci-Fi", "decade:1980s"]


def test_content_tokens_rejects_bad_input(items, kg):
    with pytest.raises(ValueError, match="fields"):
        content_tokens(items, kg, fields=["poster"])
    with pytest.raises(ValueError, match="kg"):
        content_tokens(items, None)
    with pytest.raises(ValueError, match="title"):
        content_tokens(items.drop(columns="title"), kg)
    with pytest.raises(ValueError, match="min_count"):
        content_tokens(items, kg, min_count=0)


def test_bag_of_tokens_counts_and_binary():
    tokens = np.array([[1, 2, 2, 0], [3, 0, 0, 0]])
    counts = bag_of_tokens(tokens, 4, binary=False).toarray()
    np.testing.assert_array_equal(counts, [[0, 1, 2, 0], [0, 0, 0, 1]])
    np.testing.assert_array_equal(bag_of_tokens(tokens, 4).toarray(),
                                  [[0, 1, 1, 0], [0, 0, 0, 1]])
    with pytest.raises(ValueError, match="token ids"):
        bag_of_tokens(tokens, 3)


def test_item_entities_keeps_shared_entities_only():
    from recsys_lab.features import item_entities

    kg = pd.DataFrame({"item": [0, 1, 1, 2, 2, 2],
                       "relation": ["actor", "actor", "genre", "genre", "actor", "actor"],
                       "entity": ["m.a", "m.a", "m.g", "m.g", "m.solo", "m.a"]})
    links = item_entities(kg, n_items=4)
    assert list(links.entities) == ["m.a", "m.g"]  # m.solo links one film only
    np.testing.assert_array_equal(links.matrix.toarray(),
                                  [[1, 0], [1, 1], [1, 1], [0, 0]])
    only_genres = item_entities(kg, n_items=4, relations=["genre"])
    assert list(only_genres.entities) == ["m.g"]
    with pytest.raises(ValueError, match="relations not in kg"):
        item_entities(kg, n_items=4, relations=["director"])
    with pytest.raises(ValueError, match="outside 0..1"):
        item_entities(kg, n_items=2)
    with pytest.raises(ValueError, match="missing"):
        item_entities(kg.drop(columns="entity"), n_items=4)
    with pytest.raises(ValueError, match="min_items"):
        item_entities(kg, n_items=4, min_items=0)
