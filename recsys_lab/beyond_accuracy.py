"""What a set of top-K lists does to the catalogue and to each user, beside its accuracy.

Every function starts from the lists themselves: ``top_items``, an int array of shape
``(n_users, K)`` whose row ``u`` is user ``u``'s list, best first (as
:func:`recsys_lab.metrics.top_k` returns it), and from facts about the items:

* ``popularity`` ``(n_items,)`` — each item's number of training interactions;
* ``item_genres`` ``(n_items, n_genres)`` — 0/1 genre memberships (a film may have several).

Exposure and popularity bias (of the whole set of lists; catalogue coverage is
:func:`recsys_lab.metrics.coverage`):

* :func:`item_exposure` — how many lists show each item;
* :func:`gini` — the Gini coefficient of a non-negative vector (of exposure): 0 when every
  item is shown equally often, ``(n − 1) / n`` when one item takes every slot;
* :func:`long_tail_items` and :func:`long_tail_share` — the share of each list outside the
  most popular items;
* :func:`novelty` — the mean self-information ``−log2 p(i)`` of a list's items, where
  ``p(i)`` is the share of users who chose item ``i``: obscure items are "surprising".

Per list, about its genres:

* :func:`intra_list_diversity` — the mean pairwise cosine distance of a list's genre vectors;
* :func:`genre_mix`, :func:`list_genre_mix` and :func:`calibration_kl` — Steck's (2018)
  calibration: the genre distribution of a user's history ``p`` against that of her list
  ``q``, compared by ``KL(p ‖ q̃)`` with ``q̃ = (1 − α) q + α p`` so that a genre missing from
  the list gives a large but finite divergence.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

__all__ = [
    "calibration_kl",
    "genre_mix",
    "gini",
    "intra_list_diversity",
    "item_exposure",
    "list_genre_mix",
    "long_tail_items",
    "long_tail_share",
    "novelty",
]


# --------------------------------------------------------------------------------------------
# Input checks
# --------------------------------------------------------------------------------------------


def _check_lists(top_items, n_items: int) -> np.ndarray:
    top_items = np.asarray(top_items)
    if top_items.ndim != 2 or top_items.shape[1] == 0:
        raise ValueError(f"top_items must be 2-D (n_users, K) with K >= 1, got shape "
                         f"{top_items.shape}")
    if top_items.size and not np.issubdtype(top_items.dtype, np.integer):
        raise ValueError(f"top_items must hold integer item ids, got dtype {top_items.dtype}")
    if top_items.size and (top_items.min() < 0 or top_items.max() >= n_items):
        raise ValueError(f"top_items holds ids outside 0..{n_items - 1}: "
                         f"{top_items.min()}..{top_items.max()}")
    return top_items.astype(np.int64)


def _check_vector(values, name: str, size: int | None = None) -> np.ndarray:
    values = np.asarray(values, dtype=float)
    if values.ndim != 1 or values.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D array, got shape {values.shape}")
    if size is not None and values.size != size:
        raise ValueError(f"{name} must have one value per item ({size}), got {values.size}")
    if not np.all(np.isfinite(values)) or (values < 0).any():
        raise ValueError(f"{name} must hold finite, non-negative numbers")
    return values


def _check_genres(item_genres) -> np.ndarray:
    item_genres = np.asarray(item_genres, dtype=float)
    if item_genres.ndim != 2 or 0 in item_genres.shape:
        raise ValueError(f"item_genres must be 2-D (n_items, n_genres), got shape "
                         f"{item_genres.shape}")
    if not np.all(np.isfinite(item_genres)) or (item_genres < 0).any():
        raise ValueError("item_genres must hold finite, non-negative numbers (0/1 memberships)")
    return item_genres


def _check_alpha(alpha: float) -> float:
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must lie strictly between 0 and 1, got {alpha}")
    return float(alpha)


# --------------------------------------------------------------------------------------------
# Exposure and popularity bias
# --------------------------------------------------------------------------------------------


def item_exposure(top_items, n_items: int) -> np.ndarray:
    """How many of the lists show each item: int array of shape ``(n_items,)``."""
    top_items = _check_lists(top_items, n_items)
    return np.bincount(top_items.ravel(), minlength=n_items)


def gini(values) -> float:
    """The Gini coefficient of non-negative ``values`` ``(n,)`` (e.g. :func:`item_exposure`).

    With the values sorted ascending, ``x_(1) ≤ … ≤ x_(n)``,
    ``G = Σ_i (2i − n − 1) x_(i) / (n Σ_i x_i)``: half the mean absolute difference between
    two values over their mean. 0 when all values are equal; ``(n − 1) / n`` when one value
    holds everything. Items never shown count as zeros, so pass the whole catalogue.
    """
    values = np.sort(_check_vector(values, "values"))
    total = values.sum()
    if total == 0:
        raise ValueError("values are all zero: the Gini coefficient of nothing is undefined")
    n = values.size
    ranks = np.arange(1, n + 1)
    return float(((2 * ranks - n - 1) * values).sum() / (n * total))


def long_tail_items(popularity, head_fraction: float = 0.2) -> np.ndarray:
    """Boolean ``(n_items,)``: the items outside the most popular ``head_fraction`` of them.

    The head is the ``ceil(head_fraction · n_items)`` items with the most interactions (ties
    broken by the lower item id); every other item is in the long tail.
    """
    popularity = _check_vector(popularity, "popularity")
    if not 0 < head_fraction < 1:
        raise ValueError(f"head_fraction must lie strictly between 0 and 1, got {head_fraction}")
    n_head = int(np.ceil(head_fraction * popularity.size))
    head = np.argsort(-popularity, kind="stable")[:n_head]
    tail = np.ones(popularity.size, dtype=bool)
    tail[head] = False
    return tail


def long_tail_share(top_items, tail) -> np.ndarray:
    """Per list, the share of its items in the long tail: float array ``(n_users,)``.

    ``tail`` is a boolean ``(n_items,)`` mask, e.g. :func:`long_tail_items`.
    """
    tail = np.asarray(tail)
    if tail.ndim != 1 or tail.dtype != bool:
        raise ValueError("tail must be a 1-D boolean mask over the items")
    top_items = _check_lists(top_items, tail.size)
    return tail[top_items].mean(axis=1)


def novelty(top_items, popularity, n_users: int) -> np.ndarray:
    """Per list, the mean self-information of its items in bits: float array ``(n_users,)``.

    ``p(i) = (popularity[i] + 1) / (n_users + 1)`` is the share of the ``n_users`` users who
    chose item ``i``, with one imaginary extra user who chose every item, so that an item
    nobody chose has a finite ``−log2 p(i) = log2(n_users + 1)``.
    """
    if int(n_users) != n_users or n_users < 1:
        raise ValueError(f"n_users must be a positive integer, got {n_users}")
    popularity = _check_vector(popularity, "popularity")
    if popularity.max() > n_users:
        raise ValueError(f"an item has {popularity.max():g} interactions but there are only "
                         f"{n_users} users: popularity must count users, not ratings")
    top_items = _check_lists(top_items, popularity.size)
    information = -np.log2((popularity + 1) / (n_users + 1))
    return information[top_items].mean(axis=1)


# --------------------------------------------------------------------------------------------
# Genres: diversity and calibration
# --------------------------------------------------------------------------------------------


def intra_list_diversity(top_items, item_genres) -> np.ndarray:
    """Per list, the mean cosine distance ``1 − cos(g_i, g_j)`` over its pairs of items.

    ``item_genres`` ``(n_items, n_genres)``; an item with no genre is at distance 1 from
    every other item. Returns a float array ``(n_users,)``; lists need ``K ≥ 2``.
    """
    item_genres = _check_genres(item_genres)
    top_items = _check_lists(top_items, len(item_genres))
    k = top_items.shape[1]
    if k < 2:
        raise ValueError("intra_list_diversity needs lists of at least 2 items")
    norms = np.linalg.norm(item_genres, axis=1, keepdims=True)
    unit = np.divide(item_genres, norms, out=np.zeros_like(item_genres), where=norms > 0)
    vectors = unit[top_items]  # (n_users, K, n_genres)
    similarity = np.einsum("ukg,ulg->ukl", vectors, vectors)
    off_diagonal = similarity.sum(axis=(1, 2)) - np.einsum("ukk->u", similarity)
    return 1.0 - off_diagonal / (k * (k - 1))


def _item_genre_distribution(item_genres: np.ndarray) -> np.ndarray:
    """``p(g | i)``: each item's genres, normalised to sum to 1 (all zeros if it has none)."""
    counts = item_genres.sum(axis=1, keepdims=True)
    return np.divide(item_genres, counts, out=np.zeros_like(item_genres), where=counts > 0)


