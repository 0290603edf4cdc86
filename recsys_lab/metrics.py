"""Accuracy metrics, vectorised over users.

Rating metrics compare predicted with true ratings; :func:`auc` and :func:`log_loss` score
click predictions (0/1 labels). Ranking metrics start from each
user's top-K list (:func:`top_k`) and a boolean matrix ``hits`` of shape ``(n_users, K)``
whose entry ``[u, r]`` says whether the item at rank ``r + 1`` of user ``u``'s list is
relevant (held out in the test set). ``n_relevant`` (shape ``(n_users,)``) counts each
user's relevant items. Every ranking metric returns one value per user; average them
over users with at least one relevant item.

Conventions (design.md, TOPN protocol): Recall@K divides by ``min(K, n_relevant)`` so a
perfect list scores 1; NDCG@K uses binary relevance, ``DCG = Σ 1 / log2(rank + 1)`` over
hits in the top K, divided by the DCG of ``min(K, n_relevant)`` hits at the top.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def _as_float_arrays(y_true, y_pred) -> tuple[np.ndarray, np.ndarray]:
    y_true = np.asarray(y_true, dtype=float)
    y_pred = np.asarray(y_pred, dtype=float)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true has shape {y_true.shape} but y_pred has shape {y_pred.shape}")
    if y_true.size == 0:
        raise ValueError("cannot compute an error over zero ratings")
    if not np.all(np.isfinite(y_pred)):
        raise ValueError("y_pred has NaN or infinite predictions")
    return y_true, y_pred


def rmse(y_true, y_pred) -> float:
    """Root mean squared error, ``sqrt(mean((y - ŷ)²))``."""
    y_true, y_pred = _as_float_arrays(y_true, y_pred)
    return float(np.sqrt(np.mean((y_true - y_pred) ** 2)))


def mae(y_true, y_pred) -> float:
    """Mean absolute error, ``mean(|y - ŷ|)``."""
    y_true, y_pred = _as_float_arrays(y_true, y_pred)
    return float(np.mean(np.abs(y_true - y_pred)))


def _as_labels_and_scores(labels, scores) -> tuple[np.ndarray, np.ndarray]:
    labels = np.asarray(labels)
    scores = np.asarray(scores, dtype=float)
    if labels.shape != scores.shape or labels.ndim != 1:
        raise ValueError(f"labels and scores must be 1-D arrays of one shape, got "
                         f"{labels.shape} and {scores.shape}")
    if labels.size == 0:
        raise ValueError("cannot compute a classification metric over zero examples")
    if not np.isin(labels, (0, 1)).all():
        raise ValueError("labels must be 0 or 1 (e.g. rating >= 4 as a click)")
    if not np.all(np.isfinite(scores)):
        raise ValueError("scores have NaN or infinite values")
    return labels.astype(bool), scores


def auc(labels, scores) -> float:
    """Area under the ROC curve: the chance that a random positive outscores a random negative.

    ``labels`` ``(n,)`` 0/1, ``scores`` ``(n,)`` any real numbers (higher means more likely
    positive); tied scores count one half. Computed from ranks (Mann–Whitney U), in
    O(n log n). Needs both classes.
    """
    labels, scores = _as_labels_and_scores(labels, scores)
    n_positive = int(labels.sum())
    n_negative = labels.size - n_positive
    if n_positive == 0 or n_negative == 0:
        raise ValueError("AUC needs at least one positive and one negative label")
    from scipy.stats import rankdata

    ranks = rankdata(scores)  # ties get their average rank: a tie counts one half
    u = ranks[labels].sum() - n_positive * (n_positive + 1) / 2
    return float(u / (n_positive * n_negative))


def log_loss(labels, probabilities, eps: float = 1e-7) -> float:
    """Mean binary cross-entropy, ``-mean(y log p + (1 - y) log(1 - p))``, in nats.

    ``probabilities`` must lie in [0, 1]; they are clipped to ``[eps, 1 - eps]`` so that one
    confident mistake gives a large but finite loss.
    """
    labels, probabilities = _as_labels_and_scores(labels, probabilities)
    if probabilities.min() < 0 or probabilities.max() > 1:
        raise ValueError("probabilities must lie in [0, 1]; pass a sigmoid of logits")
    p = np.clip(probabilities, eps, 1 - eps)
    return float(-np.mean(np.where(labels, np.log(p), np.log1p(-p))))


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` highest scores of each row, best first.

    ``scores`` has shape ``(n_users, n_items)``; items a user must not be shown
    (their training history) should already be set to ``-inf``. Returns an int array of
    shape ``(n_users, k)``. Ties are broken by the lower item index, so lists are
    deterministic.
    """
    scores = np.asarray(scores)
    if scores.ndim != 2:
        raise ValueError(f"scores must be 2-D (n_users, n_items), got shape {scores.shape}")
    if not 0 < k <= scores.shape[1]:
        raise ValueError(f"k must lie in 1..{scores.shape[1]}, got {k}")
    if np.isnan(scores).any():
        raise ValueError("scores contain NaN")
    # A stable sort of the negated scores keeps equal scores in item order.
    return np.argsort(-scores, axis=1, kind="stable")[:, :k]


