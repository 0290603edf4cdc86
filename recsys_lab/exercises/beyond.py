"""Checks for the exercises of "Who gets recommended, to whom, and why": the Gini coefficient
of exposure, Steck's calibration KL and one step of maximal marginal relevance."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from recsys_lab.beyond_accuracy import calibration_kl as _calibration_kl
from recsys_lab.beyond_accuracy import gini as _gini
from recsys_lab.exercises import Feedback, _grader
from recsys_lab.exercises import check_cases as _check_cases
from recsys_lab.rerank import mmr_gain as _mmr_gain

_GINI_CASES = [
    (np.array([0.0, 0.0, 0.0, 4.0]),),
    (np.array([3.0, 1.0, 2.0]),),  # unsorted: sort first
    (np.array([5.0, 5.0, 5.0, 5.0, 5.0]),),
    (np.array([0.0, 2.0, 1.0, 7.0, 0.0, 3.0]),),
]


@_grader
def check_exposure_gini(function: Callable) -> Feedback:
    """Grade ``function(exposure) -> float``: the Gini coefficient of a 1-D array of counts."""
    return _check_cases("exposure_gini", function, _GINI_CASES, _gini,
                        "sort the counts ascending, x_(1) ≤ … ≤ x_(n); then "
                        "G = Σ_i (2i − n − 1) x_(i) / (n Σ x), with i from 1 to n (not divided "
                        "by n − 1: one item holding everything gives (n − 1) / n).")


_KL_CASES = [
    (np.array([0.5, 0.5]), np.array([1.0, 0.0]), 0.01),
    (np.array([0.2, 0.3, 0.5]), np.array([0.5, 0.3, 0.2]), 0.1),
    (np.array([1.0, 0.0, 0.0]), np.array([0.0, 0.5, 0.5]), 0.05),
    (np.array([0.25, 0.25, 0.5]), np.array([0.25, 0.25, 0.5]), 0.01),
]


@_grader
def check_calibration_kl(function: Callable) -> Feedback:
    """Grade ``function(p, q, alpha) -> float``: ``KL(p ‖ (1 − α) q + α p)`` in nats."""
    return _check_cases("calibration_kl", function, _KL_CASES, _calibration_kl,
                        "smooth the list's mix first, q̃ = (1 − alpha) q + alpha p (mixing in "
                        "p, the history, not a uniform mix); then sum p log(p / q̃) over the "
                        "genres with p > 0, natural log: KL(p ‖ q̃), not KL(q̃ ‖ p).")


def _mmr_step(relevance, similarity, selected, weight) -> int:
    relevance = np.asarray(relevance, dtype=float)
    similarity = np.asarray(similarity, dtype=float)
    selected = list(selected)
    closest = similarity[:, selected].max(axis=1) if selected else np.zeros(len(relevance))
    gain = _mmr_gain(relevance, closest, weight)
    gain[selected] = -np.inf
    return int(np.argmax(gain))


_SIMILARITY = np.array([[1.0, 0.9, 0.1, 0.0, 0.6],
                        [0.9, 1.0, 0.2, 0.1, 0.5],
                        [0.1, 0.2, 1.0, 0.8, 0.0],
                        [0.0, 0.1, 0.8, 1.0, 0.3],
                        [0.6, 0.5, 0.0, 0.3, 1.0]])
_MMR_CASES = [
    (np.array([1.0, 0.9, 0.5, 0.4, 0.45]), _SIMILARITY, [], 0.5),       # first: relevance
    (np.array([1.0, 0.9, 0.5, 0.4, 0.45]), _SIMILARITY, [0], 0.5),      # item 1 is a near copy
    (np.array([1.0, 0.9, 0.5, 0.4, 0.45]), _SIMILARITY, [0], 0.1),      # little diversity
    (np.array([1.0, 0.5, 0.9, 0.6, 0.45]), _SIMILARITY, [0, 2], 0.5),   # max, not mean
    (np.array([0.2, 1.0, 0.9, 0.3, 0.0]), _SIMILARITY, [1, 2], 0.3),
]


@_grader
def check_mmr_step(function: Callable) -> Feedback:
    """Grade ``function(relevance, similarity, selected, weight) -> int``: MMR's next item.

    ``relevance`` ``(n,)``, ``similarity`` ``(n, n)``, ``selected`` a list of the indices
    already placed, ``weight`` λ: the unplaced index maximising
    ``(1 − λ) relevance[i] − λ max_{j ∈ selected} similarity[i, j]``.
    """
    return _check_cases("mmr_step", function, _MMR_CASES, _mmr_step,
                        "for each item not yet selected, gain = (1 − weight) · relevance − "
                        "weight · (its largest similarity to a selected item; 0 when none is "
                        "selected); return the index with the largest gain, never one "
                        "already selected.")
