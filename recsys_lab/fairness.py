"""Is a model as accurate for one group of users as for the others? Gaps with intervals.

Two groups of users (women and men, young and old) are different people: their metrics
cannot be paired user by user as two models' can (:mod:`recsys_lab.stats`). The interval
for a gap between groups resamples each group's users separately (an unpaired bootstrap):

* :func:`unpaired_bootstrap` — the interval for ``mean(a) − mean(b)`` of two independent
  samples, as a :class:`recsys_lab.stats.Comparison` (its ``verdict`` and ``describe``);
* :func:`group_gaps` — each group against all the other users, as a table.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from recsys_lab.stats import Comparison

__all__ = ["group_gaps", "unpaired_bootstrap"]


def _sample(values, name: str) -> np.ndarray:
    values = np.asarray(values, dtype=float)
    if values.ndim != 1 or values.size < 2:
        raise ValueError(f"{name} must be a 1-D array of at least 2 values, got shape "
                         f"{values.shape}")
    if not np.all(np.isfinite(values)):
        raise ValueError(f"{name} has NaN or infinite values")
    return values


def unpaired_bootstrap(a, b, *, n_resamples: int = 2000, confidence: float = 0.95,
                       seed: int = 0) -> Comparison:
    """The percentile-bootstrap interval for ``mean(a) − mean(b)`` of two independent samples.

    Parameters
    ----------
    a, b : 1-D array-likes (lengths may differ, at least 2 each), e.g. the NDCG@10 of each
        user of two groups.
    n_resamples : bootstrap resamples (≥ 100); each resamples ``a`` and ``b`` separately,
        with replacement, keeping their sizes.
    confidence : the interval's coverage, in (0, 1).
    seed : seeds the resampling's own generator.

    Returns
    -------
    Comparison with ``difference = mean(a) − mean(b)``, its interval, and ``n`` the total
    number of values (``len(a) + len(b)``).
    """
    a, b = _sample(a, "a"), _sample(b, "b")
    if int(n_resamples) != n_resamples or n_resamples < 100:
        raise ValueError(f"n_resamples must be an integer of at least 100, got {n_resamples}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie strictly between 0 and 1, got {confidence}")
    rng = np.random.default_rng(seed)
    means = [values[rng.integers(0, values.size, size=(int(n_resamples), values.size))]
             .mean(axis=1) for values in (a, b)]
    tail = (1 - confidence) / 2
    low, high = np.quantile(means[0] - means[1], [tail, 1 - tail])
    return Comparison(mean_a=float(a.mean()), mean_b=float(b.mean()),
                      difference=float(a.mean() - b.mean()), low=float(low),
                      high=float(high), confidence=float(confidence), n=a.size + b.size)


def group_gaps(values: pd.Series, groups: pd.Series, **settings) -> pd.DataFrame:
    """Each group's mean metric and its gap to all the other users, with an interval.

    Parameters
    ----------
    values : Series of a per-user metric (e.g. NDCG@10), indexed by user.
    groups : Series of each user's group label, indexed by user; must cover every user of
        ``values`` (other users are ignored).
    settings : ``n_resamples``, ``confidence``, ``seed`` of :func:`unpaired_bootstrap`.

    Returns
    -------
    DataFrame indexed by group (sorted), columns ``users``, ``mean``, ``gap`` (the group's
    mean minus the other users' mean), ``low``, ``high`` (the gap's interval) and
    ``verdict``: ``"above"`` or ``"below"`` the others when the interval excludes zero,
    ``"indistinguishable"`` otherwise.
    """
    if not isinstance(values, pd.Series) or not isinstance(groups, pd.Series):
        raise ValueError("values and groups must be pandas Series indexed by user")
    missing = values.index.difference(groups.index)
    if len(missing):
        raise ValueError(f"groups has no label for {len(missing)} user(s) of values, e.g. "
                         f"{missing[0]}")
    labels = groups.reindex(values.index)
    if labels.isna().any():
        raise ValueError("groups has a missing (NaN) label for a user of values")
    if labels.nunique() < 2:
        raise ValueError("group_gaps needs at least 2 groups")
    rows = {}
    for group in sorted(labels.unique()):
        inside = (labels == group).to_numpy()
        comparison = unpaired_bootstrap(values[inside], values[~inside], **settings)
        verdict = {"a ahead": "above", "b ahead": "below"}.get(comparison.verdict,
                                                               "indistinguishable")
        rows[group] = (int(inside.sum()), comparison.mean_a, comparison.difference,
                       comparison.low, comparison.high, verdict)
    return pd.DataFrame.from_dict(rows, orient="index",
                                  columns=["users", "mean", "gap", "low", "high", "verdict"])
