"""Matrix factorisation: gradients, planted low-rank recovery, the three models agree on shape."""

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from recsys_lab.datasets import synthetic_ratings
from recsys_lab.evaluate import Validation
from recsys_lab.models.mf import (
    ALSMatrixFactorization,
    ImplicitALS,
    KerasMatrixFactorization,
    SGDMatrixFactorization,
    implicit_targets,
)
from recsys_lab.scratch.mf import (
    add_rows,
    als_half_step,
    mf_gradients,
    mf_loss,
    numerical_gradient,
    sgd_step,
)
from recsys_lab.splits import rating_split, topn_split


def random_problem(n_users=5, n_items=4, k=3, n_ratings=15, seed=0):
    rng = np.random.default_rng(seed)
    params = {"global_mean": 3.2, "user_bias": rng.normal(0, 0.3, n_users),
              "item_bias": rng.normal(0, 0.3, n_items),
              "user_factors": rng.normal(0, 0.5, (n_users, k)),
              "item_factors": rng.normal(0, 0.5, (n_items, k))}
    users = rng.integers(0, n_users, n_ratings)  # repeated users and items on purpose
    items = rng.integers(0, n_items, n_ratings)
    ratings = rng.integers(1, 6, n_ratings).astype(float)
    return params, users, items, ratings


@pytest.mark.parametrize("l2, l2_bias", [(0.0, 0.0), (0.1, 0.02), (0.7, 0.3)])
def test_analytic_gradient_matches_central_differences(l2, l2_bias):
    params, users, items, ratings = random_problem()
    analytic = mf_gradients(params, users, items, ratings, l2, l2_bias)
    for name, gradient in analytic.items():
        numeric = numerical_gradient(
            lambda: mf_loss(params, users, items, ratings, l2, l2_bias), params[name])
        np.testing.assert_allclose(gradient, numeric, rtol=1e-6, atol=1e-7, err_msg=name)


def test_one_sgd_batch_is_a_gradient_step():
    """A batch holding every rating moves each parameter by −lr × the full gradient."""
    params, users, items, ratings = random_problem(seed=1)
    stepped = {name: np.copy(value) for name, value in params.items()}
    sgd_step(stepped, users, items, ratings, learning_rate=0.01, l2=0.2, l2_bias=0.05)
    gradients = mf_gradients(params, users, items, ratings, 0.2, 0.05)
    for name, gradient in gradients.items():
        np.testing.assert_allclose(stepped[name], params[name] - 0.01 * gradient, atol=1e-12)


def test_add_rows_sums_repeated_rows():
    target = np.zeros((3, 2))
    add_rows(target, np.array([2, 0, 2]), np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]))
    np.testing.assert_array_equal(target, [[3, 4], [0, 0], [6, 8]])


def test_als_half_step_solves_each_rows_normal_equations():
    """Row by row: (A_nᵀA_n + c_n Λ) x_n = A_nᵀ y_n, and a row without ratings gets 0."""
    rng = np.random.default_rng(2)
    observed = rng.random((6, 5)) < 0.5
    observed[3] = False  # a row without ratings
    mask = sp.csr_matrix(observed.astype(float))
    targets = mask.multiply(rng.normal(size=mask.shape)).tocsr()
    fixed, penalty = rng.normal(size=(5, 2)), np.array([0.3, 0.3, 0.1])
    solved = als_half_step(mask, targets, fixed, penalty)
    augmented = np.hstack([fixed, np.ones((5, 1))])
    for row in range(6):
        rated = mask[row].toarray().ravel() > 0
        a, y = augmented[rated], targets[row].toarray().ravel()[rated]
        system = a.T @ a + max(rated.sum(), 1) * np.diag(penalty)
        np.testing.assert_allclose(solved[row], np.linalg.solve(system, a.T @ y), atol=1e-12)
    np.testing.assert_array_equal(solved[3], 0)


def test_als_half_steps_are_exact_minimisers():
    """ALS ends with an item step, so the gradient of L for every item parameter is zero."""
    data = synthetic_ratings(n_users=60, n_items=40, rank=2, seed=3)
    frame = data.ratings
    model = ALSMatrixFactorization(n_factors=2, l2=0.3, l2_bias=0.1, epochs=3)
    model.fit(frame, data.n_users, data.n_items)
    gradients = mf_gradients(model.parameters(), frame["user"], frame["item"],
                             frame["rating"], 0.3, 0.1)
    np.testing.assert_allclose(gradients["item_factors"], 0, atol=1e-9)
    np.testing.assert_allclose(gradients["item_bias"], 0, atol=1e-9)
    assert np.abs(gradients["user_factors"]).max() > 1e-6  # the users moved after their solve


