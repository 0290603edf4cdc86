"""Chapter 4's autoencoders: planted structure recovered, NumPy agrees with Keras, bad input."""

import numpy as np
import pandas as pd
import pytest

keras = pytest.importorskip("keras")

from recsys_lab.datasets import synthetic_ratings  # noqa: E402
from recsys_lab.evaluate import Validation, evaluate  # noqa: E402
from recsys_lab.models.autoencoders import (  # noqa: E402
    CDAE,
    AutoRec,
    MultDAE,
    MultVAE,
    kl_weight,
    masked_squared_error,
    multinomial_nll,
)
from recsys_lab.splits import rating_split, topn_split  # noqa: E402


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


def _planted_clusters(n_users=120, n_items=60, n_groups=4, per_user=8, seed=0):
    """Each user interacts only with items of their group: a block-diagonal matrix."""
    rng = np.random.default_rng(seed)
    size = n_items // n_groups
    rows = []
    for user in range(n_users):
        group = user % n_groups
        items = rng.choice(np.arange(group * size, (group + 1) * size), per_user, replace=False)
        rows += [(user, int(item)) for item in items]
    return pd.DataFrame(rows, columns=["user", "item"]), n_users, n_items


@pytest.fixture(scope="module")
def low_rank():
    data = synthetic_ratings(n_users=150, n_items=100, rank=3, density=0.3, noise=0.1, seed=0)
    train, test = rating_split(data.ratings, seed=0)
    return data, train, test


# -- losses: NumPy reference vs Keras ops ---------------------------------------------------


def test_masked_squared_error_matches_numpy_and_ignores_missing():
    rng = np.random.default_rng(0)
    ratings = rng.integers(0, 6, size=(5, 7)).astype("float32")  # 0 = missing
    predictions = rng.normal(3, 1, size=(5, 7)).astype("float32")
    got = keras.ops.convert_to_numpy(masked_squared_error(ratings, predictions))
    expected = (((ratings - predictions) ** 2) * (ratings != 0)).sum(axis=1)
    np.testing.assert_allclose(got, expected, rtol=1e-5)
    changed = predictions.copy()
    changed[ratings == 0] += 100.0  # predictions of missing entries do not matter
    again = keras.ops.convert_to_numpy(masked_squared_error(ratings, changed))
    np.testing.assert_allclose(again, expected, rtol=1e-5)


def test_multinomial_nll_matches_numpy_and_is_stable():
    rng = np.random.default_rng(1)
    counts = (rng.random((4, 9)) < 0.4).astype("float32")
    logits = rng.normal(0, 3, size=(4, 9)).astype("float32")
    got = keras.ops.convert_to_numpy(multinomial_nll(counts, logits))
    log_softmax = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    np.testing.assert_allclose(got, -(counts * log_softmax).sum(axis=1), rtol=1e-5)
    huge = keras.ops.convert_to_numpy(multinomial_nll(counts, logits + 1000.0))
    np.testing.assert_allclose(huge, got, rtol=1e-4)  # log-sum-exp: no overflow


def test_kl_weight_anneals_linearly_then_stays():
    steps = np.array([0, 50, 100, 200, 1000])
    np.testing.assert_allclose(kl_weight(steps, 0.2, 100), [0, 0.1, 0.2, 0.2, 0.2])
    np.testing.assert_allclose(kl_weight(steps, 0.3, 0), 0.3)


# -- AutoRec: planted low-rank ratings -------------------------------------------------------


@pytest.mark.parametrize("item_based", [True, False])
def test_autorec_recovers_low_rank_ratings(low_rank, item_based):
    data, train, test = low_rank
    # Settings for this small planted problem, not ML-100K's: with AutoRec()'s dropout of
    # one half, I-AutoRec stopped just short of the bound below (RMSE 0.556 against 0.538).
    model = AutoRec(item_based=item_based, hidden=40, l2=1e-3, dropout=0.2, epochs=300,
                    learning_rate=0.01)
    row = evaluate(model, train, test, "RATING", n_users=data.n_users, n_items=data.n_items)
    spread = float(test["rating"].std())
    # The planted signal has unit variance; a model that learned it beats the mean by far.
    assert row["RMSE"] < 0.6 * spread, (row["RMSE"], spread)


