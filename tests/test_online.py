"""The TEMPORAL protocol: the global time cut, fold-in and prequential evaluation."""

import numpy as np
import pandas as pd
import pytest

from recsys_lab.datasets import synthetic_ratings
from recsys_lab.models.mf import ALSMatrixFactorization
from recsys_lab.online import Frozen, Incremental, Retrain, fold_in_rows, prequential
from recsys_lab.splits import temporal_split


def frame_with_times(timestamps):
    n = len(timestamps)
    return pd.DataFrame({"user": np.arange(n) % 2, "item": np.arange(n), "rating": 3.0,
                         "timestamp": timestamps})


def test_temporal_split_by_hand():
    # Sorted times 1, 3, 3, 5, 9; position round(0.4 · 5) = 2 holds 3, so the cut is 3:
    # only the rating at time 1 trains, and both ratings at time 3 stream.
    train, stream = temporal_split(frame_with_times([5, 1, 3, 3, 9]), train_fraction=0.4)
    assert train.index.tolist() == [1]
    assert stream.index.tolist() == [2, 3, 0, 4]           # time order, ties in input order


@pytest.mark.parametrize("timestamps, fraction, fragment", [
    ([1, 2, 3], 1.0, "train_fraction"), ([1, 2, 3], 0.1, "empty"),
    ([4, 4, 4, 4], 0.5, "first timestamp"),
])
def test_temporal_split_bad_input(timestamps, fraction, fragment):
    with pytest.raises(ValueError, match=fragment):
        temporal_split(frame_with_times(timestamps), train_fraction=fraction)


def test_temporal_split_needs_timestamps():
    with pytest.raises(ValueError, match="timestamp"):
        temporal_split(frame_with_times([1, 2]).drop(columns="timestamp"))


def test_fold_in_by_hand():
    # One user, items with q = 1 and 2, targets 1 and 2, λ = λ_b = 0.5, two ratings:
    # [[5, 3], [3, 2]] + 2 · 0.5 I = [[6, 3], [3, 3]], right side [5, 3], x = [2/3, 1/3].
    x = fold_in_rows([0, 0], [0, 1], [1.0, 2.0], np.array([[1.0], [2.0]]), 2, 0.5, 0.5)
    np.testing.assert_allclose(x, [[2 / 3, 1 / 3], [0.0, 0.0]])   # row 1 has no rating


def test_fold_in_bad_input():
    with pytest.raises(ValueError, match="one length"):
        fold_in_rows([0], [0, 1], [1.0], np.ones((2, 1)), 1, 0.1, 0.1)


def stream_setup():
    data = synthetic_ratings(n_users=40, n_items=30, seed=2)
    ratings = data.ratings.assign(
        timestamp=np.random.default_rng(0).permutation(len(data.ratings)))
    return temporal_split(ratings), 40, 30


class Recorder(Frozen):
    """Records what it had learned when each batch was predicted."""

    def start(self, train, n_users, n_items):
        super().start(train, n_users, n_items)
        self.learned, self.seen_sizes = [], []
        model, recorder = self.model_, self
        original = model.predict

        def predict(users, items):
            recorder.learned.append(len(recorder.seen_sizes))
            return original(users, items)

        model.predict = predict

    def learn(self, batch, seen):
        self.seen_sizes.append(len(seen))


def test_prequential_predicts_each_batch_before_learning_it():
    (train, stream), n_users, n_items = stream_setup()
    recorder = Recorder(ALSMatrixFactorization(epochs=2))
    result = prequential(recorder, train, stream, n_users, n_items, n_batches=4)
    assert recorder.learned == [0, 1, 2, 3]
    sizes = result.curve["ratings"].to_numpy()
    assert sizes.sum() == len(stream) and sizes.max() - sizes.min() <= 1
    assert recorder.seen_sizes == (len(train) + np.cumsum(sizes)).tolist()
    assert result.squared_errors.shape == (len(stream),)
    rmse = np.sqrt(result.squared_errors[:sizes[0]].mean())
    assert result.curve["RMSE"].iloc[0] == pytest.approx(rmse)
    assert result.curve["cumulative_RMSE"].iloc[-1] == pytest.approx(
        np.sqrt(result.squared_errors.mean()))


def test_retrain_refits_every_n_batches():
    (train, stream), n_users, n_items = stream_setup()
    strategy = Retrain(ALSMatrixFactorization(epochs=2), every=2)
    strategy.start(train, n_users, n_items)
    models = [strategy.model_]
    for number in range(4):
        strategy.learn(stream.iloc[number * 10:(number + 1) * 10], train)
        models.append(strategy.model_)
    assert [models[k] is models[k - 1] for k in range(1, 5)] == [True, False, True, False]


def test_incremental_folds_in_a_new_user():
    (train, stream), n_users, n_items = stream_setup()
    train = train[train["user"] != 7]                          # user 7 first appears later
    strategy = Incremental(ALSMatrixFactorization(epochs=3), sgd_epochs=0)
    strategy.start(train, n_users, n_items)
    model = strategy.model_
    assert np.all(model.user_factors_[7] == 0)
    batch = stream[stream["user"] == 7]
    strategy.learn(batch, pd.concat([train, batch]))
    targets = batch["rating"].to_numpy() - model.global_mean_ - model.item_bias_[batch["item"]]
    expected = fold_in_rows(np.zeros(len(batch), int), batch["item"], targets,
                            model.item_factors_, 1, model.l2, model.l2_bias)[0]
    np.testing.assert_allclose(np.r_[model.user_factors_[7], model.user_bias_[7]], expected)
    assert strategy.folded_in_["users"] == 1


def test_incremental_sgd_moves_the_batchs_parameters():
    (train, stream), n_users, n_items = stream_setup()
    strategy = Incremental(ALSMatrixFactorization(epochs=3), sgd_epochs=3, learning_rate=0.05,
                           fold_in=False)
    strategy.start(train, n_users, n_items)
    before = strategy.model_.item_factors_.copy()
    batch = stream.iloc[:20]
    strategy.learn(batch, pd.concat([train, batch]))
    moved = np.flatnonzero(np.any(strategy.model_.item_factors_ != before, axis=1))
    assert set(moved) == set(batch["item"])


def test_prequential_rejects_an_unsorted_stream():
    (train, stream), n_users, n_items = stream_setup()
    with pytest.raises(ValueError, match="time order"):
        prequential(Frozen(ALSMatrixFactorization()), train, stream.iloc[::-1], n_users,
                    n_items)