def test_als_objective_never_increases():
    data = synthetic_ratings(n_users=80, n_items=50, rank=3, seed=4)
    frame = data.ratings
    losses = []
    for epochs in range(1, 6):
        model = ALSMatrixFactorization(n_factors=3, l2=0.2, epochs=epochs)
        model.fit(frame, data.n_users, data.n_items)
        losses.append(mf_loss(model.parameters(), frame["user"], frame["item"],
                              frame["rating"], 0.2, model.l2_bias))
    assert np.all(np.diff(losses) <= 1e-9)
    # curves_ records the same objective, per rating, after every epoch.
    np.testing.assert_allclose(model.curves_["loss"] * len(frame), losses)


# Planted low-rank data: 300 users × 200 items, rank 3, each user rates 30% of the items,
# noise σ = 0.1. A model of rank 3 must recover the *whole* true matrix (observed or not)
# to an RMSE (over all 60,000 cells) below 0.2, a sixth of the ratings' spread around 3.
PLANTED = dict(n_users=300, n_items=200, rank=3, density=0.3, noise=0.1, seed=0)
PLANTED_TOLERANCE = 0.2


@pytest.fixture(scope="module")
def planted():
    return synthetic_ratings(**PLANTED)


def full_matrix_rmse(model, data):
    users, items = np.meshgrid(np.arange(data.n_users), np.arange(data.n_items), indexing="ij")
    predicted = model.score_items(np.arange(data.n_users))  # unclipped r̂ for every cell
    assert predicted.shape == users.shape
    return float(np.sqrt(np.mean((predicted - data.true_ratings) ** 2)))


@pytest.mark.parametrize("model", [
    ALSMatrixFactorization(n_factors=3, l2=0.01, l2_bias=0.01, epochs=15),
    SGDMatrixFactorization(n_factors=3, learning_rate=0.02, l2=0.01, l2_bias=0.01, epochs=60),
], ids=["ALS", "SGD"])
def test_numpy_models_recover_a_planted_low_rank_matrix(model, planted):
    model.fit(planted.ratings, planted.n_users, planted.n_items)
    assert full_matrix_rmse(model, planted) < PLANTED_TOLERANCE
    # ... far better than the same model without factors (biases only carry no interaction).
    no_factors = planted.true_ratings - planted.true_ratings.mean()
    assert PLANTED_TOLERANCE < float(np.sqrt(np.mean(no_factors ** 2)))


def test_keras_model_recovers_a_planted_low_rank_matrix(planted):
    model = KerasMatrixFactorization(n_factors=3, l2=0.001, l2_bias=0.001,
                                     learning_rate=0.02, batch_size=512, epochs=60,
                                     patience=5)
    model.fit(planted.ratings, planted.n_users, planted.n_items)
    assert full_matrix_rmse(model, planted) < PLANTED_TOLERANCE
    # The NumPy attributes copied out of the layers give the network's own predictions.
    users = planted.ratings["user"].to_numpy()[:200]
    items = planted.ratings["item"].to_numpy()[:200]
    from_keras = model.network_.predict({"user": users.astype("int32"),
                                         "item": items.astype("int32")}, verbose=0)[:, 0]
    np.testing.assert_allclose(model._raw(users, items), from_keras, atol=1e-4)
    assert model.user_factors_.shape == (planted.n_users, 3)
    assert model.item_bias_.shape == (planted.n_items,)
    curves = model.curves_
    assert list(curves.columns) == ["loss", "train_RMSE", "held_out_RMSE"]
    assert model.best_epoch_ == curves["held_out_RMSE"].idxmin()
    assert len(curves) == model.epochs or len(curves) - model.best_epoch_ == model.patience


def test_fitted_attributes_and_interface():
    data = synthetic_ratings(n_users=30, n_items=20, seed=5)
    model = ALSMatrixFactorization(n_factors=4, epochs=3).fit(data.ratings, 30, 20)
    assert isinstance(model.global_mean_, float)
    assert model.user_bias_.shape == (30,) and model.item_bias_.shape == (20,)
    assert model.user_factors_.shape == (30, 4) and model.item_factors_.shape == (20, 4)
    scores = model.score_items([0, 5])
    assert scores.shape == (2, 20)
    predicted = model.predict([0, 5], [3, 7])
    np.testing.assert_allclose(predicted, np.clip([scores[0, 3], scores[1, 7]],
                                                  *model.rating_range_))
    big = model.predict(np.repeat(np.arange(30), 20), np.tile(np.arange(20), 30))
    np.testing.assert_allclose(big, np.clip(model.score_items(np.arange(30)).ravel(),
                                            *model.rating_range_))


def test_validation_curves_are_recorded():
    data = synthetic_ratings(n_users=60, n_items=40, seed=6)
    train, valid = rating_split(data.ratings, seed=1)
    model = SGDMatrixFactorization(n_factors=2, epochs=4)
    model.fit(train, 60, 40, valid=Validation(train, valid, "RATING"))
    curves = model.curves_
    assert list(curves.columns) == ["loss", "train_RMSE", "RMSE", "MAE"]
    assert list(curves.index) == [1, 2, 3, 4] and curves.index.name == "epoch"
    assert curves["train_RMSE"].iloc[-1] < curves["train_RMSE"].iloc[0]
    # The last row is what evaluating the fitted model on the validation split gives.
    from recsys_lab.evaluate import evaluate

    final = evaluate(model, train, valid, "RATING", fitted=True)
    assert curves["RMSE"].iloc[-1] == pytest.approx(final["RMSE"])