def genre_mix(interactions, item_genres) -> np.ndarray:
    """Each user's genre distribution ``p(g | u)``: float array ``(n_users, n_genres)``.

    ``interactions`` ``(n_users, n_items)`` (dense or SciPy sparse, non-negative weights,
    e.g. the 0/1 training matrix). As Steck (2018): ``p(g | u) = Σ_i w_ui p(g | i) / Σ_i w_ui``
    with ``p(g | i)`` the item's genres spread evenly. A user with no item that has a genre
    gets a row of zeros.
    """
    item_genres = _check_genres(item_genres)
    if sp.issparse(interactions):
        interactions = sp.csr_matrix(interactions, dtype=float)
    else:
        interactions = np.asarray(interactions, dtype=float)
    if interactions.ndim != 2 or interactions.shape[1] != len(item_genres):
        raise ValueError(f"interactions must be (n_users, {len(item_genres)}), got shape "
                         f"{interactions.shape}")
    if (interactions.min() if interactions.size else 0) < 0:
        raise ValueError("interactions must be non-negative weights")
    mass = np.asarray(interactions @ _item_genre_distribution(item_genres))
    totals = mass.sum(axis=1, keepdims=True)
    return np.divide(mass, totals, out=np.zeros_like(mass), where=totals > 0)


