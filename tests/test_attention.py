"""Chapter 7: NumPy attention = Keras attention, SASRec learns a planted chain."""

import warnings

import numpy as np
import pandas as pd
import pytest

keras = pytest.importorskip("keras")

from recsys_lab.baselines import MostPopular  # noqa: E402
from recsys_lab.evaluate import Validation, evaluate  # noqa: E402
from recsys_lab.models import attention as ka  # noqa: E402
from recsys_lab.models.attention import SASRec  # noqa: E402
from recsys_lab.models.sequential import MarkovChain  # noqa: E402
from recsys_lab.scratch import attention as na  # noqa: E402
from recsys_lab.sequences import next_item_examples, user_histories  # noqa: E402
from recsys_lab.splits import seq_split  # noqa: E402


@pytest.fixture(scope="module")
def fitted(chain):
    split = seq_split(chain.ratings)
    model = SASRec(embedding_dim=32, n_blocks=1, n_heads=2, max_len=20, dropout=0.0,
                   epochs=10, batch_size=64, learning_rate=1e-2)
    model.fit(split.train, chain.n_users, chain.n_items,
              valid=Validation(split.train, split.valid, "SEQ"))
    return split, model


# --------------------------------------------------------------------------- NumPy attention
def test_masks():
    full = na.attention_mask(np.array([[1, 2, 3]]))[0]
    np.testing.assert_array_equal(full, [[1, 0, 0], [1, 1, 0], [1, 1, 1]])  # causal
    items = np.array([[0, 0, 4, 2]])
    mask = na.attention_mask(items)
    assert mask.shape == (1, 4, 4)
    assert not mask[0, 3, :2].any() and mask[0, 3, 2:].all()  # padded keys are hidden
    assert not mask[0, 2, 3]  # the future is hidden
    assert mask[0, 0, 0] and mask[0, 0].sum() == 1  # a padded query sees only itself


def test_masked_softmax_matches_a_loop():
    rng = np.random.default_rng(0)
    scores = rng.normal(size=(2, 4, 4))
    mask = na.attention_mask(np.array([[0, 1, 2, 3], [5, 6, 7, 8]]))
    weights = na.masked_softmax(scores, mask)
    np.testing.assert_allclose(weights.sum(-1), 1.0)
    assert (weights[~mask] == 0).all()
    for b in range(2):
        for t in range(4):
            seen = np.flatnonzero(mask[b, t])
            s = scores[b, t, seen]
            np.testing.assert_allclose(weights[b, t, seen], np.exp(s) / np.exp(s).sum())


def test_numpy_multi_head_attention_matches_keras():
    rng = np.random.default_rng(1)
    layer = keras.layers.MultiHeadAttention(num_heads=2, key_dim=3)
    x = rng.normal(size=(2, 5, 6)).astype("float32")
    mask = na.attention_mask(np.array([[0, 0, 3, 1, 2], [1, 2, 3, 4, 5]]))
    layer(x, x, attention_mask=mask)  # builds the layer
    layer.set_weights([rng.normal(scale=0.5, size=w.shape).astype("float32")
                       for w in layer.get_weights()])
    expected, expected_weights = layer(x, x, attention_mask=mask, return_attention_scores=True)
    got, got_weights = na.multi_head_attention(x, x, layer.get_weights(), mask)
    np.testing.assert_allclose(got, np.asarray(expected), atol=1e-4)
    np.testing.assert_allclose(got_weights, np.asarray(expected_weights), atol=1e-5)


def test_keras_mask_equals_numpy_mask():
    items = np.array([[0, 0, 3, 1, 2], [0, 4, 3, 1, 2], [1, 2, 3, 4, 5]])
    got = keras.ops.convert_to_numpy(ka.attention_mask(items))
    np.testing.assert_array_equal(got, na.attention_mask(items))


# --------------------------------------------------------------------------- SASRec
def test_next_item_cross_entropy_equals_keras_and_ignores_padding():
    rng = np.random.default_rng(2)
    logits = rng.normal(scale=3.0, size=(3, 4, 7)).astype("float32")
    targets = rng.integers(0, 7, size=(3, 4))
    weights = (rng.random((3, 4)) < 0.6).astype("float32")
    weights[0, 0] = 1.0
    ours = ka.NextItemCrossEntropy()(targets, logits, sample_weight=weights)
    reference = keras.losses.SparseCategoricalCrossentropy(
        from_logits=True, reduction="mean_with_sample_weight")(targets, logits,
                                                                sample_weight=weights)
    np.testing.assert_allclose(float(ours), float(reference), rtol=1e-6)
    by_hand = (np.log(np.exp(logits).sum(-1))
               - np.take_along_axis(logits, targets[..., None], -1)[..., 0])
    np.testing.assert_allclose(float(ours), (by_hand * weights).sum() / weights.sum(), rtol=1e-5)
    logits[weights == 0] = 1e3  # what padded positions predict does not count
    np.testing.assert_allclose(float(ka.NextItemCrossEntropy()(targets, logits, weights)),
                               float(ours), rtol=1e-6)


def test_sasrec_learns_the_planted_chain(fitted):
    split, model = fitted
    sizes = dict(n_users=model.n_users_, n_items=model.n_items_)
    ours = evaluate(model, split.train, split.valid, "SEQ", fitted=True, **sizes)
    popular = evaluate(MostPopular(), split.train, split.valid, "SEQ", **sizes)
    markov = evaluate(MarkovChain(), split.train, split.valid, "SEQ", **sizes)
    # Popularity knows nothing of the chain; counting transitions recovers it.
    assert ours["HR@10"] >= 0.8 and popular["HR@10"] < 0.4
    assert ours["HR@10"] >= markov["HR@10"] - 0.05
    assert model.curves_["loss"].iloc[-1] < model.curves_["loss"].iloc[0]
    assert list(model.curves_.columns) == ["loss", "HR@10", "NDCG@10"]