def test_autorec_forward_pass_matches_numpy(low_rank):
    data, train, _ = low_rank
    model = AutoRec(hidden=8, epochs=3).fit(train, data.n_users, data.n_items)
    encoder = model.network_.get_layer("encoder")
    decoder = model.network_.get_layer("decoder")
    matrix = np.zeros((data.n_items, data.n_users), dtype="float32")
    matrix[train["item"], train["user"]] = train["rating"]
    hidden = _sigmoid(matrix @ encoder.kernel.numpy() + encoder.bias.numpy())
    expected = np.clip(hidden @ decoder.kernel.numpy() + decoder.bias.numpy(), 1, 5).T
    seen = (np.bincount(train["user"], minlength=data.n_users)[:, None] > 0) & (
        np.bincount(train["item"], minlength=data.n_items)[None, :] > 0)
    low, high = train["rating"].min(), train["rating"].max()
    expected = np.clip(expected, low, high)
    np.testing.assert_allclose(model.predictions_[seen], expected[seen], atol=1e-4)


def test_autorec_falls_back_to_biases_for_unseen_items_and_users(low_rank):
    data, train, _ = low_rank
    train = train[(train["item"] != 7) & (train["user"] != 3)]
    model = AutoRec(hidden=8, epochs=2).fit(train, data.n_users, data.n_items)
    users, items = np.array([3, 3, 10]), np.array([7, 20, 7])
    np.testing.assert_allclose(model.predict(users, items),
                               np.clip(model.fallback_.predict(users, items), 1, 5))


def test_autorec_is_reproducible(low_rank):
    data, train, test = low_rank
    first = AutoRec(hidden=16, epochs=5).fit(train, data.n_users, data.n_items)
    second = AutoRec(hidden=16, epochs=5).fit(train, data.n_users, data.n_items)
    np.testing.assert_array_equal(first.predictions_, second.predictions_)


def test_autorec_records_validation_rmse_each_epoch(low_rank):
    data, train, test = low_rank
    fit_part, valid = rating_split(train, seed=1)
    model = AutoRec(hidden=16, epochs=4)
    model.fit(fit_part, data.n_users, data.n_items, valid=Validation(fit_part, valid, "RATING"))
    assert list(model.curves_.columns) == ["loss", "RMSE", "MAE"]
    final = evaluate(model, fit_part, valid, "RATING", fitted=True)
    assert model.curves_["RMSE"].iloc[-1] == pytest.approx(final["RMSE"])


class _WiderAutoRec(AutoRec):
    """A reader's variant: a second hidden layer, trained through the same fit."""

    def build_network(self):
        n_inputs = self.n_users_ if self.item_based else self.n_items_
        ratings = keras.Input(shape=(n_inputs,))
        hidden = keras.layers.Dense(self.hidden, activation="sigmoid")(ratings)
        hidden = keras.layers.Dense(self.hidden, activation="sigmoid", name="second")(hidden)
        return keras.Model(ratings, keras.layers.Dense(n_inputs)(hidden))


def test_a_chapter_can_change_the_network_without_a_training_loop(low_rank):
    data, train, _ = low_rank
    model = _WiderAutoRec(hidden=8, epochs=2).fit(train, data.n_users, data.n_items)
    assert model.network_.get_layer("second").units == 8
    assert len(model.curves_) == 2 and model.predict([0], [1]).shape == (1,)


# -- top-N autoencoders: planted clusters ----------------------------------------------------


@pytest.mark.parametrize("make", [
    lambda: MultVAE(hidden=32, latent=8, epochs=60, batch_size=32, learning_rate=0.01,
                    anneal_steps=100),
    lambda: MultVAE(hidden=0, latent=8, epochs=60, batch_size=32, learning_rate=0.01,
                    anneal_steps=100),
    lambda: MultDAE(hidden=32, latent=8, epochs=60, batch_size=32, learning_rate=0.01),
    lambda: CDAE(hidden=16, epochs=60, batch_size=32, learning_rate=0.01),
], ids=["MultVAE", "MultVAE-shallow", "MultDAE", "CDAE"])
def test_topn_autoencoders_recover_planted_clusters(make):
    frame, n_users, n_items = _planted_clusters()
    train, test = topn_split(frame, seed=0)
    row = evaluate(make(), train, test, "TOPN", n_users=n_users, n_items=n_items)
    # Items of the user's own group (15 per group, 6 or 7 unseen) fill the top 10 when the
    # clusters are learned; random ranking would put about 1 of 10 there.
    assert row["Recall@10"] > 0.9, row


