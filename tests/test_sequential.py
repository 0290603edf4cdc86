"""Chapter 6 models: NumPy GRU = Keras GRU, Markov and GRU4Rec learn a planted Markov chain;
session-kNN votes by the neighbours of a recency-weighted query."""

import numpy as np
import pandas as pd
import pytest

keras = pytest.importorskip("keras")

from recsys_lab.baselines import MostPopular  # noqa: E402
from recsys_lab.evaluate import Validation, evaluate  # noqa: E402
from recsys_lab.models.sequential import GRU4Rec, MarkovChain, SessionKNN  # noqa: E402
from recsys_lab.scratch.gru import gru_step  # noqa: E402
from recsys_lab.splits import seq_split  # noqa: E402


@pytest.fixture(scope="module")
def fitted_gru(chain):
    split = seq_split(chain.ratings)
    model = GRU4Rec(embedding_dim=16, hidden_units=32, max_len=20, dropout=0.0, epochs=15,
                    batch_size=32, learning_rate=1e-2)
    model.fit(split.train, chain.n_users, chain.n_items,
              valid=Validation(split.train, split.valid, "SEQ"))
    return split, model


def numpy_gru(step, inputs, mask, kernel, recurrent_kernel, bias):
    """Run ``step`` over ``inputs (batch, T, d)``; masked steps keep the previous state."""
    h = np.zeros((inputs.shape[0], recurrent_kernel.shape[0]))
    for t in range(inputs.shape[1]):
        new = step(inputs[:, t], h, kernel, recurrent_kernel, bias)
        h = np.where(mask[:, t, None], new, h)
    return h


def test_numpy_gru_matches_keras_gru():
    rng = np.random.default_rng(0)
    inputs = rng.normal(size=(3, 6, 4)).astype("float32")
    mask = np.ones((3, 6), dtype=bool)
    mask[1, :2] = False  # left padding, as in recsys_lab.sequences
    layer = keras.layers.GRU(5)
    layer.build((None, 6, 4))
    weights = [rng.normal(size=w.shape).astype("float32") for w in layer.get_weights()]
    layer.set_weights(weights)
    expected = np.asarray(layer(inputs, mask=mask))
    got = numpy_gru(gru_step, inputs.astype(float), mask, *weights)
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_markov_chain_recovers_the_planted_successors(chain):
    model = MarkovChain(smoothing=1.0).fit(chain.ratings, chain.n_users, chain.n_items)
    scores = model.score_histories([[item] for item in range(chain.n_items)])
    assert (scores.argmax(axis=1) == chain.next_item).mean() >= 0.9
    np.testing.assert_allclose(scores.sum(axis=1), 1.0)  # a probability distribution


def test_markov_chain_scores_by_the_last_item_in_time_order(chain):
    shuffled = chain.ratings.sample(frac=1.0, random_state=0)
    model = MarkovChain().fit(shuffled, chain.n_users, chain.n_items)
    last = chain.ratings.groupby("user")["item"].last().to_numpy()
    expected = model.score_histories([[item] for item in last[:5]])
    np.testing.assert_allclose(model.score_items(np.arange(5)), expected)


def _three_histories():
    """u0: 0 → 1 → 2, u1: 2 → 3, u2: 0 → 4, in time order, over five items."""
    users, items = [0, 0, 0, 1, 1, 2, 2], [0, 1, 2, 2, 3, 0, 4]
    return pd.DataFrame({"user": users, "item": items, "timestamp": np.arange(7)})


def test_session_knn_matches_a_hand_computed_vote():
    model = SessionKNN(n_neighbors=2, recent_items=2).fit(_three_histories(), 3, 5)
    # Query 0 → 2: item 2 (most recent) weighs 1, item 0 (one step back) 1 - 1/2.
    query_norm = np.sqrt(0.5**2 + 1**2)
    similarity = np.array([1.5 / np.sqrt(3), 1 / np.sqrt(2), 0.5 / np.sqrt(2)]) / query_norm
    s0, s1 = similarity[:2]  # the two nearest histories, u0 and u1, vote; u2 does not
    expected = [s0, s0, s0 + s1, s1, 0.0]
    np.testing.assert_allclose(model.score_histories([np.array([0, 2])]), [expected])
    np.testing.assert_array_equal(model.sessions_.toarray().sum(axis=1), [3, 2, 2])


def test_session_knn_leaves_a_user_out_of_their_own_neighbours():
    model = SessionKNN(n_neighbors=1, recent_items=2).fit(_three_histories(), 3, 5)
    own = model.score_items([2])[0]  # u2 = 0 → 4; item 4 is in no other history
    assert own[4] == 0 and own[1] > 0  # its one neighbour is u0, which rated 0, 1, 2
    assert model.score_histories([model.histories_[2]])[0, 4] > 0  # itself, when not left out
    assert model.score_histories([np.array([], dtype=int)]).sum() == 0  # no history, no vote


