"""Categorical fields of users and items (recsys_lab.fields) and the NumPy FM (scratch.fm)."""

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from recsys_lab.fields import (
    AGE_GROUPS,
    NONE,
    Field,
    Fields,
    demographic_groups,
    item_fields,
    user_fields,
)
from recsys_lab.scratch.fm import (
    cross_layer,
    field_embedding,
    fm_pairwise,
    fm_pairwise_naive,
    fm_predict,
)


@pytest.fixture
def users():
    return pd.DataFrame({"user": [2, 0, 1, 3], "age": [30, 17, np.nan, 60],
                         "gender": ["F", "M", "M", None],
                         "occupation": ["writer", "artist", "writer", "doctor"]})


@pytest.fixture
def items():
    return pd.DataFrame({"item": [0, 1, 2], "year": pd.array([1995, pd.NA, 1972], "Int64"),
                         "genres": [["Drama", "Comedy"], ["Action"], []]})


@pytest.fixture
def kg():
    return pd.DataFrame({
        "item": [0, 1, 2, 0, 1, 2, 0],
        "relation": ["film.film.directed_by"] * 3 + ["film.film.actor"] * 4,
        "entity": ["m.d1", "m.d1", "m.d2", "m.a1", "m.a1", "m.a1", "m.a2"]})


def test_user_fields_in_id_order_with_sorted_vocabularies(users):
    fields = user_fields(users)
    assert fields.names == ("age", "gender", "occupation") and fields.n_rows == 4
    occupation = fields["occupation"]
    assert occupation.vocabulary == [NONE, "artist", "doctor", "writer"]
    np.testing.assert_array_equal(occupation.values[:, 0], [1, 3, 3, 2])  # users 0, 1, 2, 3
    assert fields["age"].vocabulary == [NONE, *AGE_GROUPS]
    np.testing.assert_array_equal(fields["age"].vocabulary[1:], ["<18", "18-24", "25-34",
                                                                 "35-44", "45-55", "56+"])
    # user 0 is 17, user 1 has no age (-> none), user 2 is 30, user 3 is 60
    np.testing.assert_array_equal(fields["age"].values[:, 0], [1, 0, 3, 6])
    np.testing.assert_array_equal(fields["gender"].values[:, 0], [2, 2, 1, 0])  # None -> 0
    np.testing.assert_array_equal(fields["gender"].weights[:, 0], [1, 1, 1, 0])
    assert not occupation.multi_hot and occupation.vocab_size == 4
    again = user_fields(users.sample(frac=1, random_state=3))
    for a, b in zip(fields, again, strict=True):
        np.testing.assert_array_equal(a.values, b.values)
        assert a.vocabulary == b.vocabulary


def test_item_fields_multi_hot_genres_and_decades(items):
    fields = item_fields(items)
    genre = fields["genre"]
    assert genre.vocabulary == [NONE, "Action", "Comedy", "Drama"] and genre.multi_hot
    np.testing.assert_array_equal(genre.values, [[2, 3], [1, 0], [0, 0]])
    np.testing.assert_allclose(genre.weights, [[0.5, 0.5], [1, 0], [0, 0]])
    decade = fields["decade"]
    assert decade.vocabulary == [NONE, "1970s", "1990s"]
    np.testing.assert_array_equal(decade.values[:, 0], [2, 0, 1])  # NA year -> none


def test_knowledge_graph_fields_keep_shared_entities(items, kg):
    fields = item_fields(items, kg, names=("director", "actor"))
    assert fields["director"].vocabulary == [NONE, "m.d1"]  # m.d2 directed one film only
    np.testing.assert_array_equal(fields["director"].values[:, 0], [1, 1, 0])
    assert fields["actor"].vocabulary == [NONE, "m.a1"]
    assert item_fields(items, kg, names=("actor",), min_count=1)["actor"].vocab_size == 3
    with pytest.raises(ValueError, match="knowledge graph"):
        item_fields(items, names=("director",))


def test_design_matrix_holds_the_weights_one_block_per_field(items):
    fields = item_fields(items)
    design = fields.design_matrix()
    assert sp.issparse(design) and design.shape == (3, 4 + 3)
    expected = np.array([[0, 0, .5, .5, 0, 0, 1],
                         [0, 1, 0, 0, 0, 0, 0],
                         [0, 0, 0, 0, 0, 1, 0]])
    np.testing.assert_allclose(design.toarray(), expected)
    assert fields.column_names()[:2] == ["genre=<none>", "genre=Action"]
    assert fields.column_names()[4:] == ["decade=<none>", "decade=1970s", "decade=1990s"]
    assert not design[:, [0, 4]].toarray().any()  # the "none" columns stay empty


def test_unknown_values_map_to_none_with_a_reused_vocabulary(users):
    fields = user_fields(users)
    newcomers = pd.DataFrame({"user": [0, 1], "age": [40, 20], "gender": ["F", "X"],
                              "occupation": ["pilot", "writer"]})
    encoded = user_fields(newcomers, like=fields)
    assert encoded["occupation"].vocabulary == fields["occupation"].vocabulary
    np.testing.assert_array_equal(encoded["occupation"].values[:, 0], [0, 3])
    np.testing.assert_array_equal(encoded["gender"].values[:, 0], [1, 0])
    assert encoded["occupation"].weights[0, 0] == 0


