"""Explanations (recsys_lab.explain) on hand-computed cases."""

import numpy as np
import pytest
import scipy.sparse as sp

from recsys_lab.explain import because_you_watched, drops_out, leave_one_out_influence

W = np.array([[0.0, 0.2, 0.3],
              [0.1, 0.0, 0.7],
              [0.4, 0.5, 0.0]])


def test_because_you_watched_ranks_contributions():
    items, values = because_you_watched(W, np.array([0, 1]), 2, n=2)
    assert items.tolist() == [1, 0] and values.tolist() == [0.7, 0.3]
    items, _ = because_you_watched(sp.csr_matrix(W), np.array([0, 1]), 2)
    assert items.tolist() == [1]
    with pytest.raises(ValueError, match="in the history"):
        because_you_watched(W, np.array([0, 2]), 2)
    with pytest.raises(ValueError, match="n must"):
        because_you_watched(W, np.array([0]), 2, n=2)


def test_leave_one_out_influence_of_a_linear_model_is_its_weight():
    influence = leave_one_out_influence(lambda rows: rows @ W, np.array([0, 1]), 2, 3)
    assert influence == pytest.approx([0.3, 0.7])


def test_leave_one_out_influence_of_a_nonlinear_model():
    # s = (x W)²: full history 1.0² = 1; without item 0: 0.7² = 0.49; without 1: 0.3² = 0.09.
    influence = leave_one_out_influence(lambda rows: (rows @ W) ** 2, np.array([0, 1]), 2, 3)
    assert influence == pytest.approx([0.51, 0.91])
    with pytest.raises(ValueError, match="returned shape"):
        leave_one_out_influence(lambda rows: rows[:, :2], np.array([0, 1]), 2, 3)


def test_drops_out_hand_computed():
    weights = np.zeros((4, 4))
    weights[0, 1] = 1.0
    bias = np.array([0.0, 0.0, 0.5, 0.1])

    def score(rows):
        return rows @ weights + bias

    history = np.array([[1, 0, 0, 0]])
    # Without item 0, item 1 scores 0, below items 2 (0.5) and 3 (0.1); item 0 stays hidden.
    assert drops_out(score, history, np.array([0]), np.array([1]), k=2).tolist() == [True]
    assert drops_out(score, history, np.array([0]), np.array([1]), k=3).tolist() == [False]
    with pytest.raises(ValueError, match="not in its user's history"):
        drops_out(score, history, np.array([2]), np.array([1]), k=2)
    with pytest.raises(ValueError, match="recommended item is in"):
        drops_out(score, history, np.array([0]), np.array([0]), k=2)
