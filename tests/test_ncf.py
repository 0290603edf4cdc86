"""Chapter 3: neural CF models recover a planted preference; losses and sampling."""

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from recsys_lab import evaluate, features
from recsys_lab.models import ncf
from recsys_lab.scratch import ranking
from recsys_lab.scratch.mf import numerical_gradient

# --------------------------------------------------------------------------------------------
# Synthetic implicit feedback with a planted answer
# --------------------------------------------------------------------------------------------

N_USERS, N_ITEMS, N_GROUPS = 60, 30, 3


def communities(seed=0):
    """User ``u`` belongs to group ``u % 3`` and watches 6 of the 10 items of its group.

    Items ``10 g .. 10 g + 9`` form group ``g``. A model that learned the structure puts, for
    every user, an unseen item of the user's own group first.
    """
    rng = np.random.default_rng(seed)
    rows = []
    for user in range(N_USERS):
        group = user % N_GROUPS
        items = rng.choice(10, size=6, replace=False) + 10 * group
        rows += [(user, int(item)) for item in items]
    return pd.DataFrame(rows, columns=["user", "item"])


def group_features():
    """Side features that reveal the groups (one-hot), for the two-tower model."""
    eye = np.eye(N_GROUPS)
    return eye[np.arange(N_USERS) % N_GROUPS], eye[np.arange(N_ITEMS) // 10]


def top_unseen_in_group(model, train):
    scores = model.score_items(np.arange(N_USERS))
    scores[train["user"], train["item"]] = -np.inf
    return np.mean(scores.argmax(axis=1) // 10 == np.arange(N_USERS) % N_GROUPS)


FAST = dict(epochs=30, batch_size=64, learning_rate=0.02, l2=0.0)
MODELS = {
    "DotProductMF": lambda: ncf.DotProductMF(embedding_dim=8, **FAST),
    "GMF": lambda: ncf.GMF(embedding_dim=8, loss="bce", **FAST),
    "MLP": lambda: ncf.MLPRecommender(embedding_dim=8, hidden_units=(16, 8), **FAST),
    "NeuMF": lambda: ncf.NeuMF(embedding_dim=8, hidden_units=(16, 8), **FAST),
    "TwoTower": lambda: ncf.TwoTower(*group_features(), embedding_dim=8, **FAST),
    "CML": lambda: ncf.CollaborativeMetricLearning(embedding_dim=8, epochs=30, batch_size=64,
                                                   learning_rate=0.02),
}


@pytest.mark.parametrize("name", list(MODELS))
def test_models_recover_the_planted_groups(name):
    train = communities()
    model = MODELS[name]().fit(train, N_USERS, N_ITEMS)
    # Tolerance: at least 90% of the users get an item of their own group first
    # (a random ranker gets a third).
    assert top_unseen_in_group(model, train) >= 0.9
    assert model.score_items([0, 1]).shape == (2, N_ITEMS)
    assert len(model.curves_["loss"]) == 30
    assert model.curves_["loss"].iloc[-1] < model.curves_["loss"].iloc[0]


def test_fits_are_reproducible():
    train = communities()
    first = ncf.DotProductMF(embedding_dim=4, epochs=3, batch_size=64).fit(train, 60, 30)
    again = ncf.DotProductMF(embedding_dim=4, epochs=3, batch_size=64).fit(train, 60, 30)
    np.testing.assert_array_equal(first.score_items([0, 5]), again.score_items([0, 5]))


def test_dot_product_factors_reproduce_the_scores():
    train = communities()
    model = ncf.DotProductMF(embedding_dim=4, epochs=2, batch_size=64).fit(train, 60, 30)
    expected = model.user_factors_ @ model.item_factors_.T + model.item_bias_
    np.testing.assert_allclose(model.score_items(np.arange(60)), expected, atol=1e-5)


def test_cml_scores_are_negative_squared_distances_inside_the_unit_ball():
    train = communities()
    model = ncf.CollaborativeMetricLearning(embedding_dim=4, epochs=3, batch_size=64,
                                            learning_rate=0.5).fit(train, 60, 30)
    P, Q = model.user_factors_, model.item_factors_
    assert P.shape == (60, 4) and Q.shape == (30, 4)
    distances = ((P[:, None, :] - Q[None, :, :]) ** 2).sum(axis=2)
    np.testing.assert_allclose(model.score_items(np.arange(60)), -distances, atol=1e-5)
    # A large learning rate pushes vectors outwards; the constraint keeps every one inside.
    assert np.linalg.norm(np.r_[P, Q], axis=1).max() <= 1 + 1e-6
    assert np.isclose(np.linalg.norm(np.r_[P, Q], axis=1).max(), 1, atol=1e-3)


def test_cml_fits_are_reproducible_and_the_margin_matters():
    train = communities()
    settings = dict(embedding_dim=4, epochs=3, batch_size=64)
    first = ncf.CollaborativeMetricLearning(**settings).fit(train, 60, 30)
    again = ncf.CollaborativeMetricLearning(**settings).fit(train, 60, 30)
    other = ncf.CollaborativeMetricLearning(margin=0.1, **settings).fit(train, 60, 30)
    np.testing.assert_array_equal(first.score_items([0, 5]), again.score_items([0, 5]))
    assert not np.allclose(first.score_items([0, 5]), other.score_items([0, 5]))


def test_gmf_is_a_rescaled_dot_product():
    train = communities()
    model = ncf.GMF(embedding_dim=4, epochs=2, batch_size=64).fit(train, 60, 30)
    network = model.network_
    P = network.get_layer("user_embedding").get_weights()[0]
    Q = network.get_layer("item_embedding").get_weights()[0]
    h, b = network.get_layer("output_weights").get_weights()
    np.testing.assert_allclose(model.scores_, (P * h[:, 0]) @ Q.T + b, atol=1e-5)


# --------------------------------------------------------------------------------------------
# Losses: NumPy gradients against finite differences, Keras against NumPy
# --------------------------------------------------------------------------------------------


def hinge(positive, negative):
    return ranking.hinge_with_gradients(positive, negative, margin=0.7)


@pytest.mark.parametrize("loss", [ranking.bce_with_gradients, ranking.bpr_with_gradients,
                                  hinge])
def test_numpy_loss_gradients_match_finite_differences(loss):
    rng = np.random.default_rng(0)  # no pair sits at the hinge's kink
    positive, negative = rng.normal(size=4), rng.normal(size=(4, 3)) * 3
    _, grad_positive, grad_negative = loss(positive, negative)
    np.testing.assert_allclose(
        numerical_gradient(lambda: loss(positive, negative)[0], positive), grad_positive,
        atol=1e-7)
    np.testing.assert_allclose(
        numerical_gradient(lambda: loss(positive, negative)[0], negative), grad_negative,
        atol=1e-7)


@pytest.mark.parametrize("name", ["bce", "bpr"])
def test_keras_losses_and_gradients_match_numpy(name):
    import tensorflow as tf

    rng = np.random.default_rng(1)
    positive = tf.Variable(rng.normal(size=5))
    negative = tf.Variable(rng.normal(size=(5, 4)) * 2)
    with tf.GradientTape() as tape:
        value = getattr(ncf, f"{name}_loss")(positive, negative, tf.ones((5, 4), "float64"))
    grads = tape.gradient(value, [positive, negative])
    expected, grad_positive, grad_negative = getattr(ranking, f"{name}_with_gradients")(
        positive.numpy(), negative.numpy())
    assert float(value) == pytest.approx(expected, rel=1e-10)
    np.testing.assert_allclose(grads[0].numpy(), grad_positive, atol=1e-12)
    np.testing.assert_allclose(grads[1].numpy(), grad_negative, atol=1e-12)


def test_keras_hinge_loss_and_gradients_match_numpy():
    import tensorflow as tf

    rng = np.random.default_rng(1)
    positive = tf.Variable(rng.normal(size=5))
    negative = tf.Variable(rng.normal(size=(5, 4)))
    with tf.GradientTape() as tape:
        value = ncf.hinge_loss(positive, negative, tf.ones((5, 4), "float64"), 0.5)
    grads = tape.gradient(value, [positive, negative])
    expected, grad_positive, grad_negative = ranking.hinge_with_gradients(
        positive.numpy(), negative.numpy(), 0.5)
    assert 0 < (grad_negative > 0).mean() < 1  # some pairs violate the margin, some do not
    assert float(value) == pytest.approx(expected, rel=1e-10)
    np.testing.assert_allclose(grads[0].numpy(), grad_positive, atol=1e-12)
    np.testing.assert_allclose(grads[1].numpy(), grad_negative, atol=1e-12)


def test_hinge_is_zero_beyond_the_margin():
    loss, grad_positive, grad_negative = ranking.hinge_with_gradients(
        np.array([0.0]), np.array([[-2.0, -0.5]]), margin=1.0)
    assert loss == pytest.approx(0.25)  # (0 + 0.5) / 2 pairs
    np.testing.assert_allclose(grad_positive, [-0.5])
    np.testing.assert_allclose(grad_negative, [[0.0, 0.5]])


def test_masked_negatives_do_not_count():
    positive, negative = np.array([0.5, -1.0]), np.array([[2.0, 9.0], [0.0, -9.0]])
    mask = np.array([[1.0, 0.0], [1.0, 0.0]])
    for name in ("bce", "bpr"):
        masked = float(getattr(ncf, f"{name}_loss")(positive, negative, mask))
        kept = getattr(ranking, f"{name}_with_gradients")(positive, negative[:, :1])[0]
        assert masked == pytest.approx(kept, rel=1e-6)


def reference_in_batch_softmax(user_vectors, item_vectors, items, log_q, temperature):
    """Row by row: a softmax over the batch's items, own item repeated elsewhere excluded."""
    losses = []
    for row in range(len(items)):
        logits = user_vectors[row] @ item_vectors.T / temperature - log_q
        keep = (items != items[row]) | (np.arange(len(items)) == row)
        logits = logits[keep]
        target = np.flatnonzero(np.flatnonzero(keep) == row)[0]
        losses.append(np.logaddexp.reduce(logits) - logits[target])
    return np.mean(losses)


def test_in_batch_softmax_matches_a_loop():
    rng = np.random.default_rng(2)
    user_vectors, item_vectors = rng.normal(size=(6, 3)), rng.normal(size=(6, 3))
    items = np.array([4, 1, 4, 7, 2, 1])  # two accidental hits
    log_q = np.log(rng.dirichlet(np.ones(6)))
    got = ncf.in_batch_softmax_loss(user_vectors, item_vectors, items, log_q, 0.5)
    expected = reference_in_batch_softmax(user_vectors, item_vectors, items, log_q, 0.5)
    assert float(got) == pytest.approx(expected, rel=1e-6)


# --------------------------------------------------------------------------------------------
# Sampling, hit rates and features
# --------------------------------------------------------------------------------------------


def test_sample_negatives_never_returns_a_positive_and_is_uniform():
    rng = np.random.default_rng(0)
    dense = rng.random((20, 15)) < 0.6
    dense[:, 3] = False  # every user has at least one negative
    history = sp.csr_matrix(dense.astype(float))
    users = np.repeat(np.arange(20), 50)
    negatives = ranking.sample_unseen_items(history, users, 40, rng)
    assert negatives.shape == (1000, 40)
    assert not dense[users[:, None], negatives].any()
    user = 0  # uniform over the user's unseen items (tolerance: 3 percentage points)
    counts = np.bincount(negatives[users == user].ravel(), minlength=15)[~dense[user]]
    assert np.abs(counts / counts.sum() - 1 / (~dense[user]).sum()).max() < 0.03


def test_sample_negatives_rejects_a_user_without_negatives():
    history = sp.csr_matrix(np.ones((2, 3)))
    with pytest.raises(ValueError, match="every item"):
        ranking.sample_unseen_items(history, [1], 2, np.random.default_rng(0))


class FixedScores:
    """A fitted "model" whose scores are given."""

    def __init__(self, scores):
        self.scores = np.asarray(scores, dtype=float)
        self.n_users_, self.n_items_ = self.scores.shape

    def score_items(self, users):
        return self.scores[np.asarray(users)]


def test_full_hit_rate_counts_unseen_items_above_the_test_item():
    train = pd.DataFrame({"user": [0, 1], "item": [0, 0]})
    test = pd.DataFrame({"user": [0, 1], "item": [1, 2]})
    # 14 items; user 0's test item beats all but 9 unseen items (a hit at k=10), user 1's
    # test item has 10 above it (a miss).
    scores = np.zeros((2, 14))
    scores[0, 1], scores[0, 3:12] = 5.0, 6.0
    scores[1, 2], scores[1, 3:13] = 5.0, 6.0
    assert evaluate.full_hit_rate(FixedScores(scores), train, test, k=10) == 0.5


def test_score_cache_scores_once_and_checks_ids():
    scores = np.arange(6.0).reshape(2, 3)
    cache = evaluate.ScoreCache(FixedScores(scores))
    np.testing.assert_array_equal(cache.score_items([1, 0]), scores[[1, 0]])
    assert (cache.n_users_, cache.n_items_) == (2, 3)
    with pytest.raises(ValueError, match="unknown user id 2"):
        cache.score_items([2])


def test_feature_builders():
    users = pd.DataFrame({"user": [1, 0, 2], "age": [17, 30, 60], "gender": ["M", "F", "M"],
                          "occupation": ["artist", "writer", "artist"]})
    x = features.user_features(users)
    assert x.shape == (3, 6 + 2 + 2)
    np.testing.assert_array_equal(x.sum(axis=1), [3, 3, 3])
    assert x[1, 0] == 1 and x[0, 2] == 1 and x[2, 5] == 1  # age groups <18, 25-34, 56+
    items = pd.DataFrame({"item": [0, 1, 2], "genres": [["Drama"], ["Comedy", "Drama"], []],
                          "year": pd.array([1995, 1938, None], dtype="Int64")})
    y = features.item_features(items)
    assert y.shape == (3, 2 + 2 + 1)  # 2 genres, 2 decades (1940 pools older films), unknown
    np.testing.assert_array_equal(y[2], [0, 0, 0, 0, 1])


# --------------------------------------------------------------------------------------------
# Bad input names the problem
# --------------------------------------------------------------------------------------------


def test_bad_input_names_the_problem():
    train = communities()
    with pytest.raises(ValueError, match="loss must be one of"):
        ncf.DotProductMF(loss="mse").fit(train, N_USERS, N_ITEMS)
    with pytest.raises(ValueError, match="n_negatives must be an integer ≥ 1, got 0"):
        ncf.GMF(n_negatives=0).fit(train, N_USERS, N_ITEMS)
    with pytest.raises(ValueError, match=r"user_features must have shape \(n_users=60"):
        ncf.TwoTower(user_features=np.ones((5, 2))).fit(train, N_USERS, N_ITEMS)
    with pytest.raises(ValueError, match="missing column"):
        ncf.NeuMF().fit(train.rename(columns={"item": "film"}), N_USERS, N_ITEMS)
    with pytest.raises(ValueError, match="unknown user id"):
        ncf.MLPRecommender(epochs=1).fit(train, N_USERS, N_ITEMS).score_items([N_USERS])
    with pytest.raises(ValueError, match="users needs columns"):
        features.user_features(pd.DataFrame({"user": [0]}))
    with pytest.raises(ValueError, match=r"positive must have shape \(n,\)"):
        ranking.bpr_with_gradients(np.ones(3), np.ones(3))
    with pytest.raises(ValueError, match="margin must be positive"):
        ranking.hinge_with_gradients(np.ones(3), np.ones((3, 2)), margin=0.0)
    with pytest.raises(ValueError, match="margin must be"):
        ncf.CollaborativeMetricLearning(margin=0).fit(train, N_USERS, N_ITEMS)
    with pytest.raises(ValueError, match="n_negatives must be an integer ≥ 1, got 0"):
        ncf.CollaborativeMetricLearning(n_negatives=0).fit(train, N_USERS, N_ITEMS)
    with pytest.raises(TypeError):
        ncf.CollaborativeMetricLearning(l2=1e-4)  # the unit ball regularises, not a penalty
