"""The book's evaluation protocols, defined once and used by every chapter.

Each function takes the ratings frame of :func:`recsys_lab.datasets.load_movielens_100k`
(columns ``user``, ``item``, ``rating``, ``timestamp``) and returns plain DataFrames with
the same columns, rows in their original order, so that nothing is lost or duplicated:
the parts of a split add up to the input (except the cold-user splits, which set aside each
cold user's ratings between the known ones and the test ones; see :func:`cold_user_split`).

* RATING: :func:`rating_split`, a random 80/20 split of all ratings (seed 42).
* TOPN: :func:`topn_split`, per user a random 20% of their interactions is held out (seed 0).
* SEQ: :func:`seq_split`, per user the last interaction is the test item, the one before it
  the validation item.
* COLD: :func:`cold_item_split`, a random 20% of items is removed from training entirely.
* COLD-USER and COLD-USER+5: :func:`cold_user_split`, a random 20% of users is held out;
  the model knows their side features only (COLD-USER) or also their first 5 ratings in
  time order (COLD-USER+5), and ranks all items for them.
* TEMPORAL: :func:`temporal_split`, one global time cut: the earliest ``train_fraction`` of
  all ratings trains, the rest is the *stream*, in time order, evaluated prequentially
  (predict each batch, then learn it; :mod:`recsys_lab.online`).

:func:`standard_splits` makes all six with the standard seeds.

Validation data for tuning is carved from *training* data with the same functions and a
different seed, e.g. ``fit_part, valid = topn_split(train, seed=1)``; the test part is never
used for choosing anything.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd

from recsys_lab.validation import check_interactions

RATING, TOPN, SEQ, COLD = "RATING", "TOPN", "SEQ", "COLD"
COLD_USER, COLD_USER_5 = "COLD-USER", "COLD-USER+5"
#: The temporal protocol; it is streamed, not a train/test pair, so not in :data:`PROTOCOLS`.
TEMPORAL = "TEMPORAL"
PROTOCOLS = (RATING, TOPN, SEQ, COLD, COLD_USER, COLD_USER_5)
#: The ratings of each cold user a model may know under each cold-user protocol.
KNOWN_RATINGS = {COLD_USER: 0, COLD_USER_5: 5}


class Split(NamedTuple):
    """A train/test split: ``train, test = rating_split(ratings)``."""

    train: pd.DataFrame
    test: pd.DataFrame


class SeqSplit(NamedTuple):
    """A leave-last-out split: ``train, valid, test = seq_split(ratings)``."""

    train: pd.DataFrame
    valid: pd.DataFrame
    test: pd.DataFrame

    @property
    def history(self) -> pd.DataFrame:
        """``train`` + ``valid``: everything before each user's test item, to fit for the test."""
        return pd.concat([self.train, self.valid]).sort_values(["user", "timestamp"], kind="stable")


class ColdSplit(NamedTuple):
    """An item cold-start split: ``train, test, cold_items = cold_item_split(ratings)``."""

    train: pd.DataFrame
    test: pd.DataFrame
    cold_items: np.ndarray


class ColdUserSplit(NamedTuple):
    """A user cold-start split: ``train, test, cold_users = cold_user_split(ratings)``."""

    train: pd.DataFrame
    test: pd.DataFrame
    cold_users: np.ndarray


def _check_fraction(value: float, name: str = "test_fraction") -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) or (
            not 0.0 < value < 1.0):
        raise ValueError(f"{name} must lie strictly between 0 and 1, got {value!r}")


def rating_split(ratings: pd.DataFrame, seed: int = 42, test_fraction: float = 0.2) -> Split:
    """RATING protocol: a uniformly random ``test_fraction`` of all ratings is the test set.

    Returns ``Split(train, test)`` with ``len(test) == round(test_fraction * len(ratings))``.
    """
    ratings = check_interactions(ratings, name="ratings", columns=("user", "item", "rating"))
    _check_fraction(test_fraction)
    rng = np.random.default_rng(seed)
    n_test = int(round(test_fraction * len(ratings)))
    is_test = np.zeros(len(ratings), dtype=bool)
    is_test[rng.permutation(len(ratings))[:n_test]] = True
    return Split(ratings[~is_test], ratings[is_test])


def topn_split(ratings: pd.DataFrame, seed: int = 0, test_fraction: float = 0.2) -> Split:
    """TOPN protocol: per user, a random ``test_fraction`` of that user's interactions is held out.

    A user with ``n`` interactions gets ``round(test_fraction * n)`` test items, so every
    user keeps most of their history in training (MovieLens users have ≥ 20 ratings).
    Returns ``Split(train, test)``.
    """
    ratings = check_interactions(ratings, name="ratings")
    _check_fraction(test_fraction)
    rng = np.random.default_rng(seed)
    users = ratings["user"].to_numpy()
    # A random key per row; a row's rank among its user's keys decides where it goes.
    rank_in_user = _rank_within_user(users, rng.random(len(ratings)))
    n_test = np.round(test_fraction * np.bincount(users)).astype(int)[users]
    is_test = rank_in_user < n_test
    return Split(ratings[~is_test], ratings[is_test])


