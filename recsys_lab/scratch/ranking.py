"""Implicit feedback in NumPy: negatives from unseen items, and the BCE, BPR and hinge losses.

With implicit feedback we observe only positives: the items a user interacted with. A model
learns to score them above the rest by contrasting each positive with *negatives*, items
drawn from those the user has not interacted with (chapter 3):

* :func:`sample_unseen_items` draws them uniformly for a batch of users;
* :func:`bce_with_gradients` (pointwise), :func:`bpr_with_gradients` and
  :func:`hinge_with_gradients` (pairwise) score a positive against its negatives and return
  the loss with its gradient with respect to the scores, so that a from-scratch model needs
  only the chain rule on top, and the Keras losses of :mod:`recsys_lab.models.ncf`
  (``bce_loss``, ``bpr_loss``, ``hinge_loss``) can be checked.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def sample_unseen_items(history: sp.csr_matrix, users, n_negatives: int,
                     rng: np.random.Generator) -> np.ndarray:
    """For each entry of ``users``, ``n_negatives`` items drawn uniformly from those it lacks.

    ``history`` is the binary ``(n_users, n_items)`` matrix of observed interactions. Items
    are drawn with replacement; draws that hit one of the user's positives are redrawn until
    none is left (rejection sampling: fast when, as in recommendation, a user has seen a
    small part of the catalogue). Returns an int64 array ``(len(users), n_negatives)``.

    Raises ValueError if a user has interacted with every item (it has no negative).
    """
    history = sp.csr_matrix(history)
    users = np.asarray(users, dtype=np.int64)
    n_items = history.shape[1]
    if n_negatives < 1:
        raise ValueError(f"n_negatives must be positive, got {n_negatives}")
    if users.size and (users.min() < 0 or users.max() >= history.shape[0]):
        raise ValueError(f"users must lie in 0..{history.shape[0] - 1}")
    full = history.getnnz(axis=1)[users] >= n_items
    if full.any():
        raise ValueError(f"user {users[full][0]} has interacted with every item: no negatives")
    negatives = rng.integers(0, n_items, size=(len(users), n_negatives))
    rows = np.repeat(np.arange(len(users)), n_negatives)
    redraw = np.asarray(history[users[rows], negatives.ravel()]).ravel() > 0
    while redraw.any():
        flat = negatives.reshape(-1)
        flat[redraw] = rng.integers(0, n_items, size=int(redraw.sum()))
        redraw[redraw] = np.asarray(history[users[rows[redraw]], flat[redraw]]).ravel() > 0
    return negatives


def _log_sigmoid(x):
    """``log σ(x) = −log(1 + e^{−x})``, computed without overflow."""
    return -np.logaddexp(0.0, -x)


def _sigmoid(x):
    return np.exp(_log_sigmoid(x))


def bce_with_gradients(positive, negative):
    """Pointwise binary cross-entropy of a positive and its negatives, and its gradients.

    ``positive`` has shape ``(n,)`` (one score per positive pair) and ``negative`` shape
    ``(n, m)`` (``m`` negatives each); scores are logits. The loss is the mean over the
    ``n`` positives of ``−log σ(s⁺) − Σ_j log(1 − σ(s⁻_j))``. Returns
    ``(loss, d loss / d positive, d loss / d negative)``: ``(σ(s⁺) − 1) / n`` and
    ``σ(s⁻) / n`` — the prediction minus the label, the gradient of every logistic loss.
    """
    positive, negative = np.asarray(positive, float), np.asarray(negative, float)
    _check_scores(positive, negative)
    n = len(positive)
    loss = -(_log_sigmoid(positive).sum() + _log_sigmoid(-negative).sum()) / n
    return loss, (_sigmoid(positive) - 1.0) / n, _sigmoid(negative) / n


def bpr_with_gradients(positive, negative):
    """Bayesian personalised ranking loss and its gradients (Rendle et al. 2009).

    The mean over all ``n × m`` pairs of ``−log σ(s⁺ − s⁻)``; shapes as
    :func:`bce_with_gradients`. With ``x = s⁺ − s⁻``,
    ``d/dx [−log σ(x)] = −(1 − σ(x)) = −σ(−x)``: a pair already in the right order by a
    wide margin contributes almost nothing. Returns
    ``(loss, d loss / d positive, d loss / d negative)``.
    """
    positive, negative = np.asarray(positive, float), np.asarray(negative, float)
    _check_scores(positive, negative)
    difference = positive[:, None] - negative
    pairs = difference.size
    weight = _sigmoid(-difference) / pairs
    return -_log_sigmoid(difference).sum() / pairs, -weight.sum(axis=1), weight


def hinge_with_gradients(positive, negative, margin):
    """The triplet hinge of collaborative metric learning and its gradients (Hsieh et al. 2017).

    The mean over all ``n × m`` pairs of ``[margin − (s⁺ − s⁻)]₊``; shapes as
    :func:`bce_with_gradients`. With the scores ``s = −d²`` of a metric model each term is
    ``[margin + d(u, i)² − d(u, j)²]₊``. The derivative with respect to ``s⁺ − s⁻`` is −1
    for a pair that violates the margin and 0 for one that satisfies it: unlike BPR's
    ``σ(−x)``, a pair beyond the margin stops pulling altogether. Returns
    ``(loss, d loss / d positive, d loss / d negative)``.
    """
    positive, negative = np.asarray(positive, float), np.asarray(negative, float)
    _check_scores(positive, negative)
    if not margin > 0:
        raise ValueError(f"margin must be positive, got {margin}")
    violation = margin - (positive[:, None] - negative)
    pairs = violation.size
    active = (violation > 0) / pairs
    return np.maximum(violation, 0.0).sum() / pairs, -active.sum(axis=1), active


def _check_scores(positive, negative):
    if positive.ndim != 1 or negative.ndim != 2 or negative.shape[0] != positive.shape[0]:
        raise ValueError(f"positive must have shape (n,) and negative (n, m), got "
                         f"{positive.shape} and {negative.shape}")
    if positive.size == 0:
        raise ValueError("no scores: positive is empty")
