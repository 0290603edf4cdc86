"""Chapter 6 models: NumPy GRU = Keras GRU, Markov and GRU4Rec learn a planted Markov chain."""

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from recsys_lab.baselines import MostPopular  # noqa: E402
from recsys_lab.evaluate import evaluate  # noqa: E402
from recsys_lab.exercises.sequential import (  # noqa: E402
    check_gru_parameter_count,
    check_gru_step,
    check_transition_counts,
    gru_parameter_count,
    gru_step_reset_after,
    gru_step_reset_before,
    transition_counts,
)
from recsys_lab.models.sequential import GRU4Rec, MarkovChain  # noqa: E402
from recsys_lab.splits import seq_split  # noqa: E402


@pytest.fixture(scope="module")
def fitted_gru(chain):
    split = seq_split(chain.ratings)
    model = GRU4Rec(embedding_dim=16, hidden_units=32, max_len=20, dropout=0.0, n_epochs=15,
                    batch_size=32, learning_rate=1e-2)
    model.fit(split.train, chain.n_users, chain.n_items, valid=split.valid)
    return split, model


def numpy_gru(step, inputs, mask, kernel, recurrent_kernel, bias):
    """Run ``step`` over ``inputs (batch, T, d)``; masked steps keep the previous state."""
    h = np.zeros((inputs.shape[0], recurrent_kernel.shape[0]))
    for t in range(inputs.shape[1]):
        new = step(inputs[:, t], h, kernel, recurrent_kernel, bias)
        h = np.where(mask[:, t, None], new, h)
    return h


@pytest.mark.parametrize("reset_after, step", [(True, gru_step_reset_after),
                                                (False, gru_step_reset_before)])
def test_numpy_gru_matches_keras_gru(reset_after, step):
    rng = np.random.default_rng(0)
    inputs = rng.normal(size=(3, 6, 4)).astype("float32")
    mask = np.ones((3, 6), dtype=bool)
    mask[1, :2] = False  # left padding, as in recsys_lab.sequences
    layer = keras.layers.GRU(5, reset_after=reset_after)
    layer.build((None, 6, 4))
    weights = [rng.normal(size=w.shape).astype("float32") for w in layer.get_weights()]
    layer.set_weights(weights)
    expected = np.asarray(layer(inputs, mask=mask))
    got = numpy_gru(step, inputs.astype(float), mask, *weights)
    np.testing.assert_allclose(got, expected, atol=1e-5)
    assert layer.count_params() == gru_parameter_count(4, 5) or not reset_after


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
    small = dict(embedding_dim=4, hidden_units=4, max_len=5, n_epochs=1, batch_size=256)
    few = split.train[split.train["user"] < 50]
    first = GRU4Rec(**small).fit(few, chain.n_users, chain.n_items).score_items(users)
    again = GRU4Rec(**small).fit(few, chain.n_users, chain.n_items).score_items(users)
    np.testing.assert_array_equal(first, again)


@pytest.mark.parametrize("make, message", [
    (lambda: GRU4Rec(dropout=1.5), "dropout"),
    (lambda: GRU4Rec(n_epochs=0), "n_epochs"),
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


def test_check_gru_step_accepts_the_reference_and_explains_mistakes():
    assert check_gru_step(gru_step_reset_before)
    feedback = check_gru_step(lambda x, h, k, u, b: gru_step_reset_after(
        x, h, k, u, np.stack([b, 0 * b])))
    assert not feedback and "reset-after" in feedback.message
    assert not check_gru_step(lambda x, h, k, u, b: h)
    assert not check_gru_step(lambda *args: ...)


def test_check_transition_counts():
    assert check_transition_counts(transition_counts)
    feedback = check_transition_counts(lambda h, n: transition_counts(h, n).T)
    assert not feedback and "swapped" in feedback.message
    assert not check_transition_counts(lambda h, n: ...)


def test_check_gru_parameter_count():
    assert check_gru_parameter_count(3 * (64 * 100 + 100 * 100 + 200), 64, 100)
    feedback = check_gru_parameter_count(3 * (64 * 100 + 100 * 100 + 100), 64, 100)
    assert not feedback and "two bias" in feedback.message
    assert not check_gru_parameter_count(None, 64, 100)
