"""Federated averaging of matrix factorisation: the aggregate by hand, one round against the
centralised gradient step it must reproduce, and learning."""

import numpy as np
import pandas as pd
import pytest

from recsys_lab.datasets import synthetic_ratings
from recsys_lab.models.federated import FederatedMatrixFactorization, federated_average
from recsys_lab.scratch.mf import sgd_step


def test_federated_average_by_hand():
    updates = np.array([[[1.0], [2.0]], [[3.0], [4.0]]])          # 2 clients, 2 rows, d = 1
    # Row 0: (1·1 + 3·3) / 4 = 2.5; row 1: only client 1 sent it, 4.
    np.testing.assert_allclose(federated_average(updates, [[1, 0], [3, 1]]), [[2.5], [4.0]])
    # One count per client, as in FedAvg over a whole model: (1·2 + 3·4) / 4 = 3.5.
    np.testing.assert_allclose(federated_average(updates, [1, 3]), [[2.5], [3.5]])
    np.testing.assert_allclose(federated_average(updates, [[1, 0], [1, 0]]), [[2.0], [0.0]])


@pytest.mark.parametrize("updates, counts, fragment", [
    (np.zeros((2, 3)), [1, 1], "n_clients, n_rows, d"),
    (np.zeros((2, 3, 1)), np.ones((3, 2)), "counts has shape"),
    (np.zeros((2, 3, 1)), [1, -1], "non-negative"),
])
def test_federated_average_bad_input(updates, counts, fragment):
    with pytest.raises(ValueError, match=fragment):
        federated_average(updates, counts)


def initial_parameters(seed, n_users, n_items, d, init_std, mean):
    rng = np.random.default_rng(seed)
    return {"global_mean": mean, "user_factors": rng.normal(0, init_std, (n_users, d)),
            "item_factors": rng.normal(0, init_std, (n_items, d)),
            "user_bias": np.zeros(n_users), "item_bias": np.zeros(n_items)}


def one_round(frame, n_users, n_items, **settings):
    model = FederatedMatrixFactorization(n_factors=2, rounds=1, client_fraction=1.0,
                                         local_epochs=1, local_batch_size=10, seed=4,
                                         **settings)
    return model.fit(frame, n_users, n_items)


def test_a_round_with_disjoint_items_is_one_gradient_step():
    # Every item has one rater, every client one local batch: the round is exactly one
    # step of gradient descent on all ratings (the sum of the per-rating steps).
    frame = pd.DataFrame({"user": [0, 0, 1, 2], "item": [0, 1, 2, 3],
                          "rating": [5.0, 3.0, 1.0, 4.0]})
    model = one_round(frame, 3, 4)
    params = initial_parameters(4, 3, 4, 2, 0.1, frame["rating"].mean())
    sgd_step(params, frame["user"].to_numpy(), frame["item"].to_numpy(),
             frame["rating"].to_numpy(), model.learning_rate, model.l2, model.l2_bias)
    for name in ("user_factors", "item_factors", "user_bias", "item_bias"):
        np.testing.assert_allclose(getattr(model, name + "_"), params[name], atol=1e-12)


def test_the_server_averages_a_shared_items_updates():
    # Users 0 and 1 both rate item 0: the server moves it by the mean of the two clients'
    # changes (each computed from the same starting q_0), not their sum.
    frame = pd.DataFrame({"user": [0, 1], "item": [0, 0], "rating": [5.0, 2.0]})
    model = one_round(frame, 2, 1)
    start = initial_parameters(4, 2, 1, 2, 0.1, 3.5)
    changes = []
    for user in (0, 1):
        params = {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in start.items()}
        sgd_step(params, np.array([user]), np.array([0]), frame["rating"].to_numpy()[[user]],
                 model.learning_rate, model.l2, model.l2_bias)
        changes.append(params["item_factors"][0] - start["item_factors"][0])
    np.testing.assert_allclose(model.item_factors_[0],
                               start["item_factors"][0] + np.mean(changes, axis=0), atol=1e-12)


def test_client_sampling_and_learning():
    data = synthetic_ratings(n_users=80, n_items=50, seed=0)
    model = FederatedMatrixFactorization(rounds=15, client_fraction=0.25).fit(
        data.ratings, 80, 50)
    assert (model.curves_["clients"] == 20).all()
    assert model.curves_["train_RMSE"].iloc[-1] < model.curves_["train_RMSE"].iloc[0] - 0.05
    assert model.curves_["loss"].is_monotonic_decreasing
    assert len(model.curves_) == model.rounds == model.epochs


@pytest.mark.parametrize("setting", [{"client_fraction": 0.0}, {"client_fraction": 1.2},
                                     {"local_epochs": 0}, {"rounds": 0}])
def test_bad_settings_are_named(setting):
    frame = pd.DataFrame({"user": [0, 1], "item": [0, 0], "rating": [5.0, 2.0]})
    with pytest.raises(ValueError, match=next(iter(setting))):
        FederatedMatrixFactorization(**setting).fit(frame, 2, 1)
