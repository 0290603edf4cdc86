"""Chapter 6 models: NumPy GRU = Keras GRU, Markov and GRU4Rec learn a planted Markov chain."""

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from recsys_lab.baselines import MostPopular  # noqa: E402
from recsys_lab.evaluate import Validation, evaluate  # noqa: E402
from recsys_lab.models.sequential import GRU4Rec, MarkovChain  # noqa: E402
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
