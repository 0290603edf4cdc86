"""Per-example clipping, the DP-SGD matrix factorisation and the membership-inference attack."""

import numpy as np
import pandas as pd
import pytest

from recsys_lab.accountant import dp_sgd_epsilon
from recsys_lab.datasets import synthetic_ratings
from recsys_lab.models.private import DPSGDMatrixFactorization
from recsys_lab.privacy import clip_rows, loss_threshold_attack, membership_auc
from recsys_lab.scratch.mf import sgd_step


def test_clip_rows_by_hand():
    clipped, norms = clip_rows([[3.0, 4.0], [0.3, 0.4], [0.0, 0.0]], 1.0)
    np.testing.assert_allclose(clipped, [[0.6, 0.8], [0.3, 0.4], [0.0, 0.0]])
    np.testing.assert_allclose(norms, [5.0, 0.5, 0.0])


@pytest.mark.parametrize("gradients, clip_norm, fragment", [
    ([1.0, 2.0], 1.0, "2-D"), ([[np.nan, 1.0]], 1.0, "NaN"), ([[1.0, 1.0]], 0.0, "clip_norm"),
])
def test_clip_rows_bad_input(gradients, clip_norm, fragment):
    with pytest.raises(ValueError, match=fragment):
        clip_rows(gradients, clip_norm)


def test_membership_auc_by_hand():
    # Pairs (member, non-member): 0 < 2, 0 < 0.5, 1 < 2 are "member wins", 1 > 0.5 is not.
    assert membership_auc([0.0, 1.0], [2.0, 0.5]) == 0.75
    assert membership_auc([1.0], [1.0]) == 0.5            # a tie counts one half
    assert membership_auc([5.0, 6.0], [1.0]) == 0.0
    with pytest.raises(ValueError, match="empty"):
        membership_auc([], [1.0])


class Memoriser:
    """Predicts training ratings exactly and 3 for everything else."""

    def __init__(self, train):
        self.known = {(u, i): r for u, i, r in train[["user", "item", "rating"]].itertuples(
            index=False)}

    def predict(self, users, items):
        return np.array([self.known.get((u, i), 3.0) for u, i in zip(users, items,
                                                                     strict=True)])


def test_the_attack_finds_a_memorising_model():
    frame = synthetic_ratings(n_users=30, n_items=20, seed=1).ratings
    members, others = frame.iloc[:60], frame.iloc[60:120]
    attack = loss_threshold_attack(Memoriser(members), members, others)
    assert attack.auc == 1.0 and attack.low == attack.high == 1.0  # Hanley–McNeil: SE 0 at 1
    half = loss_threshold_attack(Memoriser(members.iloc[:30]), members, others)
    assert 0.5 < half.auc < 1 and half.low < half.auc < half.high
    assert (attack.n_members, attack.n_non_members) == (60, 60)


def tiny_frame():
    return pd.DataFrame({"user": [0, 0, 1], "item": [0, 1, 1], "rating": [5.0, 1.0, 4.0]})


def test_without_noise_or_clipping_a_step_is_an_sgd_step():
    model = DPSGDMatrixFactorization(n_factors=2, learning_rate=0.05, epochs=1,
                                     sampling_rate=1.0, clip_norm=1e6, noise_multiplier=0.0,
                                     seed=3).fit(tiny_frame(), 2, 3)
    rng = np.random.default_rng(3)
    params = {"global_mean": 3.0, "user_factors": rng.normal(0, 0.1, (2, 2)),
              "item_factors": rng.normal(0, 0.1, (3, 2)), "user_bias": np.zeros(2),
              "item_bias": np.zeros(3)}
    frame = tiny_frame()
    sgd_step(params, frame["user"].to_numpy(), frame["item"].to_numpy(),
             frame["rating"].to_numpy(), 0.05, model.l2, model.l2_bias)
    for name in ("user_factors", "item_factors", "user_bias", "item_bias"):
        np.testing.assert_allclose(getattr(model, name + "_"), params[name], atol=1e-12)


def test_clipping_bounds_one_ratings_step():
    # One rating, far from the prediction: its gradient is clipped to C, so the step of all
    # its parameters together has norm γ C exactly.
    frame = pd.DataFrame({"user": [0], "item": [0], "rating": [5.0]})
    model = DPSGDMatrixFactorization(n_factors=3, learning_rate=0.1, epochs=1,
                                     sampling_rate=1.0, clip_norm=0.01, noise_multiplier=0.0,
                                     seed=0).fit(frame, 1, 1)
    rng = np.random.default_rng(0)
    start = np.r_[rng.normal(0, 0.1, 3), rng.normal(0, 0.1, 3), 0.0, 0.0]
    end = np.r_[model.user_factors_[0], model.item_factors_[0], model.user_bias_[0],
                model.item_bias_[0]]
    assert np.linalg.norm(end - start) == pytest.approx(0.1 * 0.01, rel=1e-9)
    assert model.curves_["clipped_share"].iloc[0] == 1.0


def test_noise_reaches_rows_no_rating_touched():
    model = DPSGDMatrixFactorization(n_factors=4, learning_rate=0.1, epochs=1, sampling_rate=1.0,
                                     clip_norm=2.0, noise_multiplier=1.5, init_std=0.0,
                                     seed=0).fit(tiny_frame(), 2, 4000)
    untouched = model.item_factors_[2:]                  # items 2.. have no rating
    assert untouched.std() == pytest.approx(0.1 * 1.5 * 2.0, rel=0.03)   # γ σ C


def test_epsilon_is_the_accountants():
    model = DPSGDMatrixFactorization(epochs=2, sampling_rate=0.25, noise_multiplier=1.2).fit(
        tiny_frame(), 2, 3)
    assert model.steps_per_epoch == 4
    assert model.epsilon(1e-5) == dp_sgd_epsilon(1.2, 0.25, 8, 1e-5)
    no_noise = DPSGDMatrixFactorization(epochs=1, noise_multiplier=0.0).fit(tiny_frame(), 2, 3)
    assert no_noise.epsilon(1e-5) == np.inf


def test_learns_on_synthetic_ratings():
    data = synthetic_ratings(n_users=60, n_items=40, seed=0)
    model = DPSGDMatrixFactorization(epochs=8, sampling_rate=0.1, noise_multiplier=0.5,
                                     learning_rate=0.01).fit(data.ratings, 60, 40)
    assert model.curves_["train_RMSE"].iloc[-1] < model.curves_["train_RMSE"].iloc[0]
    assert model.predict([0, 1], [0, 1]).shape == (2,)


@pytest.mark.parametrize("setting", [{"sampling_rate": 0.0}, {"sampling_rate": 1.5},
                                     {"clip_norm": 0.0}, {"noise_multiplier": -1.0}])
def test_bad_settings_are_named(setting):
    with pytest.raises(ValueError, match=next(iter(setting))):
        DPSGDMatrixFactorization(**setting).fit(tiny_frame(), 2, 3)
