"""WRMF, RP3beta and UserKNN: hand-computed tiny cases, planted communities, determinism."""

import random

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from recsys_lab.baselines import RP3beta, UserKNN
from recsys_lab.datasets import synthetic_communities
from recsys_lab.models.mf import WRMF


def frame_of(matrix):
    """The interactions of a dense 0/1 matrix as a frame with ``user`` and ``item``."""
    users, items = np.nonzero(np.asarray(matrix))
    return pd.DataFrame({"user": users, "item": items})


def communities(seed=0):
    planted = synthetic_communities(seed=seed)
    return planted.interactions, planted.n_users, planted.n_items


# --------------------------------------------------------------------------------------------
# RP3beta
# --------------------------------------------------------------------------------------------

# Users 0, 1, 2 interacted with items {0, 1}, {1, 2}, {0, 1, 2}: user degrees 2, 2, 3 and
# item degrees (popularity) 2, 3, 2.
SMALL = np.array([[1, 1, 0],
                  [0, 1, 1],
                  [1, 1, 1]])


def test_rp3beta_is_the_three_step_walk_by_hand():
    # alpha = 1, beta = 0: W_ij = Σ_u r_ui r_uj / (deg(i) deg(u)), the probability that a
    # walk from i reaches j in two steps (i → u → j). From item 0: through user 0 (1/2 · 1/2)
    # or user 2 (1/2 · 1/3) to item 1, 1/4 + 1/6 = 5/12; through user 2 to item 2, 1/6.
    model = RP3beta(alpha=1.0, beta=0.0, n_neighbors=2).fit(frame_of(SMALL), 3, 3)
    expected = np.array([[0, 5 / 12, 1 / 6],
                         [5 / 18, 0, 5 / 18],
                         [1 / 6, 5 / 12, 0]])
    np.testing.assert_allclose(model.transition_weights(), expected)
    np.testing.assert_allclose(model.weights_.toarray(), expected)
    # With the diagonal (the walk back to its start: 5/12, 4/9, 5/12) each row sums to 1.
    np.testing.assert_allclose(expected.sum(axis=1) + [5 / 12, 4 / 9, 5 / 12], 1.0)
    np.testing.assert_allclose(model.score_items([0, 1, 2]), SMALL @ expected)


def test_rp3beta_raises_the_transition_probabilities_to_alpha_and_divides_by_popularity():
    # alpha = 2, beta = 1: W_ij = Σ_u r_ui r_uj / (deg(i)² deg(u)²) / deg(j).
    # W_01 = (1/(4·4) + 1/(4·9)) / 3 = 13/432;  W_10 = (1/(9·4) + 1/(9·9)) / 2 = 13/648.
    model = RP3beta(alpha=2.0, beta=1.0, n_neighbors=2).fit(frame_of(SMALL), 3, 3)
    expected = np.array([[0, 13 / 432, 1 / 72],
                         [13 / 648, 0, 13 / 648],
                         [1 / 72, 13 / 432, 0]])
    np.testing.assert_allclose(model.transition_weights(), expected)
    np.testing.assert_allclose(model.score_items([2]), SMALL[[2]] @ expected)


def test_rp3beta_keeps_each_items_largest_weights_and_clips_n_neighbors():
    train, n_users, n_items = communities(seed=2)
    full = RP3beta(alpha=0.8, beta=0.3, n_neighbors=n_items - 1).fit(train, n_users, n_items)
    weights = full.transition_weights()
    assert np.all(np.diag(weights) == 0)
    np.testing.assert_allclose(full.weights_.toarray(), weights)
    pruned = RP3beta(alpha=0.8, beta=0.3, n_neighbors=3).fit(train, n_users, n_items)
    kept = pruned.weights_.toarray()
    assert np.all((kept > 0).sum(axis=1) <= 3)
    for row, values in zip(kept, weights, strict=True):
        assert row[row > 0].min() >= np.sort(values)[-3] - 1e-12  # the 3 largest survive
        np.testing.assert_allclose(row[row > 0], values[row > 0])
    clipped = RP3beta(alpha=0.8, beta=0.3, n_neighbors=10_000).fit(train, n_users, n_items)
    np.testing.assert_allclose(clipped.weights_.toarray(), weights)


def test_rp3beta_gives_an_item_nobody_interacted_with_no_weight():
    model = RP3beta(beta=0.5).fit(frame_of(SMALL), 3, 4)  # item 3 has no interactions
    weights = model.transition_weights()
    assert np.all(weights[3] == 0) and np.all(weights[:, 3] == 0) and np.all(np.isfinite(weights))


# --------------------------------------------------------------------------------------------
# UserKNN
# --------------------------------------------------------------------------------------------