def _rank_within_user(users: np.ndarray, key: np.ndarray) -> np.ndarray:
    """Each row's 0-based rank among its user's rows, ordered by ``key``; ties keep the
    order of the input (``np.lexsort`` is stable)."""
    order = np.lexsort((key, users))
    sorted_users = users[order]
    starts = np.flatnonzero(np.r_[True, sorted_users[1:] != sorted_users[:-1]])
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order)) - np.repeat(starts, np.diff(np.r_[starts, len(order)]))
    return rank


def history_positions(ratings: pd.DataFrame) -> np.ndarray:
    """Each row's position in its user's history in time order: 0 for the user's first
    interaction; ties keep the order of the input. Shape ``(len(ratings),)``, int64."""
    missing = [c for c in ("user", "timestamp") if c not in ratings.columns]
    if missing:
        raise ValueError(f"ratings is missing column(s) {missing}: positions in a history "
                         "follow the timestamps")
    return _rank_within_user(ratings["user"].to_numpy(), ratings["timestamp"].to_numpy())


def sort_by_time(ratings: pd.DataFrame) -> pd.DataFrame:
    """Each user's interactions in time order; ties keep the order of the input (stable)."""
    ratings = check_interactions(ratings, name="ratings", columns=("user", "item", "timestamp"))
    return ratings.sort_values(["user", "timestamp"], kind="stable")


def seq_split(ratings: pd.DataFrame) -> SeqSplit:
    """SEQ protocol: per user, the last interaction is the test item, the one before it validation.

    Users with fewer than three interactions keep all of them in training. To score the
    test item, fit on ``train`` + ``valid`` (the history up to the test item, ``split.history``);
    to tune, fit on ``train`` and score ``valid``. Returns ``SeqSplit(train, valid, test)``, each
    sorted by user and time.
    """
    ordered = sort_by_time(ratings)
    users = ordered["user"].to_numpy()
    from_end = ordered.groupby("user", sort=False).cumcount(ascending=False).to_numpy()
    long_enough = np.bincount(users)[users] >= 3
    test = long_enough & (from_end == 0)
    valid = long_enough & (from_end == 1)
    return SeqSplit(ordered[~test & ~valid], ordered[valid], ordered[test])


def seq_validation_splits(ratings: pd.DataFrame, n_folds: int = 3) -> list[SeqSplit]:
    """SEQ validation folds: the validation item, then the items before it, one per fold.

    Fold ``k`` (from 1) holds out, as its ``test``, each user's ``k``-th item from the end
    of the history before the test item: fold 1 is the validation item, ``seq.valid``, after
    ``seq.train``; fold 2 the item before it, after everything earlier; and so on. Use each
    fold as the test split is used: fit on ``fold.history``, score ``fold.test``; the test
    item is in none of them. As in :func:`seq_split`, users with fewer than three
    interactions keep them all in every history and give no target; a user also gives fold
    ``k`` no target when nothing would precede it. Each fold is a :class:`SeqSplit` whose
    ``valid`` is the item just before its ``test``. Returns ``[SeqSplit] × n_folds``.
    """
    if isinstance(n_folds, bool) or not isinstance(n_folds, (int, np.integer)) or n_folds < 1:
        raise ValueError(f"n_folds must be a positive integer, got {n_folds!r}")
    ordered = sort_by_time(ratings)
    counts = np.bincount(ordered["user"].to_numpy())[ordered["user"].to_numpy()]
    from_end = ordered.groupby("user", sort=False).cumcount(ascending=False).to_numpy()
    folds = []
    for k in range(1, n_folds + 1):
        test = (counts >= k + 2) & (from_end == k)
        valid = (counts >= 3) & (from_end == k + 1)
        train = (counts < 3) | (from_end > k + 1)
        folds.append(SeqSplit(ordered[train], ordered[valid], ordered[test]))
    return folds


def cold_item_split(
    ratings: pd.DataFrame, seed: int = 0, cold_fraction: float = 0.2, n_items: int | None = None
) -> ColdSplit:
    """COLD protocol: a seeded ``cold_fraction`` of the items is removed from training entirely.

    Items are drawn from ``range(n_items)`` (default: every item id seen in ``ratings``).
    ``test`` holds every rating of a cold item; ``train`` holds none. Models rank the cold
    items for the users who rated them, from content alone.
    Returns ``ColdSplit(train, test, cold_items)`` with ``cold_items`` sorted.
    """
    ratings = check_interactions(ratings, name="ratings")
    _check_fraction(cold_fraction, "cold_fraction")
    items = np.arange(n_items) if n_items is not None else np.unique(ratings["item"].to_numpy())
    rng = np.random.default_rng(seed)
    n_cold = int(round(cold_fraction * len(items)))
    cold_items = np.sort(rng.choice(items, size=n_cold, replace=False))
    is_cold = np.isin(ratings["item"].to_numpy(), cold_items)
    return ColdSplit(ratings[~is_cold], ratings[is_cold], cold_items)