def test_bad_input_is_refused_with_a_message(users, items):
    with pytest.raises(ValueError, match=r"missing column\(s\) \['occupation'\]"):
        user_fields(users.drop(columns="occupation"))
    with pytest.raises(ValueError, match=r"missing column\(s\) \['year'\]"):
        item_fields(items.drop(columns="year"))
    with pytest.raises(ValueError, match="every user id 0..n-1"):
        user_fields(users.assign(user=[0, 1, 2, 5]))
    with pytest.raises(ValueError, match="field names"):
        user_fields(users, names=("age", "height"))
    with pytest.raises(ValueError, match="unknown field"):
        user_fields(users).select("height")
    assert user_fields(users).select("occupation", "age").names == ("occupation", "age")
    with pytest.raises(ValueError, match="same number of rows"):
        Fields((user_fields(users)["age"], item_fields(items)["genre"]))
    with pytest.raises(ValueError, match="0 where values is 0"):
        Field("bad", np.array([[0]]), np.array([[1.0]]), [NONE])
    with pytest.raises(ValueError, match="vocabulary"):
        Field("bad", np.array([[2]]), np.array([[1.0]]), [NONE, "a"])


def test_fields_print_as_a_summary_and_compare_by_content(users, items):
    # A model that holds fields prints them in its repr: one line, not every row's values.
    fields = item_fields(pd.concat([items] * 400, ignore_index=True).assign(item=range(1200)))
    assert repr(fields["genre"]) == "Field(name='genre', n_rows=1200, width=2, vocab_size=4)"
    assert repr(fields) == "Fields(names=('genre', 'decade'), n_rows=1200)"
    assert fields["genre"].width == 2 and fields["decade"].width == 1
    # Equal when every attribute and array is; arrays alone would make == ambiguous.
    assert user_fields(users) == user_fields(users)
    assert {user_fields(users)["age"], user_fields(users)["age"]} == {user_fields(users)["age"]}
    moved = users.assign(age=[30, 17, np.nan, 20])  # another age group for user 3
    assert user_fields(users) != user_fields(moved)
    assert user_fields(users)["age"] != user_fields(users)["gender"]
    assert user_fields(users)["age"] != "age"


def test_demographic_groups(users):
    groups, names = demographic_groups(users)
    assert groups.shape == (4,) and len(names) == len(set(groups))
    assert [names[g] for g in groups] == ["<18 M", "<none> M", "25-34 F", "56+ <none>"]


# --------------------------------------------------------------------------------------------
# scratch.fm
# --------------------------------------------------------------------------------------------


def test_fm_identity_equals_the_double_sum_dense_and_sparse():
    rng = np.random.default_rng(0)
    X = rng.random((6, 9)) * (rng.random((6, 9)) < 0.5)
    V = rng.standard_normal((9, 4))
    naive = fm_pairwise_naive(X, V)
    np.testing.assert_allclose(fm_pairwise(X, V), naive)
    np.testing.assert_allclose(fm_pairwise(sp.csr_matrix(X), V), naive)
    np.testing.assert_allclose(fm_pairwise_naive(sp.csr_matrix(X), V), naive)
    # one row by hand: x = (1, 2, 0), pairs (0, 1) only
    V3 = np.array([[1.0, 2.0], [3.0, -1.0], [5.0, 5.0]])
    assert fm_pairwise_naive(np.array([[1.0, 2.0, 0.0]]), V3)[0] == pytest.approx(2 * 1.0)
    w = rng.standard_normal(9)
    np.testing.assert_allclose(fm_predict(X, 0.5, w, V), 0.5 + X @ w + naive)


def test_cross_layer_by_hand():
    x0 = np.array([[1.0, 2.0]])
    x = np.array([[3.0, -1.0]])
    W = np.array([[1.0, 0.0], [2.0, 1.0]])  # x W = (3 - 2, -1) = (1, -1)
    b = np.array([0.5, 0.0])
    np.testing.assert_allclose(cross_layer(x0, x, W, b), [[1 * 1.5 + 3, 2 * -1 - 1]])


def test_field_embedding_is_the_weighted_sum_of_rows():
    table = np.arange(12, dtype=float).reshape(4, 3)
    values = np.array([[1, 3], [2, 0]])
    weights = np.array([[0.5, 0.5], [1.0, 0.0]])
    np.testing.assert_allclose(field_embedding(values, weights, table),
                               [(table[1] + table[3]) / 2, table[2]])


def test_history_field_holds_each_users_first_films_in_time_order():
    from recsys_lab.fields import history_field

    frame = pd.DataFrame({"user": [0, 0, 0, 2, 0], "item": [4, 1, 3, 2, 0],
                          "timestamp": [30, 10, 20, 5, 10]})
    field = history_field(frame, n_users=3, n_items=5, width=2)
    assert field.name == "history" and field.vocabulary[0] == "<none>"
    # user 0: items 1 and 0 tie at t=10 (input order kept), then 3, then 4: the first two
    np.testing.assert_array_equal(field.values, [[2, 1], [0, 0], [3, 0]])
    np.testing.assert_allclose(field.weights, [[0.5, 0.5], [0, 0], [1, 0]])
    with pytest.raises(ValueError, match="timestamp"):
        history_field(frame.drop(columns="timestamp"), 3, 5)
    with pytest.raises(ValueError, match="width"):
        history_field(frame, 3, 5, width=0)
    with pytest.raises(ValueError, match="outside"):
        history_field(frame, 2, 5)