# Users 0, 1, 2 interacted with items {0, 1}, {0, 1, 2}, {2, 3}: cos(0, 1) = 2/√6,
# cos(1, 2) = 1/√6, cos(0, 2) = 0.
USERS = np.array([[1, 1, 0, 0],
                  [1, 1, 1, 0],
                  [0, 0, 1, 1]])


def test_user_knn_scores_by_hand():
    model = UserKNN(n_neighbors=1, shrinkage=0.0).fit(frame_of(USERS), 3, 4)
    root6 = np.sqrt(6.0)
    # Each user's one neighbour: 0 → 1 (2/√6), 1 → 0 (2/√6 beats 1/√6), 2 → 1 (1/√6).
    expected = np.array([[2, 2, 2, 0],
                         [2, 2, 0, 0],
                         [1, 1, 1, 0]]) / root6
    np.testing.assert_allclose(model.score_items([0, 1, 2]), expected)
    # Two neighbours and shrinkage 1: sim = |I_u ∩ I_v| / (√(|I_u||I_v|) + 1), so user 1
    # scores 2/(√6+1) · [1, 1, 0, 0] + 1/(√6+1) · [0, 0, 1, 1].
    model = UserKNN(n_neighbors=2, shrinkage=1.0).fit(frame_of(USERS), 3, 4)
    np.testing.assert_allclose(model.score_items([1]), [[2, 2, 1, 1]] / (root6 + 1))
    np.testing.assert_allclose(model.similarity_.toarray(),
                               np.array([[0, 2, 0], [2, 0, 1], [0, 1, 0]]) / (root6 + 1))
    # More neighbours than other users: clipped to every other user.
    clipped = UserKNN(n_neighbors=50, shrinkage=1.0).fit(frame_of(USERS), 3, 4)
    np.testing.assert_allclose(clipped.score_items([0, 1, 2]), model.score_items([0, 1, 2]))


def test_user_knn_gives_a_user_without_history_zero_scores():
    model = UserKNN().fit(frame_of(USERS), 4, 4)  # user 3 has no interactions
    np.testing.assert_array_equal(model.score_items([3]), np.zeros((1, 4)))


# --------------------------------------------------------------------------------------------
# WRMF
# --------------------------------------------------------------------------------------------


def random_binary(n_users=7, n_items=6, seed=0):
    matrix = (np.random.default_rng(seed).random((n_users, n_items)) < 0.4).astype(float)
    matrix[3] = 0.0  # a user without interactions
    return matrix


def dense_objective(preferences, user_factors, item_factors, alpha, l2):
    """``Σ_{u,i} c_ui (p_ui − x_uᵀ y_i)² + l2 (‖X‖² + ‖Y‖²)`` with the full confidence matrix."""
    confidence = 1.0 + alpha * preferences
    error = preferences - user_factors @ item_factors.T
    return float(np.sum(confidence * error ** 2)
                 + l2 * (np.sum(user_factors ** 2) + np.sum(item_factors ** 2)))


@pytest.mark.parametrize("chunk", [2, 256])
def test_wrmf_half_step_solves_the_normal_equations_of_the_dense_confidence_matrix(chunk):
    preferences = random_binary()
    item_factors = np.random.default_rng(1).normal(size=(6, 3))
    alpha, l2 = 3.0, 0.5
    solved = WRMF._half_step(sp.csr_matrix(preferences), item_factors, alpha, l2, chunk=chunk)
    for user, p_u in enumerate(preferences):
        confidence = np.diag(1.0 + alpha * p_u)  # C_u, (n_items, n_items)
        direct = np.linalg.solve(item_factors.T @ confidence @ item_factors + l2 * np.eye(3),
                                 item_factors.T @ confidence @ p_u)
        np.testing.assert_allclose(solved[user], direct, atol=1e-12)
    np.testing.assert_array_equal(solved[3], 0.0)  # no interactions: the zero vector
    # It is the minimiser: the gradient of the objective in X is zero there.
    error = preferences - solved @ item_factors.T
    gradient = -2 * ((1.0 + alpha * preferences) * error) @ item_factors + 2 * l2 * solved
    np.testing.assert_allclose(gradient, 0.0, atol=1e-10)


def test_wrmf_objective_with_the_gram_trick_equals_the_dense_one():
    preferences = random_binary(seed=2)
    rng = np.random.default_rng(3)
    users, items = rng.normal(size=(7, 4)), rng.normal(size=(6, 4))
    fast = WRMF._objective(sp.csr_matrix(preferences), users, items, 4.0, 0.3)
    assert fast == pytest.approx(dense_objective(preferences, users, items, 4.0, 0.3),
                                 rel=1e-12)