def test_same_seed_same_model():
    data = synthetic_ratings(n_users=40, n_items=30, seed=7)
    first = SGDMatrixFactorization(n_factors=3, epochs=3, seed=4).fit(data.ratings, 40, 30)
    again = SGDMatrixFactorization(n_factors=3, epochs=3, seed=4).fit(data.ratings, 40, 30)
    np.testing.assert_array_equal(first.item_factors_, again.item_factors_)


def test_als_gives_unrated_items_zero_factors_and_bias():
    data = synthetic_ratings(n_users=40, n_items=30, seed=8)
    train = data.ratings[data.ratings["item"] != 7]
    model = ALSMatrixFactorization(n_factors=3, epochs=4).fit(train, 40, 30)
    assert model.item_bias_[7] == 0 and np.all(model.item_factors_[7] == 0)
    np.testing.assert_allclose(model.predict([2], [7]),
                               model.global_mean_ + model.user_bias_[2])


@pytest.mark.parametrize("model", [SGDMatrixFactorization(), ALSMatrixFactorization()],
                         ids=["SGD", "ALS"])
@pytest.mark.parametrize("frame, message", [
    (pd.DataFrame({"user": [0], "item": [0], "rating": [np.nan]}), "NaN"),
    (pd.DataFrame({"user": [0], "item": [0]}), "missing column"),
    (pd.DataFrame({"user": [0], "item": [9], "rating": [3.0]}), "unknown id 9"),
    (pd.DataFrame({"user": [], "item": [], "rating": []}), "empty"),
])
def test_bad_input_raises_value_error_naming_the_problem(model, frame, message):
    with pytest.raises(ValueError, match=message):
        model.fit(frame, 3, 3)


def test_bad_settings_and_validation_frames_raise():
    frame = pd.DataFrame({"user": [0, 1], "item": [0, 1], "rating": [3.0, 4.0]})
    with pytest.raises(ValueError, match="l2 must be a number > 0"):
        ALSMatrixFactorization(l2=0.0).fit(frame, 2, 2)
    with pytest.raises(ValueError, match="learning_rate must be a number > 0"):
        SGDMatrixFactorization(learning_rate=-1).fit(frame, 2, 2)
    with pytest.raises(ValueError, match="epochs must be an integer ≥ 1, got 0.5"):
        ALSMatrixFactorization(epochs=0.5).fit(frame, 2, 2)
    with pytest.raises(ValueError, match="valid must be a function"):
        SGDMatrixFactorization().fit(frame, 2, 2, valid=frame)
    with pytest.raises(ValueError, match="validation_fraction must be a number > 0 and < 1"):
        KerasMatrixFactorization(validation_fraction=1.5).fit(frame, 2, 2)
    with pytest.raises(ValueError, match="not fitted"):
        ALSMatrixFactorization().predict([0], [0])
    with pytest.raises(ValueError, match="unknown item id"):
        ALSMatrixFactorization(epochs=1).fit(frame, 2, 2).predict([0], [2])


def test_keras_model_on_a_handful_of_ratings_gives_a_clear_error():
    frame = pd.DataFrame({"user": [0, 1, 1], "item": [0, 1, 0], "rating": [3.0, 4.0, 2.0]})
    with pytest.raises(ValueError, match="of only 3 ratings that is 0"):
        KerasMatrixFactorization().fit(frame, 2, 2)
    with pytest.raises(ValueError, match="validation_fraction=0.9 of train"):
        KerasMatrixFactorization(validation_fraction=0.9).fit(frame, 2, 2)


def test_implicit_als_fits_ones_and_sampled_zeros():
    data = synthetic_ratings(n_users=60, n_items=40, rank=2, density=0.2, seed=10)
    train, valid = topn_split(data.ratings, seed=1)
    model = ImplicitALS(n_factors=4, epochs=3)
    model.fit(train, 60, 40, valid=Validation(train, valid, "TOPN", metrics=["NDCG@10"]))
    assert list(model.curves_.columns) == ["loss", "train_RMSE", "NDCG@10"]
    assert model.mf_.l2 == model.mf_.l2_bias == model.l2
    np.testing.assert_allclose(model.score_items([3]), model.mf_.score_items([3]))
    targets = implicit_targets(model.history_, np.arange(40), 2, seed=0)
    positives = targets[targets["rating"] == 1]
    assert len(positives) == model.history_.nnz
    zeros = targets[targets["rating"] == 0]
    assert not np.asarray(model.history_[zeros["user"], zeros["item"]]).any()
