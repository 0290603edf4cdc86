"""Checks for chapter 1's exercises: density, Recall@K, NDCG@K, popularity scores."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from recsys_lab.exercises import (
    Feedback,
    _as_number,
    _grader,
    _not_a_function,
    _show,
)
from recsys_lab.exercises import as_float_array as _as_float_array
from recsys_lab.exercises import call_safely as _call_safely
from recsys_lab.exercises import check_cases as _check_cases


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


@_grader
def check_recall_at_k(function: Callable) -> Feedback:
    """Grade ``function(ranked, relevant, k) -> float``: Recall@K of one user's list."""
    return _check_cases("recall_at_k", function, _RANKING_CASES, _reference_recall,
                        "count the relevant items among ranked[:k], then divide by "
                        "min(k, len(relevant)), not by k or by len(relevant).")


@_grader
def check_ndcg_at_k(function: Callable) -> Feedback:
    """Grade ``function(ranked, relevant, k) -> float``: binary NDCG@K of one user's list."""
    return _check_cases("ndcg_at_k", function, _RANKING_CASES, _reference_ndcg,
                        "the item at 0-based position p earns 1 / log2(p + 2); the ideal "
                        "list puts min(k, len(relevant)) hits at the top.")


@_grader
def check_density(value, n_ratings: int, n_users: int, n_items: int) -> Feedback:
    """Grade the share of the user × item matrix that is observed (a number in [0, 1])."""
    expected = n_ratings / (n_users * n_items)
    number = _as_number(value)
    if number is None:
        return Feedback(False, f"expected a number, got {_show(value)}")
    if math.isclose(number, expected, rel_tol=1e-3):
        return Feedback(True, f"density = {expected:.4f}: {100 * (1 - expected):.1f}% of the "
                              "matrix is unknown.")
    if math.isclose(number, 1 - expected, rel_tol=1e-3):
        return Feedback(False, "that is the sparsity (the share missing), not the density.")
    return Feedback(False, f"{number!r} is not the density. Hint: divide the number of ratings "
                           "by the number of cells of the user × item matrix.")


@_grader
def check_popularity_scores(function: Callable, train, n_items: int) -> Feedback:
    """Grade ``function(train, n_items) -> array (n_items,)`` of training interaction counts."""
    if (not_a_function := _not_a_function("popularity_scores", function)) is not None:
        return not_a_function
    expected = np.bincount(train["item"].to_numpy(), minlength=n_items)
    got, error = _call_safely(function, train.copy(), n_items)  # a copy: the chapter's stays
    if error:
        return Feedback(False, f"your function raised {error}")
    got = _as_float_array(got)
    if got is None or got.shape != expected.shape:
        found = "no numbers" if got is None else f"shape {got.shape}"
        return Feedback(False, f"expected shape {expected.shape} (one count per item), got "
                               f"{found}. Hint: items nobody rated need a 0 too "
                               "(np.bincount's minlength).")
    if not np.allclose(got, expected):
        wrong = int(np.flatnonzero(~np.isclose(got, expected))[0])
        return Feedback(False, f"item {wrong} should score {expected[wrong]}, got {got[wrong]:g}.")
    return Feedback(True, f"correct: the most popular item has {expected.max()} interactions.")
