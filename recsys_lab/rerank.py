"""Re-ranking a model's scores into lists that are more diverse or better calibrated.

Both re-rankers start from a score matrix ``scores`` of shape ``(n_users, n_items)``, with
the items a user must not be shown (her training history) already set to ``-inf``, take
each user's ``pool`` best-scored items as candidates, and fill a list of ``k`` greedily,
one position at a time. So that one ``weight`` means the same for every model, the scores
are rescaled within each user's pool to a *relevance* in [0, 1] (best candidate 1, worst 0).

* :func:`mmr` — maximal marginal relevance (Carbonell & Goldstein 1998) over genres: the
  next item maximises ``(1 − λ) rel(i) − λ max_{j ∈ S} sim(i, j)``, where ``sim`` is the
  cosine similarity of genre vectors and ``S`` the items already placed
  (:func:`mmr_gain` is that trade-off for one step).
* :func:`calibrated` — Steck's (2018) calibrated recommendations: the next item maximises
  ``(1 − λ) rel(i) − λ KL(p ‖ q̃(S ∪ {i}))``, the greedy step of
  ``max_S (1 − λ) Σ_{i∈S} rel(i) − λ KL(p ‖ q̃(S))``, where ``p`` is the genre mix of the
  user's history and ``q̃`` the smoothed genre mix of the list
  (:func:`recsys_lab.beyond_accuracy.calibration_kl`).

``weight = 0`` returns the lists ranked by score alone; ties go to the better-scored item.
"""

from __future__ import annotations

import numpy as np

from recsys_lab.beyond_accuracy import calibration_kl

__all__ = ["calibrated", "candidate_pool", "mmr", "mmr_gain"]


def _check_weight(weight: float) -> float:
    if not 0 <= weight <= 1:
        raise ValueError(f"weight must lie in [0, 1] (0: scores only), got {weight}")
    return float(weight)


def _check_genres(item_genres, n_items: int) -> np.ndarray:
    item_genres = np.asarray(item_genres, dtype=float)
    if item_genres.ndim != 2 or len(item_genres) != n_items:
        raise ValueError(f"item_genres must be ({n_items}, n_genres), one row per item of "
                         f"scores, got shape {item_genres.shape}")
    if not np.all(np.isfinite(item_genres)) or (item_genres < 0).any():
        raise ValueError("item_genres must hold finite, non-negative numbers (0/1 memberships)")
    return item_genres


def candidate_pool(scores, pool: int = 100) -> tuple[np.ndarray, np.ndarray]:
    """Each user's ``pool`` best-scored items and their relevance in [0, 1].

    Parameters
    ----------
    scores : float array ``(n_users, n_items)``; ``-inf`` marks items not to show.
    pool : candidates per user; every user needs at least that many finite scores.

    Returns
    -------
    items : int array ``(n_users, pool)``, best first (equal scores: lower item id first).
    relevance : float array ``(n_users, pool)``, the scores rescaled within each row to
        ``(s − min) / (max − min)``; a row of equal scores gets relevance 1 throughout.
    """
    scores = np.asarray(scores, dtype=float)
    if scores.ndim != 2:
        raise ValueError(f"scores must be 2-D (n_users, n_items), got shape {scores.shape}")
    if np.isnan(scores).any() or np.isposinf(scores).any():
        raise ValueError("scores contain NaN or +inf")
    if int(pool) != pool or not 1 <= pool <= scores.shape[1]:
        raise ValueError(f"pool must be an integer in 1..{scores.shape[1]}, got {pool}")
    finite = np.isfinite(scores).sum(axis=1)
    if (finite < pool).any():
        raise ValueError(f"a user has only {finite.min()} items with a finite score, fewer "
                         f"than pool = {pool}")
    items = np.argsort(-scores, axis=1, kind="stable")[:, :pool]
    chosen = np.take_along_axis(scores, items, axis=1)
    low, high = chosen[:, -1:], chosen[:, :1]
    spread = high - low
    relevance = np.divide(chosen - low, spread, out=np.ones_like(chosen), where=spread > 0)
    return items, relevance


def mmr_gain(relevance, max_similarity, weight: float) -> np.ndarray:
    """MMR's value of each candidate: ``(1 − weight) · relevance − weight · max_similarity``.

    ``max_similarity`` is each candidate's largest similarity to the items already in the
    list (0 for the first position); arrays of one shape, returned elementwise.
    """
    weight = _check_weight(weight)
    return (1 - weight) * np.asarray(relevance, dtype=float) - weight * np.asarray(
        max_similarity, dtype=float)