def relevance_hits(top_items: np.ndarray, relevant: sp.csr_matrix) -> np.ndarray:
    """Boolean ``(n_users, k)``: is ``top_items[u, r]`` among the relevant items of row ``u``.

    ``relevant`` is a sparse ``(n_users, n_items)`` matrix whose non-zeros mark the
    relevant (test) items of each evaluated user, rows aligned with ``top_items``.
    """
    relevant = sp.csr_matrix(relevant)
    rows = np.repeat(np.arange(top_items.shape[0]), top_items.shape[1])
    values = np.asarray(relevant[rows, top_items.ravel()]).ravel()
    return (values != 0).reshape(top_items.shape)


def _check_hits(hits, n_relevant=None):
    hits = np.asarray(hits, dtype=bool)
    if hits.ndim != 2:
        raise ValueError(f"hits must be 2-D (n_users, k), got shape {hits.shape}")
    if n_relevant is None:
        return hits, None
    n_relevant = np.asarray(n_relevant)
    if n_relevant.shape != (hits.shape[0],):
        raise ValueError(
            f"n_relevant must have shape ({hits.shape[0]},), got {n_relevant.shape}"
        )
    if (n_relevant < 1).any():
        raise ValueError("every evaluated user needs at least one relevant item")
    return hits, n_relevant


def precision_at_k(hits) -> np.ndarray:
    """Fraction of the top-K list that is relevant, per user: ``hits.sum(1) / K``."""
    hits, _ = _check_hits(hits)
    return hits.sum(axis=1) / hits.shape[1]


def recall_at_k(hits, n_relevant) -> np.ndarray:
    """Relevant items found in the top K over ``min(K, n_relevant)``, per user."""
    hits, n_relevant = _check_hits(hits, n_relevant)
    return hits.sum(axis=1) / np.minimum(hits.shape[1], n_relevant)


def hit_rate_at_k(hits) -> np.ndarray:
    """1 if any relevant item is in the top K, else 0, per user (HR@K)."""
    hits, _ = _check_hits(hits)
    return hits.any(axis=1).astype(float)


def ndcg_at_k(hits, n_relevant) -> np.ndarray:
    """Normalised discounted cumulative gain with binary relevance, per user."""
    hits, n_relevant = _check_hits(hits, n_relevant)
    discounts = 1.0 / np.log2(np.arange(2, hits.shape[1] + 2))
    dcg = hits @ discounts
    ideal = np.cumsum(discounts)[np.minimum(hits.shape[1], n_relevant) - 1]
    return dcg / ideal


def coverage(top_items: np.ndarray, n_items: int) -> float:
    """Catalogue coverage: the share of all ``n_items`` that appear in at least one top-K list."""
    return float(np.unique(np.asarray(top_items)).size / n_items)
