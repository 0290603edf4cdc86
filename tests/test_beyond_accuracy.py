"""Beyond-accuracy measures (recsys_lab.beyond_accuracy) on hand-computed cases."""

import math

import numpy as np
import pytest
import scipy.sparse as sp

from recsys_lab.beyond_accuracy import (
    calibration_kl,
    genre_mix,
    gini,
    intra_list_diversity,
    item_exposure,
    list_genre_mix,
    long_tail_items,
    long_tail_share,
    novelty,
)

# Items 0 and 1 share genre A; item 1 is also B; item 2 is B only; item 3 has no genre.
GENRES = np.array([[1, 0], [1, 1], [0, 1], [0, 0]], dtype=float)


def test_item_exposure_counts_lists():
    assert item_exposure([[0, 1], [1, 2]], 4).tolist() == [1, 2, 1, 0]


@pytest.mark.parametrize("values, expected", [
    ([0, 0, 0, 1], 3 / 4),    # one item takes everything: (n - 1) / n
    ([1, 1, 1], 0.0),         # equal exposure
    ([3, 1, 2], 2 / 9),       # sorted 1, 2, 3: (-2·1 + 0·2 + 2·3) / (3 · 6)
])
def test_gini_hand_computed(values, expected):
    assert gini(values) == pytest.approx(expected)


def test_gini_rejects_bad_input():
    with pytest.raises(ValueError, match="all zero"):
        gini([0, 0])
    with pytest.raises(ValueError, match="non-negative"):
        gini([1, -1])
    with pytest.raises(ValueError, match="1-D"):
        gini([[1, 2]])


def test_long_tail_items_and_share():
    # ceil(0.4 · 5) = 2 head items: item 0 (5), then item 2 (3, lower id than item 3).
    tail = long_tail_items([5, 1, 3, 3, 0], head_fraction=0.4)
    assert tail.tolist() == [False, True, False, True, True]
    assert long_tail_share([[0, 1], [3, 4]], tail).tolist() == [0.5, 1.0]
    with pytest.raises(ValueError, match="head_fraction"):
        long_tail_items([1, 2], head_fraction=1.0)
    with pytest.raises(ValueError, match="boolean"):
        long_tail_share([[0]], np.array([0, 1]))


def test_novelty_is_mean_self_information():
    # p = (3 + 1) / 4 = 1 -> 0 bits; p = (0 + 1) / 4 -> 2 bits.
    assert novelty([[0, 1], [1, 1]], [3, 0], n_users=3).tolist() == [1.0, 2.0]
    with pytest.raises(ValueError, match="count users"):
        novelty([[0]], [5, 0], n_users=3)


def test_intra_list_diversity_hand_computed():
    lists = np.array([[0, 2, 2], [0, 1, 2], [0, 3, 3]])
    # [0, 2, 2]: cosines 0, 0, 1 -> mean 1/3; [0, 1, 2]: 1/√2, 0, 1/√2; item 3: no genre -> 0.
    expected = [1 - 1 / 3, 1 - math.sqrt(2) / 3, 1 - 0.0]
    assert intra_list_diversity(lists, GENRES) == pytest.approx(expected)
    with pytest.raises(ValueError, match="at least 2"):
        intra_list_diversity([[0]], GENRES)
    with pytest.raises(ValueError, match="outside"):
        intra_list_diversity([[0, 4]], GENRES)


def test_genre_mix_of_history_and_of_list():
    # Item 0 gives A all its mass; item 1 half to A, half to B: (1.5, 0.5) / 2.
    history = sp.csr_matrix([[1, 1, 0, 0], [0, 0, 0, 1]])
    mix = genre_mix(history, GENRES)
    assert mix.tolist() == [[0.75, 0.25], [0.0, 0.0]]  # item 3 has no genre: a zero row
    assert list_genre_mix([[0, 1]], GENRES).tolist() == [[0.75, 0.25]]
    with pytest.raises(ValueError, match="interactions must be"):
        genre_mix(np.ones((1, 3)), GENRES)


def test_calibration_kl_hand_computed():
    # q̃ = 0.9 · (1, 0) + 0.1 · (0.5, 0.5) = (0.95, 0.05).
    expected = 0.5 * math.log(0.5 / 0.95) + 0.5 * math.log(0.5 / 0.05)
    assert calibration_kl([0.5, 0.5], [1.0, 0.0], alpha=0.1) == pytest.approx(expected)
    p = np.array([[0.2, 0.8], [1.0, 0.0]])
    assert calibration_kl(p, p) == pytest.approx([0.0, 0.0])
    # A genre absent from the history adds nothing, whatever the list holds.
    assert calibration_kl([1.0, 0.0], [0.5, 0.5], alpha=0.5) == pytest.approx(
        math.log(1 / 0.75))
    with pytest.raises(ValueError, match="alpha"):
        calibration_kl([1.0], [1.0], alpha=0)
    with pytest.raises(ValueError, match="one shape"):
        calibration_kl([1.0, 0.0], [1.0])