def _check_k(k: int, pool: int) -> int:
    if int(k) != k or not 1 <= k <= pool:
        raise ValueError(f"k must be an integer in 1..pool = {pool}, got {k}")
    return int(k)


def mmr(scores, item_genres, *, k: int = 10, weight: float = 0.5,
        pool: int = 100) -> np.ndarray:
    """Maximal-marginal-relevance lists over genres: int array ``(n_users, k)``.

    ``item_genres`` ``(n_items, n_genres)``: similarity is the cosine of two items' genre
    vectors (an item with no genre is similar to nothing). ``weight`` λ in [0, 1] moves
    from the scores' own order (0) towards the most genre-diverse list (1). See the module
    docstring for ``scores`` and ``pool``.
    """
    weight = _check_weight(weight)
    items, relevance = candidate_pool(scores, pool)
    k = _check_k(k, items.shape[1])
    item_genres = _check_genres(item_genres, np.shape(scores)[1])
    norms = np.linalg.norm(item_genres, axis=1, keepdims=True)
    unit = np.divide(item_genres, norms, out=np.zeros_like(item_genres), where=norms > 0)
    vectors = unit[items]  # (n_users, pool, n_genres)
    rows = np.arange(len(items))
    placed = np.zeros(items.shape, dtype=bool)
    max_similarity = np.zeros(items.shape)
    lists = np.empty((len(items), k), dtype=np.int64)
    for position in range(k):
        gain = mmr_gain(relevance, max_similarity, weight)
        gain[placed] = -np.inf
        pick = np.argmax(gain, axis=1)  # the first maximum: the better-scored candidate
        lists[:, position] = items[rows, pick]
        placed[rows, pick] = True
        similarity = np.einsum("upg,ug->up", vectors, vectors[rows, pick])
        max_similarity = np.maximum(max_similarity, similarity)
    return lists


def calibrated(scores, item_genres, target, *, k: int = 10, weight: float = 0.5,
               alpha: float = 0.01, pool: int = 100) -> np.ndarray:
    """Steck's greedy calibrated lists: int array ``(n_users, k)``.

    Parameters
    ----------
    scores : float array ``(n_users, n_items)``, ``-inf`` for items not to show.
    item_genres : ``(n_items, n_genres)`` genre memberships.
    target : ``(n_users, n_genres)``, each user's genre mix ``p`` to calibrate to
        (:func:`recsys_lab.beyond_accuracy.genre_mix` of the training history).
    k, weight, pool : list length, λ in [0, 1], candidates per user.
    alpha : the smoothing of :func:`recsys_lab.beyond_accuracy.calibration_kl`.
    """
    weight = _check_weight(weight)
    items, relevance = candidate_pool(scores, pool)
    k = _check_k(k, items.shape[1])
    item_genres = _check_genres(item_genres, np.shape(scores)[1])
    target = np.asarray(target, dtype=float)
    if target.shape != (len(items), item_genres.shape[1]):
        raise ValueError(f"target must be (n_users, n_genres) = "
                         f"{(len(items), item_genres.shape[1])}, got {target.shape}")
    counts = item_genres.sum(axis=1, keepdims=True)
    spread = np.divide(item_genres, counts, out=np.zeros_like(item_genres), where=counts > 0)
    candidates = spread[items]  # (n_users, pool, n_genres): p(g | i) of each candidate
    rows = np.arange(len(items))
    placed = np.zeros(items.shape, dtype=bool)
    mass = np.zeros_like(target)  # genre mass of the list so far
    wanted = np.broadcast_to(target[:, None, :], candidates.shape)
    lists = np.empty((len(items), k), dtype=np.int64)
    for position in range(k):
        grown = mass[:, None, :] + candidates
        totals = grown.sum(axis=2, keepdims=True)
        mix = np.divide(grown, totals, out=np.zeros_like(grown), where=totals > 0)
        gain = (1 - weight) * relevance - weight * calibration_kl(wanted, mix, alpha)
        gain[placed] = -np.inf
        pick = np.argmax(gain, axis=1)
        lists[:, position] = items[rows, pick]
        placed[rows, pick] = True
        mass += candidates[rows, pick]
    return lists
