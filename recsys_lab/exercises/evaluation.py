"""Checks for chapter 1's exercises: density, Recall@K, NDCG@K, popularity scores."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from recsys_lab.exercises import Feedback, call_safely, check_cases


def _reference_recall(ranked, relevant, k):
    hits = len(set(ranked[:k]) & set(relevant))
    return hits / min(k, len(relevant))


def _reference_ndcg(ranked, relevant, k):
    relevant = set(relevant)
    dcg = sum(1 / math.log2(rank + 2) for rank, item in enumerate(ranked[:k]) if item in relevant)
    ideal = sum(1 / math.log2(rank + 2) for rank in range(min(k, len(relevant))))
    return dcg / ideal


_RANKING_CASES = [
    ([3, 1, 4, 5, 9], [1, 9], 5),
    ([3, 1, 4, 5, 9], [1, 9], 2),
    ([7, 8, 2, 6], [2, 6, 0, 1, 5], 3),
    ([0, 2, 4], [5], 3),
    ([5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15], [5, 6], 10),
]


def check_recall_at_k(function: Callable) -> Feedback:
    """Grade ``function(ranked, relevant, k) -> float``: Recall@K of one user's list."""
    return check_cases("recall_at_k", function, _RANKING_CASES, _reference_recall,
                        "count the relevant items among ranked[:k], then divide by "
                        "min(k, len(relevant)), not by k or by len(relevant).")


def check_ndcg_at_k(function: Callable) -> Feedback:
    """Grade ``function(ranked, relevant, k) -> float``: binary NDCG@K of one user's list."""
    return check_cases("ndcg_at_k", function, _RANKING_CASES, _reference_ndcg,
                        "the item at 0-based position p earns 1 / log2(p + 2); the ideal "
                        "list puts min(k, len(relevant)) hits at the top.")


def check_density(value, n_ratings: int, n_users: int, n_items: int) -> Feedback:
    """Grade the share of the user × item matrix that is observed (a number in [0, 1])."""
    expected = n_ratings / (n_users * n_items)
    try:
        value = float(value)
    except (TypeError, ValueError):
        return Feedback(False, f"expected a number, got {value!r}")
    if math.isclose(value, expected, rel_tol=1e-3):
        return Feedback(True, f"density = {expected:.4f}: {100 * (1 - expected):.1f}% of the "
                              "matrix is unknown.")
    if math.isclose(value, 1 - expected, rel_tol=1e-3):
        return Feedback(False, "that is the sparsity (the share missing), not the density.")
    return Feedback(False, f"{value!r} is not the density. Hint: divide the number of ratings "
                           "by the number of cells of the user × item matrix.")


def check_popularity_scores(function: Callable, train, n_items: int) -> Feedback:
    """Grade ``function(train, n_items) -> array (n_items,)`` of training interaction counts."""
    expected = np.bincount(train["item"].to_numpy(), minlength=n_items)
    got, error = call_safely(function, train, n_items)
    if error:
        return Feedback(False, f"your function raised {error}")
    got = np.asarray(got)
    if got.shape != expected.shape:
        return Feedback(False, f"expected shape {expected.shape} (one count per item), got "
                               f"{got.shape}. Hint: items nobody rated need a 0 too "
                               "(np.bincount's minlength).")
    if not np.allclose(got, expected):
        wrong = int(np.flatnonzero(~np.isclose(got, expected))[0])
        return Feedback(False, f"item {wrong} should score {expected[wrong]}, got {got[wrong]}.")
    return Feedback(True, f"correct: the most popular item has {expected.max()} interactions.")