def list_genre_mix(top_items, item_genres) -> np.ndarray:
    """The genre distribution ``q(g | u)`` of each list, every item weighted equally.

    The same definition as :func:`genre_mix`, for lists: float array ``(n_users, n_genres)``.
    """
    item_genres = _check_genres(item_genres)
    top_items = _check_lists(top_items, len(item_genres))
    mass = _item_genre_distribution(item_genres)[top_items].sum(axis=1)
    totals = mass.sum(axis=1, keepdims=True)
    return np.divide(mass, totals, out=np.zeros_like(mass), where=totals > 0)


def calibration_kl(p, q, alpha: float = 0.01) -> np.ndarray:
    """Steck's miscalibration ``KL(p ‖ q̃) = Σ_g p(g) log(p(g) / q̃(g))``, in nats, per row.

    ``p`` (the history's genre mix) and ``q`` (the list's) are ``(n_users, n_genres)``, or
    ``(n_genres,)`` for one user (any leading axes work: the genres are the last axis);
    rows are distributions. ``q̃ = (1 − α) q + α p`` keeps the
    divergence finite when the list misses a genre of the history; terms with ``p(g) = 0``
    count 0. Returns ``(n_users,)`` (or a float for 1-D input); 0 means perfectly calibrated.
    """
    alpha = _check_alpha(alpha)
    p, q = np.asarray(p, dtype=float), np.asarray(q, dtype=float)
    if p.shape != q.shape or p.ndim == 0:
        raise ValueError(f"p and q must have one shape, (n_genres,) or (n_users, n_genres); "
                         f"got {p.shape} and {q.shape}")
    for name, values in (("p", p), ("q", q)):
        if not np.all(np.isfinite(values)) or (values < 0).any():
            raise ValueError(f"{name} must hold finite, non-negative probabilities")
    smoothed = (1 - alpha) * q + alpha * p
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, p * np.log(p / smoothed), 0.0)
    result = terms.sum(axis=-1)
    return float(result) if p.ndim == 1 else result