@pytest.mark.parametrize("make", [
    lambda: MultVAE(latent=8, epochs=60, batch_size=32, learning_rate=0.01, anneal_steps=100),
    lambda: MultDAE(hidden=32, latent=8, epochs=60, batch_size=32, learning_rate=0.01),
], ids=["MultVAE", "MultDAE"])
def test_unseen_users_get_the_popular_items(make):
    frame, n_users, n_items = _planted_clusters()
    popular = np.arange(5)  # every user also chose these five items
    frame = pd.concat([frame, pd.DataFrame({"user": np.repeat(np.arange(n_users), 5),
                                            "item": np.tile(popular, n_users)})])
    train = frame[~frame["user"].isin([0, 1])]
    model = make().fit(train, n_users, n_items)
    scores = model.score_items([0, 1])
    np.testing.assert_array_equal(scores[0], scores[1])  # an empty row says nothing
    assert set(np.argsort(-scores[0])[:5]) == set(popular)


def test_mult_vae_anneals_beta_and_encodes_users():
    frame, n_users, n_items = _planted_clusters()
    model = MultVAE(hidden=16, latent=4, epochs=4, batch_size=40, beta=0.3, anneal_steps=6)
    model.fit(frame, n_users, n_items)
    assert len(model.betas_) == 4 * 3  # 3 batches of 40 users per epoch
    np.testing.assert_allclose(model.betas_[:7], [0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3])
    assert list(model.curves_.columns) == ["loss", "kl"] and (model.curves_["kl"] > 0).all()
    assert model.encode([0, 1, 2]).shape == (3, 4)
    scores = model.score_items([0, 5])
    assert scores.shape == (2, n_items) and np.isfinite(scores).all()
    np.testing.assert_allclose(model.score_items([0, 5]), scores)  # inference is deterministic


def test_shallow_mult_vae_is_linear_on_both_sides_of_the_code():
    n_items, latent = 50, 4
    deep, shallow = MultVAE(hidden=16, latent=latent), MultVAE(hidden=0, latent=latent)
    deep.n_items_ = shallow.n_items_ = n_items
    deep, shallow = deep.build_network(), shallow.build_network()

    def tanh_layers(model):
        return [layer.name for layer in model.layers
                if getattr(layer, "activation", None) is keras.activations.tanh]

    assert tanh_layers(deep) == ["encoder", "decoder_hidden"]
    assert tanh_layers(shallow) == []
    # (μ, log σ²): two (n_items → latent) maps with biases; decoder: latent → n_items.
    trainable = sum(int(np.prod(weight.shape)) for weight in shallow.trainable_weights)
    assert trainable == 2 * (n_items + 1) * latent + (latent + 1) * n_items


# -- bad input -------------------------------------------------------------------------------


def test_bad_input_raises_value_error_naming_the_problem(low_rank):
    data, train, _ = low_rank
    with pytest.raises(ValueError, match="rating"):
        AutoRec().fit(train.drop(columns="rating"), data.n_users, data.n_items)
    with pytest.raises(ValueError, match="hidden"):
        AutoRec(hidden=0).fit(train, data.n_users, data.n_items)
    with pytest.raises(ValueError, match="dropout"):
        MultVAE(dropout=1.0).fit(train, data.n_users, data.n_items)
    with pytest.raises(ValueError, match="beta"):
        MultVAE(beta=-1).fit(train, data.n_users, data.n_items)
    with pytest.raises(ValueError, match="hidden"):
        MultVAE(hidden=-1).fit(train, data.n_users, data.n_items)
    with pytest.raises(ValueError, match="hidden"):
        MultDAE(hidden=0).fit(train, data.n_users, data.n_items)
    with pytest.raises(ValueError, match="corruption"):
        CDAE(corruption=1.5).fit(train, data.n_users, data.n_items)
    with pytest.raises(ValueError, match="not fitted"):
        MultVAE().score_items([0])
    model = AutoRec(hidden=4, epochs=1).fit(train, data.n_users, data.n_items)
    with pytest.raises(ValueError, match="unknown item id"):
        model.predict([0], [data.n_items])
