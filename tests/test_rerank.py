"""Re-rankers (recsys_lab.rerank): MMR and calibrated lists on hand-computed cases."""

import math

import numpy as np
import pytest

from recsys_lab.rerank import calibrated, candidate_pool, mmr, mmr_gain

# Items 0, 1 and 3 are genre A, item 2 genre B; scores 4 > 3 > 2 > 1, so within a pool of
# all four items the relevance is (1, 2/3, 1/3, 0).
GENRES = np.array([[1, 0], [1, 0], [0, 1], [1, 0]], dtype=float)
SCORES = np.array([[4.0, 3.0, 2.0, 1.0]])


def test_candidate_pool_skips_hidden_items_and_rescales():
    items, relevance = candidate_pool(np.array([[3.0, 1.0, -np.inf, 2.0]]), pool=3)
    assert items.tolist() == [[0, 3, 1]]
    assert relevance.tolist() == [[1.0, 0.5, 0.0]]
    items, relevance = candidate_pool(np.array([[2.0, 2.0]]), pool=2)  # equal scores
    assert relevance.tolist() == [[1.0, 1.0]]
    with pytest.raises(ValueError, match="finite score"):
        candidate_pool(np.array([[1.0, -np.inf]]), pool=2)
    with pytest.raises(ValueError, match="NaN"):
        candidate_pool(np.array([[np.nan, 1.0]]), pool=1)


def test_mmr_gain():
    assert mmr_gain([1.0, 0.5], [0.0, 1.0], 0.25).tolist() == [0.75, 0.375 - 0.25]
    with pytest.raises(ValueError, match="weight"):
        mmr_gain([1.0], [0.0], 1.5)


@pytest.mark.parametrize("weight, expected", [
    (0.0, [0, 1]),   # scores alone
    # Second place: item 1 gains 0.5·2/3 − 0.5·1 = −1/6, item 2 gains 0.5·1/3 − 0 = 1/6.
    (0.5, [0, 2]),
    # Item 1: 0.8·2/3 − 0.2 ≈ 0.333 beats item 2: 0.8·1/3 ≈ 0.267.
    (0.2, [0, 1]),
])
def test_mmr_hand_computed(weight, expected):
    assert mmr(SCORES, GENRES, k=2, weight=weight, pool=4).tolist() == [expected]


def test_mmr_rejects_bad_input():
    with pytest.raises(ValueError, match="item_genres"):
        mmr(SCORES, GENRES[:3], k=2, pool=4)
    with pytest.raises(ValueError, match="k must"):
        mmr(SCORES, GENRES, k=5, pool=4)


@pytest.mark.parametrize("weight, expected", [
    (0.0, [0, 1]),
    # With item 1 the list is all A: KL = 0.5 ln(0.5/0.995) + 0.5 ln(0.5/0.005) ≈ 1.958;
    # with item 2 it is half and half: KL = 0. λ = 0.5: −0.646 against 0.167.
    (0.5, [0, 2]),
    # λ = 0.1: 0.9·2/3 − 0.1·1.958 ≈ 0.404 against 0.9·1/3 = 0.3.
    (0.1, [0, 1]),
])
def test_calibrated_hand_computed(weight, expected):
    target = np.array([[0.5, 0.5]])
    lists = calibrated(SCORES, GENRES, target, k=2, weight=weight, alpha=0.01, pool=4)
    assert lists.tolist() == [expected]


def test_calibrated_kl_of_the_hand_case():
    kl = 0.5 * math.log(0.5 / 0.995) + 0.5 * math.log(0.5 / 0.005)
    assert 0.9 * 2 / 3 - 0.1 * kl > 0.9 / 3 and 0.5 * 2 / 3 - 0.5 * kl < 0.5 / 3


def test_calibrated_rejects_a_bad_target():
    with pytest.raises(ValueError, match="target"):
        calibrated(SCORES, GENRES, np.array([0.5, 0.5]), k=2, pool=4)