def test_session_knn_order_matters_on_a_planted_chain(chain):
    split = seq_split(chain.ratings)
    sizes = dict(n_users=chain.n_users, n_items=chain.n_items)
    hr = {name: evaluate(model, split.train, split.valid, "SEQ", **sizes)["HR@10"]
          for name, model in {"recent": SessionKNN(recent_items=3),
                              "all": SessionKNN(recent_items=50),
                              "popular": MostPopular()}.items()}
    # The planted next item depends on the last one: a query of the last few items finds
    # the neighbours that know it, a query of the whole history blurs it.
    assert hr["recent"] > hr["all"] + 0.1 and hr["all"] > hr["popular"]
    # Reordering the same items changes the query, so the scores too.
    model = SessionKNN(recent_items=3).fit(split.train, **sizes)
    history = model.histories_[0]
    assert not np.allclose(model.score_histories([history]),
                           model.score_histories([history[::-1]]))


def test_gru4rec_learns_the_markov_chain(chain, fitted_gru):
    split, model = fitted_gru
    sizes = dict(n_users=chain.n_users, n_items=chain.n_items)
    # The model saw split.train, so it predicts each user's validation item.
    gru = evaluate(model, split.train, split.valid, "SEQ", fitted=True, **sizes)
    markov = evaluate(MarkovChain(), split.train, split.valid, "SEQ", **sizes)
    popular = evaluate(MostPopular(), split.train, split.valid, "SEQ", **sizes)
    assert gru["HR@10"] >= 0.8 and popular["HR@10"] < 0.4
    assert gru["HR@10"] >= markov["HR@10"] - 0.05  # as good as counting the transitions
    # After a single item, its planted most likely successor is ranked first.
    top = model.score_histories([[item] for item in range(chain.n_items)]).argmax(axis=1)
    assert (top == chain.next_item).mean() >= 0.8
    # Training curves: the loss falls and validation HR@10 is recorded per epoch.
    curves = model.curves_
    assert list(curves.columns) == ["loss", "HR@10", "NDCG@10"] and len(curves) == 15
    assert curves["loss"].iloc[-1] < 0.7 * curves["loss"].iloc[0]


def test_gru4rec_uses_history_in_time_order_and_is_reproducible(chain, fitted_gru):
    split, model = fitted_gru
    users = np.arange(4)
    expected = model.score_histories([model.histories_[u] for u in users])
    np.testing.assert_allclose(model.score_items(users), expected, rtol=1e-5)
    np.testing.assert_array_equal(model.histories_[0],
                                  split.train[split.train["user"] == 0]["item"].to_numpy())
    small = dict(embedding_dim=4, hidden_units=4, max_len=5, epochs=1, batch_size=256)
    few = split.train[split.train["user"] < 50]
    first = GRU4Rec(**small).fit(few, chain.n_users, chain.n_items).score_items(users)
    again = GRU4Rec(**small).fit(few, chain.n_users, chain.n_items).score_items(users)
    np.testing.assert_array_equal(first, again)


@pytest.mark.parametrize("make, message", [
    (lambda: GRU4Rec(dropout=1.5), "dropout"),
    (lambda: GRU4Rec(epochs=0), "epochs"),
    (lambda: GRU4Rec(train_len=0), "train_len"),
    (lambda: GRU4Rec(max_len=2.5), "max_len"),
    (lambda: MarkovChain(smoothing=-1.0), "smoothing"),
    (lambda: SessionKNN(n_neighbors=0), "n_neighbors"),
    (lambda: SessionKNN(recent_items=1.5), "recent_items"),
])
def test_bad_hyper_parameters_raise(chain, make, message):
    with pytest.raises(ValueError, match=message):
        make().fit(chain.ratings, chain.n_users, chain.n_items)


def test_bad_input_raises_a_named_value_error(chain):
    with pytest.raises(ValueError, match="timestamp"):
        MarkovChain().fit(chain.ratings.drop(columns="timestamp"), chain.n_users, chain.n_items)
    model = MarkovChain().fit(chain.ratings, chain.n_users, chain.n_items)
    with pytest.raises(ValueError, match="unknown item id"):
        model.score_histories([[0, chain.n_items]])
    with pytest.raises(ValueError, match="unknown user id"):
        model.score_items([chain.n_users])
    with pytest.raises(ValueError, match="not fitted"):
        GRU4Rec().score_items([0])
