"""Differential privacy's two sides: bounding each example's influence, and measuring leaks.

* :func:`clip_rows` — per-example gradient clipping, the first half of DP-SGD (the model is
  :class:`recsys_lab.models.private.DPSGDMatrixFactorization`, the budget
  :mod:`recsys_lab.accountant`).
* :func:`membership_auc` and :func:`loss_threshold_attack` — the loss-threshold membership
  inference attack (Yeom et al. 2018): guess that a rating was in training when the model's
  error on it is small; its AUC is 0.5 when the model leaks nothing.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import pandas as pd
from scipy.stats import norm, rankdata

__all__ = ["Attack", "clip_rows", "loss_threshold_attack", "membership_auc"]


def clip_rows(gradients: np.ndarray, clip_norm: float) -> tuple[np.ndarray, np.ndarray]:
    """Scale each row (one example's gradient) to an L2 norm of at most ``clip_norm``.

    Parameters
    ----------
    gradients : ndarray, shape ``(n, k)``
        One flattened per-example gradient per row.
    clip_norm : float
        ``C > 0``.

    Returns
    -------
    clipped : ndarray, shape ``(n, k)``
        ``g · min(1, C / ‖g‖)`` for each row ``g``; rows already inside the ball are unchanged.
    norms : ndarray, shape ``(n,)``
        The norms ``‖g‖`` before clipping.
    """
    gradients = np.asarray(gradients, dtype=float)
    if gradients.ndim != 2:
        raise ValueError(f"gradients must be 2-D, one example per row, got shape "
                         f"{gradients.shape}")
    if not np.all(np.isfinite(gradients)):
        raise ValueError("gradients hold NaN or infinite values")
    if isinstance(clip_norm, bool) or not isinstance(clip_norm, (int, float, np.number)) or (
            not 0 < clip_norm < math.inf):
        raise ValueError(f"clip_norm must be a positive finite number, got {clip_norm!r}")
    norms = np.sqrt((gradients ** 2).sum(axis=1))
    scale = np.minimum(1.0, clip_norm / np.maximum(norms, np.finfo(float).tiny))
    return gradients * scale[:, None], norms


class Attack(NamedTuple):
    """A membership-inference result: the AUC and its ``confidence`` interval."""

    auc: float
    low: float
    high: float
    n_members: int
    n_non_members: int


def membership_auc(member_losses, non_member_losses) -> float:
    """The AUC of guessing "member" for the smaller loss: ``P(loss_member < loss_non-member)``,
    ties counted as one half (the Mann–Whitney statistic divided by ``n₁ n₀``).

    0.5 means the losses tell members from non-members no better than a coin; 1 means every
    member has a smaller loss than every non-member.
    """
    members = np.asarray(member_losses, dtype=float).ravel()
    others = np.asarray(non_member_losses, dtype=float).ravel()
    for values, name in ((members, "member_losses"), (others, "non_member_losses")):
        if values.size == 0:
            raise ValueError(f"{name} is empty: the AUC needs at least one loss on each side")
        if not np.all(np.isfinite(values)):
            raise ValueError(f"{name} holds NaN or infinite losses")
    ranks = rankdata(np.r_[-members, -others])  # a larger -loss is a stronger "member"
    u_statistic = ranks[:len(members)].sum() - len(members) * (len(members) + 1) / 2
    return float(u_statistic / (len(members) * len(others)))


def loss_threshold_attack(model, members: pd.DataFrame, non_members: pd.DataFrame,
                          confidence: float = 0.95) -> Attack:
    """Yeom et al.'s loss-threshold attack on a rating model: the AUC of its squared errors.

    ``members`` are ratings the model was trained on, ``non_members`` ratings it never saw
    (frames with ``user``, ``item``, ``rating``). The interval is Hanley & McNeil's (1982)
    normal approximation of the AUC's standard error.
    """
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie strictly between 0 and 1, got {confidence!r}")
    losses = []
    for frame in (members, non_members):
        predicted = model.predict(frame["user"].to_numpy(), frame["item"].to_numpy())
        losses.append((frame["rating"].to_numpy(dtype=float) - predicted) ** 2)
    auc = membership_auc(*losses)
    n1, n0 = len(losses[0]), len(losses[1])
    q1, q2 = auc / (2 - auc), 2 * auc ** 2 / (1 + auc)
    variance = (auc * (1 - auc) + (n1 - 1) * (q1 - auc ** 2) + (n0 - 1) * (q2 - auc ** 2)) / (
        n1 * n0)
    half = float(norm.ppf(0.5 + confidence / 2) * math.sqrt(max(variance, 0.0)))
    return Attack(auc, auc - half, auc + half, n1, n0)