def test_sasrec_is_causal(fitted):
    _, model = fitted
    items = np.array([[0, 0, 5, 9, 2, 7] + [0] * 14, [0, 0, 5, 9, 2, 8] + [0] * 14])
    items = np.roll(items, 14, axis=1)  # left padding: the changed item is the last one
    states, attention = model.network_.encode(items, training=False)
    states = keras.ops.convert_to_numpy(states)
    np.testing.assert_allclose(states[0, :-1], states[1, :-1], atol=1e-5)
    assert not np.allclose(states[0, -1], states[1, -1])
    weights = keras.ops.convert_to_numpy(attention[0])
    assert np.abs(np.triu(weights[0, 0], k=1)).max() < 1e-7


def test_explanations(fitted, chain):
    _, model = fitted
    history = chain.ratings.query("user == 0")["item"].to_numpy()[:8]
    weights = model.attention_weights(history)
    assert weights.shape == (1, 2, 8, 8)
    np.testing.assert_allclose(weights.sum(-1), 1.0, atol=1e-5)
    scores = model.score_histories([history])
    assert scores.shape == (1, chain.n_items)
    influence = model.occlusion_influence(history, int(scores[0].argmax()))
    assert influence.shape == (8,) and np.isfinite(influence).all()
    # Scoring a user continues the history fit saw.
    np.testing.assert_allclose(model.score_items([3]),
                               model.score_histories([model.histories_[3]]), atol=1e-5)


TINY = dict(embedding_dim=16, n_blocks=1, max_len=10, epochs=1, batch_size=64)


@pytest.fixture(scope="module")
def few(chain):
    """The chain's first 40 users: enough for one-epoch fits of a TINY SASRec."""
    return chain.ratings.query("user < 40")


def test_same_seed_same_model(chain, few):
    a = SASRec(**TINY).fit(few, 40, chain.n_items).score_items([0, 1])
    b = SASRec(**TINY).fit(few, 40, chain.n_items).score_items([0, 1])
    np.testing.assert_allclose(a, b, atol=1e-6)


def test_without_positions_no_position_table_and_no_warning(chain, few):
    with_positions = SASRec(**TINY).fit(few, 40, chain.n_items)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an unused, unbuilt layer makes Keras warn
        without = SASRec(**TINY, positional=False).fit(few, 40, chain.n_items)
    assert without.network_.position_embedding is None
    assert (with_positions.network_.count_params() - without.network_.count_params()
            == TINY["max_len"] * TINY["embedding_dim"])


def test_cosine_decay_reaches_zero_at_the_last_batch(chain, few):
    settings = dict(TINY, epochs=2)
    windows = len(next_item_examples(user_histories(few, 40), settings["max_len"],
                                     all_windows=True).targets)
    batches = settings["epochs"] * -(-windows // settings["batch_size"])
    decayed = SASRec(**settings).fit(few, 40, chain.n_items).network_.optimizer
    assert int(decayed.iterations.numpy()) == batches  # one step per batch
    assert float(decayed.learning_rate) == pytest.approx(0.0, abs=1e-9)  # 0 after the last
    constant = SASRec(**settings, cosine_decay=False).fit(few, 40, chain.n_items)
    assert float(constant.network_.optimizer.learning_rate) == pytest.approx(1e-2)


def test_overlapping_windows_train_each_transition_once_on_more_rows(chain, few):
    settings = dict(TINY, epochs=1)
    histories = user_histories(few, 40)
    default = next_item_examples(histories, settings["max_len"], all_windows=True)
    overlapping = next_item_examples(histories, settings["max_len"], all_windows=True, stride=1)
    assert overlapping.mask.sum() == default.mask.sum()
    fitted = SASRec(**settings, window_stride=1).fit(few, 40, chain.n_items)
    steps = int(fitted.network_.optimizer.iterations.numpy())
    assert steps == -(-len(overlapping.targets) // settings["batch_size"])
    assert len(overlapping.targets) > len(default.targets)


@pytest.mark.parametrize("params, message", [
    (dict(embedding_dim=30, n_heads=4), "divisible"),
    (dict(max_len=0), "max_len"),
    (dict(dropout=1.0), "dropout"),
    (dict(learning_rate=0), "learning_rate"),
    (dict(cosine_decay="yes"), "cosine_decay"),
    (dict(window_stride=0), "window_stride"),
    (dict(window_stride=11), "window_stride=11 .* at most max_len=10"),
    (dict(window_stride=2, all_windows=False), "window_stride=2 needs all_windows=True"),
])
def test_bad_parameters_raise(chain, params, message):
    with pytest.raises(ValueError, match=message):
        SASRec(**params).fit(chain.ratings, chain.n_users, chain.n_items)


def test_bad_input_raises(fitted, chain):
    _, model = fitted
    with pytest.raises(ValueError, match="timestamp"):
        SASRec().fit(chain.ratings.drop(columns="timestamp"), chain.n_users, chain.n_items)
    single = pd.DataFrame({"user": [0, 1], "item": [0, 1], "timestamp": [0, 0]})
    with pytest.raises(ValueError, match="two or more"):
        SASRec().fit(single, 2, 2)
    with pytest.raises(ValueError, match="item"):
        model.score_histories([[0, chain.n_items]])
    with pytest.raises(ValueError, match="empty"):
        model.attention_weights([])