def test_wrmf_objective_decreases_every_epoch_and_is_what_curves_records():
    train, n_users, n_items = communities()
    model = WRMF(n_factors=4, alpha=5.0, l2=1.0, epochs=8).fit(train, n_users, n_items)
    losses = model.curves_["loss"].to_numpy()
    assert list(model.curves_.columns) == ["loss"] and len(losses) == 8
    assert np.all(np.diff(losses) <= 1e-9 * losses[:-1])
    final = dense_objective(model.history_.toarray(), model.user_factors_,
                            model.item_factors_, 5.0, 1.0)
    assert losses[-1] == pytest.approx(final, rel=1e-10)
    np.testing.assert_allclose(model.score_items([0, 3]),
                               model.user_factors_[[0, 3]] @ model.item_factors_.T)


def test_wrmf_without_confidence_or_penalty_is_the_best_rank_d_fit():
    """alpha = 0, l2 → 0: least squares on the whole 0/1 matrix, whose minimiser of rank d
    is the truncated SVD (Eckart–Young); ALS converges to it."""
    train, n_users, n_items = communities(seed=4)
    model = WRMF(n_factors=2, alpha=0.0, l2=1e-8, epochs=300).fit(train, n_users, n_items)
    matrix = model.history_.toarray()
    u, s, vt = np.linalg.svd(matrix)
    best = (u[:, :2] * s[:2]) @ vt[:2]
    fitted = model.user_factors_ @ model.item_factors_.T
    np.testing.assert_allclose(fitted, best, atol=1e-4)
    assert model.curves_["loss"].iloc[-1] == pytest.approx(np.sum(s[2:] ** 2), rel=1e-6)


def test_wrmf_gives_an_item_nobody_interacted_with_a_zero_vector():
    train, n_users, n_items = communities()
    model = WRMF(n_factors=3, epochs=3).fit(train[train["item"] != 5], n_users, n_items)
    np.testing.assert_array_equal(model.item_factors_[5], 0.0)
    assert model.user_factors_.shape == (n_users, 3) and model.item_factors_.shape == (n_items, 3)


def test_wrmf_same_seed_same_factors_and_the_global_state_is_left_alone():
    train, n_users, n_items = communities()
    np.random.seed(7)
    random.seed(7)
    numpy_state, python_state = np.random.get_state(), random.getstate()
    first = WRMF(n_factors=4, epochs=3, seed=3).fit(train, n_users, n_items)
    np.random.seed(99)  # what ran before does not matter
    again = WRMF(n_factors=4, epochs=3, seed=3).fit(train, n_users, n_items)
    np.testing.assert_array_equal(first.item_factors_, again.item_factors_)
    np.testing.assert_array_equal(first.user_factors_, again.user_factors_)
    other = WRMF(n_factors=4, epochs=3, seed=4).fit(train, n_users, n_items)
    assert not np.allclose(first.item_factors_, other.item_factors_)
    np.random.seed(7)
    random.seed(7)
    WRMF(n_factors=4, epochs=3, seed=3).fit(train, n_users, n_items)
    after = np.random.get_state()
    assert after[0] == numpy_state[0] and np.array_equal(after[1], numpy_state[1])
    assert random.getstate() == python_state


# --------------------------------------------------------------------------------------------
# All three
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("model", [
    WRMF(n_factors=4, alpha=10.0, l2=20.0, epochs=10),
    RP3beta(alpha=0.8, beta=0.5, n_neighbors=10),
    UserKNN(n_neighbors=10, shrinkage=1.0),
], ids=["WRMF", "RP3beta", "UserKNN"])
def test_the_new_baselines_recover_planted_communities(model):
    train, n_users, n_items = communities()
    model.fit(train, n_users, n_items)
    scores = model.score_items(np.arange(n_users))
    assert scores.shape == (n_users, n_items) and scores.dtype == float
    assert synthetic_communities().own_share_of_top(scores) > 0.9


@pytest.mark.parametrize("model, name, message", [
    (WRMF(n_factors=0), "n_factors", "an integer ≥ 1"),
    (WRMF(alpha=-1.0), "alpha", "a number ≥ 0"),
    (WRMF(l2=0.0), "l2", "a number > 0"),
    (WRMF(epochs=0), "epochs", "an integer ≥ 1"),
    (WRMF(seed=-1), "seed", "an integer ≥ 0"),
    (RP3beta(alpha=-0.5), "alpha", "a number ≥ 0"),
    (RP3beta(beta=float("nan")), "beta", "a number ≥ 0"),
    (RP3beta(n_neighbors=0), "n_neighbors", "an integer ≥ 1"),
    (RP3beta(n_neighbors=2.5), "n_neighbors", "an integer ≥ 1"),
    (UserKNN(n_neighbors=0), "n_neighbors", "an integer ≥ 1"),
    (UserKNN(shrinkage=-1.0), "shrinkage", "a number ≥ 0"),
])
def test_bad_hyperparameters_raise_naming_the_parameter(model, name, message):
    with pytest.raises(ValueError, match=f"{type(model).__name__}: {name} must be {message}"):
        model.fit(frame_of(SMALL), 3, 3)
