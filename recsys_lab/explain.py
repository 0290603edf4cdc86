"""Why was this item recommended? Explanations from a model's scores, and a test of them.

A user's history is a 0/1 row over the items. Two ways to explain a recommended item ``j``
by the history items ``h``:

* :func:`because_you_watched` — for item–item models whose score is a sum over the history,
  ``s_j = Σ_{h ∈ history} W[h, j]`` (EASE: ``W = B``; item-KNN: ``W = Sᵀ``), the term
  ``W[h, j]`` is exactly what item ``h`` adds to the score: "because you watched ``h``".
* :func:`leave_one_out_influence` — for any model that can score a changed history (a
  fold-in: Mult-VAE's encoder, EASE's ``x B``...), the drop in ``s_j`` when ``h`` is taken out
  of the history. Model-agnostic; for a linear model it equals ``W[h, j]``.

An explanation is *faithful* if the item it names really carries the recommendation:
:func:`drops_out` removes one history item per user, re-scores, and says whether the
recommended item left the top ``k``. Comparing the removal of the explaining item with the
removal of a random history item tests the explanation.

``score_rows`` is a callable: a float array ``(n_rows, n_items)`` of histories in, scores
``(n_rows, n_items)`` out.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import scipy.sparse as sp

__all__ = ["because_you_watched", "drops_out", "leave_one_out_influence"]


def _check_history(history_items, n_items: int) -> np.ndarray:
    history_items = np.asarray(history_items)
    if history_items.ndim != 1 or history_items.size == 0:
        raise ValueError("history_items must be a non-empty 1-D array of item ids")
    if not np.issubdtype(history_items.dtype, np.integer):
        raise ValueError(f"history_items must hold integer item ids, got {history_items.dtype}")
    if history_items.min() < 0 or history_items.max() >= n_items:
        raise ValueError(f"history_items holds ids outside 0..{n_items - 1}")
    if np.unique(history_items).size != history_items.size:
        raise ValueError("history_items holds an item twice")
    return history_items.astype(np.int64)


def _check_item(item, n_items: int, history_items: np.ndarray) -> int:
    if int(item) != item or not 0 <= item < n_items:
        raise ValueError(f"item must be an item id in 0..{n_items - 1}, got {item}")
    if item in history_items:
        raise ValueError(f"item {item} is in the history: explain a recommended (unseen) item")
    return int(item)


def because_you_watched(contributions, history_items, item: int,
                        n: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """The ``n`` history items that add most to ``item``'s score, and what each adds.

    Parameters
    ----------
    contributions : ``(n_items, n_items)`` array or SciPy sparse matrix ``W`` with
        ``score_j = Σ_{h ∈ history} W[h, j]`` (EASE: ``weights_``; ItemKNN:
        ``similarity_.T``).
    history_items : the user's history, 1-D int array of distinct item ids.
    item : the recommended item to explain (not in the history).
    n : how many explaining items, at most the history's length.

    Returns
    -------
    items : int array ``(n,)``, largest contribution first (ties: the earlier history item).
    values : float array ``(n,)``, their contributions ``W[h, item]``.
    """
    shape = contributions.shape
    if len(shape) != 2 or shape[0] != shape[1]:
        raise ValueError(f"contributions must be a square (n_items, n_items) matrix, got "
                         f"shape {shape}")
    history_items = _check_history(history_items, shape[0])
    item = _check_item(item, shape[0], history_items)
    if int(n) != n or not 1 <= n <= history_items.size:
        raise ValueError(f"n must be an integer in 1..{history_items.size} (the history's "
                         f"length), got {n}")
    column = contributions[:, [item]]
    column = column.toarray() if sp.issparse(column) else np.asarray(column)
    values = column.ravel()[history_items].astype(float)
    order = np.argsort(-values, kind="stable")[:int(n)]
    return history_items[order], values[order]


def _scores(score_rows: Callable, rows: np.ndarray) -> np.ndarray:
    if not callable(score_rows):
        raise ValueError("score_rows must be a function from histories (n, n_items) to "
                         "scores (n, n_items)")
    scores = np.asarray(score_rows(rows), dtype=float)
    if scores.shape != rows.shape:
        raise ValueError(f"score_rows returned shape {scores.shape} for histories of shape "
                         f"{rows.shape}")
    return scores


def leave_one_out_influence(score_rows: Callable, history_items, item: int,
                            n_items: int) -> np.ndarray:
    """How much ``item``'s score drops when each history item is left out, one at a time.

    Scores the full history and each history with one item removed (``len(history) + 1``
    rows, in one call of ``score_rows``). Returns a float array aligned with
    ``history_items``: ``s_item(history) − s_item(history without h)``; positive values are
    items that pushed the recommendation up.
    """
    if int(n_items) != n_items or n_items < 1:
        raise ValueError(f"n_items must be a positive integer, got {n_items}")
    history_items = _check_history(history_items, n_items)
    item = _check_item(item, n_items, history_items)
    rows = np.zeros((history_items.size + 1, n_items))
    rows[:, history_items] = 1.0
    rows[np.arange(1, history_items.size + 1), history_items] = 0.0
    scores = _scores(score_rows, rows)[:, item]
    return scores[0] - scores[1:]


def drops_out(score_rows: Callable, histories, removed, recommended, k: int = 10) -> np.ndarray:
    """Whether each user's recommended item leaves her top ``k`` once one history item goes.

    Parameters
    ----------
    score_rows : histories ``(n, n_items)`` → scores ``(n, n_items)``.
    histories : ``(n_users, n_items)`` 0/1 array or SciPy sparse matrix, one row per user.
    removed : int array ``(n_users,)``, the history item taken out of each row.
    recommended : int array ``(n_users,)``, the item whose place is checked (not in the
        history).
    k : the list length.

    Returns
    -------
    bool array ``(n_users,)``: True when, re-scored without ``removed``, at least ``k``
    items the user has not seen (the original history, ``removed`` included, stays
    excluded) score above ``recommended``.
    """
    histories = histories.toarray() if sp.issparse(histories) else np.array(histories)
    histories = histories.astype(float)
    if histories.ndim != 2:
        raise ValueError(f"histories must be 2-D (n_users, n_items), got {histories.shape}")
    n_users, n_items = histories.shape
    removed, recommended = np.asarray(removed), np.asarray(recommended)
    for name, ids in (("removed", removed), ("recommended", recommended)):
        if ids.shape != (n_users,) or not np.issubdtype(ids.dtype, np.integer):
            raise ValueError(f"{name} must be an int array of shape ({n_users},)")
        if ids.size and (ids.min() < 0 or ids.max() >= n_items):
            raise ValueError(f"{name} holds ids outside 0..{n_items - 1}")
    if int(k) != k or not 1 <= k < n_items:
        raise ValueError(f"k must be an integer in 1..{n_items - 1}, got {k}")
    rows = np.arange(n_users)
    if (histories[rows, removed] == 0).any():
        raise ValueError("a removed item is not in its user's history")
    if (histories[rows, recommended] != 0).any():
        raise ValueError("a recommended item is in its user's history")
    changed = histories.copy()
    changed[rows, removed] = 0.0
    scores = _scores(score_rows, changed)
    scores[histories != 0] = -np.inf
    above = (scores > scores[rows, recommended][:, None]).sum(axis=1)
    return above >= k