def _check_non_negative(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
    return int(value)


def cold_user_split(
    ratings: pd.DataFrame,
    seed: int = 0,
    cold_fraction: float = 0.2,
    n_known: int = 0,
    max_known: int = 10,
    n_users: int | None = None,
) -> ColdUserSplit:
    """COLD-USER protocols: a seeded ``cold_fraction`` of the users is held out of training.

    Users are drawn from ``range(n_users)`` (default: every user id seen in ``ratings``).
    ``train`` holds every rating of the other (warm) users and each cold user's first
    ``n_known`` ratings in time order (ties keep the input order); ``test`` holds each cold
    user's ratings after their first ``max_known``. A cold user's ratings between the
    ``n_known``-th and the ``max_known``-th are in neither part: that way the test rows are
    the *same* for every ``n_known ≤ max_known``, so a curve of accuracy against ``n_known``
    compares like with like (a user's later ratings are also harder to guess than their
    first ones, which would otherwise favour the settings with fewer known ratings). A cold
    user with ``max_known`` ratings or fewer has no test rows.

    Parameters
    ----------
    ratings : DataFrame with ``user``, ``item`` and ``timestamp`` columns.
    seed : the seed of the draw of cold users.
    cold_fraction : the share of users held out, strictly between 0 and 1.
    n_known : the ratings of each cold user, earliest first, that stay in ``train``.
    max_known : where each cold user's test ratings start; ``n_known ≤ max_known``.
    n_users : the size of the user id space the cold users are drawn from.

    Returns
    -------
    ColdUserSplit(train, test, cold_users): two frames with the rows of ``ratings`` in their
    original order, and the cold user ids, sorted (int64, ``round(cold_fraction · n)`` of
    them).
    """
    ratings = check_interactions(ratings, name="ratings", columns=("user", "item", "timestamp"),
                                 n_users=n_users)
    _check_fraction(cold_fraction, "cold_fraction")
    n_known = _check_non_negative(n_known, "n_known")
    max_known = _check_non_negative(max_known, "max_known")
    if n_known > max_known:
        raise ValueError(f"n_known ({n_known}) must not exceed max_known ({max_known}): the "
                         "test ratings start after the first max_known")
    users = ratings["user"].to_numpy()
    pool = np.arange(n_users) if n_users is not None else np.unique(users)
    rng = np.random.default_rng(seed)
    n_cold = int(round(cold_fraction * len(pool)))
    cold_users = np.sort(rng.choice(pool, size=n_cold, replace=False)).astype(np.int64)
    rank = history_positions(ratings)
    is_cold = np.isin(users, cold_users)
    in_train = ~is_cold | (rank < n_known)
    in_test = is_cold & (rank >= max_known)
    return ColdUserSplit(ratings[in_train], ratings[in_test], cold_users)


def temporal_split(ratings: pd.DataFrame, train_fraction: float = 0.8) -> Split:
    """TEMPORAL protocol: one global time cut; what came before it trains, the rest streams.

    The cut is the timestamp of the rating at position ``round(train_fraction · n)`` of all
    ``n`` ratings in time order. ``train`` holds every rating strictly before the cut, in its
    input order; ``stream`` every rating at or after it, sorted by time (ties keep the input
    order), so that all ratings of one second land on the same side. Unlike the random RATING
    split, the model never sees a rating from the future of a rating it is asked to predict,
    and the stream brings users and items that training never saw.

    Returns ``Split(train, stream)`` (the second field is named ``test`` as in every split).
    """
    ratings = check_interactions(ratings, name="ratings", columns=("user", "item", "timestamp"))
    _check_fraction(train_fraction, "train_fraction")
    timestamps = ratings["timestamp"].to_numpy()
    position = int(round(train_fraction * len(ratings)))
    if not 0 < position < len(ratings):
        raise ValueError(f"train_fraction={train_fraction} of {len(ratings)} ratings leaves "
                         "one side of the time cut empty; give more ratings or another "
                         "train_fraction")
    cut = np.sort(timestamps, kind="stable")[position]
    before = timestamps < cut
    if not before.any():
        raise ValueError(f"every rating has the first timestamp ({cut}): there is nothing "
                         "before the time cut to train on")
    stream = ratings[~before].sort_values("timestamp", kind="stable")
    return Split(ratings[before], stream)


def standard_splits(ratings: pd.DataFrame, n_items: int | None = None,
                    n_users: int | None = None) -> dict:
    """Every protocol's split of ``ratings`` with its standard seed, by protocol name.

    ``n_items`` is passed to :func:`cold_item_split` (the items the cold ones are drawn
    from), ``n_users`` to :func:`cold_user_split` (the users the cold ones are drawn from).
    COLD-USER and COLD-USER+5 hold out the same users and test the same rows; they differ
    only in the :data:`KNOWN_RATINGS` of each cold user in training.
    """
    cold_users = {protocol: cold_user_split(ratings, n_known=n_known, n_users=n_users)
                  for protocol, n_known in KNOWN_RATINGS.items()}
    return {RATING: rating_split(ratings), TOPN: topn_split(ratings),
            SEQ: seq_split(ratings), COLD: cold_item_split(ratings, n_items=n_items),
            **cold_users}
