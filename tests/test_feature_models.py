"""Feature-rich models (recsys_lab.models.features) on small planted problems."""

import random

import numpy as np
import pandas as pd
import pytest

from recsys_lab.fields import Field, Fields, item_fields, user_fields
from recsys_lab.scratch.fm import fm_predict

pytest.importorskip("keras")

from recsys_lab.models.features import (  # noqa: E402
    DCNv2,
    DeepFM,
    FactorizationMachine,
    MultiTask,
    WideAndDeep,
)

N_USERS, N_ITEMS = 60, 40


def _single(name, labels, vocabulary):
    values = np.array([vocabulary.index(label) for label in labels])[:, None]
    return Field(name, values, np.ones(values.shape), ["<none>", *vocabulary[1:]])


@pytest.fixture(scope="module")
def planted():
    """Ratings that depend only on an interaction of a user field and an item field.

    Users are in group A or B (sign s = ±1), items have genre g or h (t = ±1);
    rating = 3 + 1.5 s t + noise. Every group and genre has mean 3: a model with no
    interaction between fields can learn nothing. A distractor field on each side is noise.
    """
    rng = np.random.default_rng(0)
    group = np.arange(N_USERS) % 2  # 0: A, 1: B
    genre = np.arange(N_ITEMS) % 2  # 0: g, 1: h
    users = Fields((_single("group", ["A", "B"] * (N_USERS // 2), ["<none>", "A", "B"]),
                    _single("colour", list(rng.choice(["red", "blue", "green"], N_USERS)),
                            ["<none>", "blue", "green", "red"])))
    items = Fields((_single("genre", ["g", "h"] * (N_ITEMS // 2), ["<none>", "g", "h"]),
                    _single("decade", list(rng.choice(["70s", "80s"], N_ITEMS)),
                            ["<none>", "70s", "80s"])))
    pairs = np.argwhere(rng.random((N_USERS, N_ITEMS)) < 0.6)
    sign = (1 - 2 * group[pairs[:, 0]]) * (1 - 2 * genre[pairs[:, 1]])
    ratings = 3 + 1.5 * sign + rng.normal(0, 0.3, len(pairs))
    frame = pd.DataFrame({"user": pairs[:, 0], "item": pairs[:, 1], "rating": ratings})
    test = frame.sample(frac=0.2, random_state=0)
    return users, items, frame.drop(test.index), test


def _rmse(model, test):
    predicted = model.predict(test["user"].to_numpy(), test["item"].to_numpy())
    return float(np.sqrt(np.mean((predicted - test["rating"].to_numpy()) ** 2)))


def _ridge_rmse(users, items, train, test):
    """A linear model of the same fields: ridge regression on the FM's design matrix."""
    def design(frame):
        return np.hstack([np.ones((len(frame), 1)),
                          users.design_matrix()[frame["user"]].toarray(),
                          items.design_matrix()[frame["item"]].toarray()])

    x = design(train)
    w = np.linalg.solve(x.T @ x + 0.1 * np.eye(x.shape[1]), x.T @ train["rating"].to_numpy())
    return float(np.sqrt(np.mean((design(test) @ w - test["rating"].to_numpy()) ** 2)))


FAST = {"embedding_dim": 4, "epochs": 30, "batch_size": 128, "learning_rate": 0.03,
        "l2": 1e-4, "use_ids": False}


@pytest.mark.parametrize("cls", [FactorizationMachine, DCNv2], ids=lambda c: c.__name__)
def test_a_planted_interaction_is_recovered_where_a_linear_model_fails(cls, planted):
    users, items, train, test = planted
    extra = {"hidden_units": (8,), "n_cross_layers": 1} if cls is DCNv2 else {}
    model = cls(user_fields=users, item_fields=items, **FAST, **extra)
    model.fit(train, N_USERS, N_ITEMS)
    linear = _ridge_rmse(users, items, train, test)
    assert linear > 1.4  # the interaction is ±1.5: without it, nothing is explained
    assert _rmse(model, test) < 0.5


def test_the_fm_equals_the_numpy_fm_over_the_design_matrix(planted):
    users, items, train, test = planted
    multi = Field("tags", np.array([[1, 2], [2, 0]] * (N_ITEMS // 2)),
                  np.array([[0.5, 0.5], [1.0, 0.0]] * (N_ITEMS // 2)), ["<none>", "x", "y"])
    items = Fields((*items, multi))
    model = FactorizationMachine(user_fields=users, item_fields=items, embedding_dim=3,
                                 epochs=1).fit(train.iloc[5:], N_USERS, N_ITEMS)
    rng = np.random.default_rng(1)
    model.network_.set_weights([rng.normal(0, 0.5, w.shape).astype("float32")
                                for w in model.network_.get_weights()])
    u, i = test["user"].to_numpy(), test["item"].to_numpy()
    design = model.design_matrix(u, i)
    assert design.shape[1] == len(model.column_names())
    assert model.column_names()[-1] == f"item.id={N_ITEMS - 1}"
    expected = fm_predict(design, *model.fm_parameters())
    np.testing.assert_allclose(model.predict(u, i) - model.global_mean_, expected, atol=1e-5)
    w0, w, V = model.fm_parameters()
    assert w.shape == (design.shape[1],) and V.shape == (design.shape[1], 3)
    assert model.field_embeddings("item", "tags").shape == (3, 3)
    weights = model.interaction_weights()
    assert list(weights.index) == ["user.group", "user.colour", "item.genre", "item.decade",
                                   "item.tags", "user.id", "item.id"]
    np.testing.assert_allclose(weights.to_numpy(), weights.to_numpy().T)


def test_an_unseen_user_is_scored_from_their_fields(planted):
    users, items, train, test = planted
    absent = [0, 1, 2]  # groups A, B, A
    fields = Fields((users["group"],))
    train = train[~train["user"].isin(absent)]
    for model in (FactorizationMachine(user_fields=fields, item_fields=items, **FAST
                                       | {"use_ids": True}),
                  DeepFM(user_fields=fields, item_fields=items, hidden_units=(8,), **FAST),
                  WideAndDeep(user_fields=fields, item_fields=items, task="implicit",
                              hidden_units=(8,), **FAST)):
        model.fit(train, N_USERS, N_ITEMS)
        scores = model.score_items(absent)
        assert np.isfinite(scores).all()
        np.testing.assert_allclose(scores[0], scores[2], rtol=1e-6)  # same fields, same scores
        assert not np.allclose(scores[0], scores[1])  # different group, different scores
    # the planted rule carries over to users the model has never seen
    model = FactorizationMachine(user_fields=fields, item_fields=items, **FAST)
    predicted = model.fit(train, N_USERS, N_ITEMS).score_items([0])[0]
    assert predicted[0::2].mean() > 4 and predicted[1::2].mean() < 2  # A likes g, not h


def test_implicit_task_ranks_the_planted_preference_first():
    rng = np.random.default_rng(2)
    group = np.arange(N_USERS) % 2
    pairs = [(u, i) for u in range(N_USERS) for i in range(N_ITEMS)
             if i % 2 == group[u] and rng.random() < 0.5]
    frame = pd.DataFrame(pairs, columns=["user", "item"])
    users = Fields((_single("group", ["A", "B"] * (N_USERS // 2), ["<none>", "A", "B"]),))
    items = Fields((_single("genre", ["g", "h"] * (N_ITEMS // 2), ["<none>", "g", "h"]),))
    model = FactorizationMachine(user_fields=users, item_fields=items, task="implicit",
                                 **FAST | {"epochs": 10}).fit(frame, N_USERS, N_ITEMS)
    scores = model.score_items(np.arange(N_USERS))
    liked = np.arange(N_ITEMS)[None, :] % 2 == group[:, None]
    assert scores[liked].min() > scores[~liked].max()
    with pytest.raises(ValueError, match="does not predict ratings"):
        model.predict([0], [0])


@pytest.mark.parametrize("architecture", ["shared_bottom", "mmoe"])
def test_multitask_learns_both_heads(planted, architecture):
    users, items, train, test = planted
    model = MultiTask(user_fields=users, item_fields=items, architecture=architecture,
                      n_experts=2, expert_units=(8,), hidden_units=(4,), **FAST)
    model.fit(train, N_USERS, N_ITEMS)
    assert list(model.curves_.columns) == ["loss", "rating_loss", "watched_loss"]
    assert model.curves_["rating_loss"].iloc[-1] < model.curves_["rating_loss"].iloc[0]
    assert _rmse(model, test) < 0.6
    watched = model.score_items([0, 1])
    assert watched.shape == (2, N_ITEMS) and np.isfinite(watched).all()


def test_bad_fields_and_parameters_are_refused(planted):
    users, items, train, _ = planted
    with pytest.raises(ValueError, match="user_fields has 60 rows but n_users is 61"):
        FactorizationMachine(user_fields=users).fit(train, N_USERS + 1, N_ITEMS)
    with pytest.raises(ValueError, match="must be a recsys_lab.fields.Fields"):
        FactorizationMachine(item_fields=np.eye(N_ITEMS)).fit(train, N_USERS, N_ITEMS)
    with pytest.raises(ValueError, match="the user side has no field"):
        FactorizationMachine(item_fields=items, use_ids=False).fit(train, N_USERS, N_ITEMS)
    with pytest.raises(ValueError, match="task must be one of"):
        DeepFM(task="ranking").fit(train, N_USERS, N_ITEMS)
    with pytest.raises(ValueError, match="architecture must be one of"):
        MultiTask(architecture="towers").fit(train, N_USERS, N_ITEMS)
    with pytest.raises(ValueError, match="n_cross_layers must be an integer ≥ 0"):
        DCNv2(n_cross_layers=-1).fit(train, N_USERS, N_ITEMS)
    with pytest.raises(ValueError, match=r"missing column\(s\) \['rating'\]"):
        FactorizationMachine().fit(train.drop(columns="rating"), N_USERS, N_ITEMS)
    FactorizationMachine(task="implicit", epochs=1).fit(train.drop(columns="rating"),
                                                       N_USERS, N_ITEMS)
    model = FactorizationMachine(epochs=1).fit(train, N_USERS, N_ITEMS)
    with pytest.raises(ValueError, match="no user field 'age'"):
        model.field_embeddings("user", "age")
    with pytest.raises(ValueError, match="side must be"):
        model.field_embeddings("film", "id")


def test_a_fit_is_reproducible_and_leaves_the_callers_random_state_alone(planted):
    users, items, train, _ = planted
    np.random.seed(7)
    random.seed(7)
    before = np.random.random(), random.random()
    np.random.seed(7)
    random.seed(7)
    first = DeepFM(user_fields=users, item_fields=items, hidden_units=(4,), epochs=2,
                   task="implicit").fit(train, N_USERS, N_ITEMS)
    assert (np.random.random(), random.random()) == before
    again = DeepFM(user_fields=users, item_fields=items, hidden_units=(4,), epochs=2,
                   task="implicit").fit(train, N_USERS, N_ITEMS)
    np.testing.assert_array_equal(first.score_items(np.arange(N_USERS)),
                                  again.score_items(np.arange(N_USERS)))


def test_movielens_style_fields_plug_in():
    users = pd.DataFrame({"user": range(4), "age": [20, 30, 40, 50],
                          "gender": ["F", "M", "F", "M"], "occupation": ["a", "b", "a", "b"]})
    items = pd.DataFrame({"item": range(3), "year": pd.array([1990, None, 1970], "Int64"),
                          "genres": [["Drama"], ["Comedy", "Drama"], []]})
    train = pd.DataFrame({"user": [0, 1, 2, 3, 0], "item": [0, 1, 2, 0, 2],
                          "rating": [5.0, 3.0, 4.0, 2.0, 1.0]})
    model = WideAndDeep(user_fields=user_fields(users), item_fields=item_fields(items),
                        hidden_units=(4,), epochs=2).fit(train, 4, 3)
    assert model.predict([0, 3], [1, 2]).shape == (2,)
    assert model.user_fields_.names == ("age", "gender", "occupation", "id")
    assert repr(model).startswith(
        "WideAndDeep(user_fields=Fields(names=('age', 'gender', 'occupation'), n_rows=4), "
        "item_fields=Fields(names=('genre', 'decade'), n_rows=3), ")


def test_click_task_predicts_probabilities_that_separate_the_planted_clicks(planted):
    from recsys_lab.metrics import auc, log_loss

    users, items, train, test = planted
    model = FactorizationMachine(user_fields=users, item_fields=items, task="click", **FAST)
    probabilities = model.fit(train, N_USERS, N_ITEMS).predict(test["user"], test["item"])
    clicks = (test["rating"].to_numpy() >= 4).astype(int)
    assert ((probabilities >= 0) & (probabilities <= 1)).all()
    assert auc(clicks, probabilities) > 0.95
    # better than the constant guess of the click rate
    base_rate = np.full(len(clicks), (train["rating"] >= 4).mean())
    assert log_loss(clicks, probabilities) < 0.5 * log_loss(clicks, base_rate)
    with pytest.raises(ValueError, match="rating"):
        model.fit(train.drop(columns="rating"), N_USERS, N_ITEMS)


def _timed(frame):
    return frame.assign(timestamp=np.arange(len(frame)))


def test_a_history_field_describes_a_user_without_an_id_and_can_be_updated(planted):
    from recsys_lab.fields import history_field

    users, items, train, _ = planted
    train = _timed(train)
    model = FactorizationMachine(user_fields=Fields((users["colour"],)), item_fields=items,
                                 user_history=3, min_user_rows=5, **FAST | {"use_ids": True})
    newcomer = 0
    few = train[train["user"] == newcomer].head(2)  # fewer rows than min_user_rows
    fit_data = pd.concat([train[train["user"] != newcomer], few])
    model.fit(fit_data, N_USERS, N_ITEMS)
    assert model.user_fields_.names == ("colour", "history", "id")
    assert model.user_fields_["id"].values[newcomer, 0] == 0  # no id vector of her own
    np.testing.assert_array_equal(model.user_fields_["history"].values[newcomer],
                                  [*(few["item"].to_numpy() + 1), 0])
    before = model.score_items([newcomer])
    # her profile changes after fitting: an empty history, the tables untouched
    empty = history_field(fit_data[fit_data["user"] != newcomer], N_USERS, N_ITEMS, width=3)
    assert model.update_fields(Fields((empty,))) is model
    assert not (model.user_fields_["history"].values[newcomer] > 0).any()
    assert not np.allclose(model.score_items([newcomer]), before)
    # update_history builds the field at the fitted width: the fit's own history again
    assert model.update_history(fit_data) is model
    np.testing.assert_array_equal(model.user_fields_["history"].values[newcomer],
                                  [*(few["item"].to_numpy() + 1), 0])
    np.testing.assert_allclose(model.score_items([newcomer]), before, rtol=1e-6)
    without = FactorizationMachine(user_fields=Fields((users["colour"],)), item_fields=items,
                                   **FAST).fit(fit_data, N_USERS, N_ITEMS)
    with pytest.raises(ValueError, match="user_history=0"):
        without.update_history(fit_data)
    with pytest.raises(ValueError, match="cannot replace 'id'"):
        model.update_fields(Fields((model.user_fields_["id"],)))
    with pytest.raises(ValueError, match="vocabulary"):
        model.update_fields(Fields((history_field(fit_data, N_USERS, N_ITEMS + 1, 3),)))
    with pytest.raises(ValueError, match="timestamp"):
        model.fit(train.drop(columns="timestamp"), N_USERS, N_ITEMS)
