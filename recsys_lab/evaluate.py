"""All evaluation, in one module: one protocol-aware score for every model, and its relatives.

* :func:`evaluate` fits a model on ``train`` (timed), scores ``test`` under a protocol's
  rules and returns one tidy row (a dict);
* :class:`Validation` scores a model during training: pass it to ``fit(..., valid=...)`` and
  the model records the protocol's metrics after every epoch in ``curves_``;
* :func:`sweep` evaluates one model per setting on a validation split;
* :func:`sampled_hit_rate` and :func:`full_hit_rate` rank each test item against 100 sampled
  negatives or against every unseen item (Krichene & Rendle 2020); :class:`ScoreCache` makes
  such per-user loops cheap;
* :func:`per_user_metrics` keeps each test user's metrics, for paired comparisons
  (:mod:`recsys_lab.stats`); :func:`scoring_inputs` says what a protocol scores a model
  against (history, candidates); :func:`per_unit_scores` gives a fitted model's headline
  metric per test unit of a standard split (a squared error per rating under RATING);
* :func:`next_item_ranks` gives the rank of each user's next item (SEQ), for per-user
  analyses;
* :class:`Leaderboard` gathers rows from every chapter and draws them as a table or a chart.

Models never import this module: evaluation calls models, not the other way round.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

import numpy as np
import pandas as pd

from recsys_lab import metrics
from recsys_lab.base import interaction_matrix
from recsys_lab.splits import COLD, COLD_USER, COLD_USER_5, PROTOCOLS, RATING, SEQ, TOPN
from recsys_lab.validation import check_count, check_fitted, check_ids, check_interactions

#: The metrics each protocol reports, in display order.
PROTOCOL_METRICS = {
    RATING: ("RMSE", "MAE"),
    TOPN: ("Precision@10", "Recall@10", "Recall@20", "NDCG@10", "Coverage@10"),
    SEQ: ("HR@10", "NDCG@10"),
    COLD: ("Recall@20", "NDCG@10"),
    COLD_USER: ("Precision@10", "Recall@20", "NDCG@10"),
    COLD_USER_5: ("Precision@10", "Recall@20", "NDCG@10"),
}
#: The metric a leaderboard sorts by, and whether lower is better.
HEADLINE = {RATING: ("RMSE", True), TOPN: ("NDCG@10", False), SEQ: ("HR@10", False),
            COLD: ("NDCG@10", False), COLD_USER: ("NDCG@10", False),
            COLD_USER_5: ("NDCG@10", False)}

_BATCH_USERS = 256


def _check_protocol(protocol: str) -> None:
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r}; choose one of {PROTOCOLS}")


def _check_candidates(candidates, test: pd.DataFrame, protocol: str, n_items: int):
    """COLD's items to rank (default: the test items), sorted; None under other protocols."""
    if protocol != COLD:
        if candidates is not None:
            raise ValueError(f"candidates applies to the COLD protocol only, not {protocol}")
        return None
    candidates = np.unique(check_ids(test["item"] if candidates is None else candidates,
                                     n_items, kind="item"))
    if len(candidates) == 0:
        raise ValueError("candidates is empty: COLD needs at least one item to rank")
    return candidates


def evaluate(
    model,
    train: pd.DataFrame,
    test: pd.DataFrame,
    protocol: str,
    *,
    n_users: int | None = None,
    n_items: int | None = None,
    fitted: bool = False,
    name: str | None = None,
    candidates=None,
) -> dict:
    """Fit ``model`` on ``train`` unless ``fitted``, then score ``test`` under ``protocol``.

    Parameters
    ----------
    model : an object with the book's interface (``fit``, ``predict`` / ``score_items``).
    train, test : frames with ``user``, ``item`` (and ``rating``) columns. ``train`` is the
        history: under every ranking protocol but COLD its items are removed from each
        user's ranking (under COLD-USER+5, a cold user's known ratings).
    protocol : one of ``"RATING"``, ``"TOPN"``, ``"SEQ"``, ``"COLD"``, ``"COLD-USER"``,
        ``"COLD-USER+5"`` (:data:`recsys_lab.splits.PROTOCOLS`). The two cold-user
        protocols rank all items, as TOPN does, for the held-out users.
    n_users, n_items : sizes of the id spaces; default to a fitted model's, else to the
        largest id seen plus one. Ids of ``train`` and ``test`` must lie below them.
    candidates : under COLD, the item ids to rank (default: the items of ``test``).
        Equal scores are ordered by a fixed random permutation of the candidates.

    Returns
    -------
    dict with ``model``, ``protocol``, the protocol's metrics, ``fit_seconds`` and
    ``n_test_users`` (ranking) or ``n_test`` (ratings).
    """
    _check_protocol(protocol)
    columns = ("user", "item", "rating") if protocol == RATING else ("user", "item")
    if fitted:
        n_users = n_users if n_users is not None else getattr(model, "n_users_", None)
        n_items = n_items if n_items is not None else getattr(model, "n_items_", None)
    n_users = None if n_users is None else check_count(n_users, "n_users")
    n_items = None if n_items is None else check_count(n_items, "n_items")
    train = check_interactions(train, name="train", columns=columns, n_users=n_users,
                               n_items=n_items)
    test = check_interactions(test, name="test", columns=columns, n_users=n_users,
                              n_items=n_items)
    # Sizes not given: the largest ids seen plus one, which the frames respect by construction.
    n_users = n_users or int(max(train["user"].max(), test["user"].max())) + 1
    n_items = n_items or int(max(train["item"].max(), test["item"].max())) + 1
    candidates = _check_candidates(candidates, test, protocol, n_items)
    fit_seconds = float("nan")
    if not fitted:
        start = time.perf_counter()
        model.fit(train, n_users, n_items)
        fit_seconds = time.perf_counter() - start
    row = {"model": name or type(model).__name__, "protocol": protocol}
    if protocol == RATING:
        predicted = model.predict(test["user"].to_numpy(), test["item"].to_numpy())
        row |= {"RMSE": metrics.rmse(test["rating"], predicted),
                "MAE": metrics.mae(test["rating"], predicted), "n_test": len(test)}
    else:
        row |= _ranking_metrics(model, train, test, protocol, n_users, n_items, candidates)
    row["fit_seconds"] = fit_seconds
    return row


def _ranking_metrics(model, train, test, protocol, n_users, n_items, candidates) -> dict:
    per_user, top = _ranking_per_user(model, train, test, protocol, n_users, n_items,
                                      candidates)
    values = {name: float(per_user[name].mean()) for name in per_user.columns}
    if protocol == TOPN:
        values["Coverage@10"] = metrics.coverage(top[:, :10], n_items)
    return values | {"n_test_users": len(per_user)}


def _ranking_per_user(model, train, test, protocol, n_users, n_items, candidates):
    """Each test user's metrics (a frame indexed by user) and their top-20 items."""
    relevant = interaction_matrix(test, n_users, n_items)
    users = np.flatnonzero(relevant.getnnz(axis=1))
    if protocol == COLD:
        excluded = None
    else:
        candidates = np.arange(n_items)
        excluded = interaction_matrix(train, n_users, n_items)
    # Ties are broken in a fixed random order of the candidates, not by item id: in
    # MovieLens low ids are the popular films, so an id-ordered tie-break leaks popularity.
    candidates = np.random.default_rng(0).permutation(candidates)
    k_max = min(20, len(candidates))
    top = np.empty((len(users), k_max), dtype=np.int64)
    for start in range(0, len(users), _BATCH_USERS):
        batch = users[start:start + _BATCH_USERS]
        scores = np.asarray(model.score_items(batch), dtype=float)[:, candidates]
        if excluded is not None:
            scores[excluded[batch][:, candidates].toarray().astype(bool)] = -np.inf
        top[start:start + len(batch)] = candidates[metrics.top_k(scores, k_max)]
    hits = metrics.relevance_hits(top, relevant[users])
    n_relevant = relevant[users].getnnz(axis=1)
    h10 = hits[:, :10]
    # Every metric is cheap given the hits; each protocol keeps the ones it reports.
    values = {"Precision@10": metrics.precision_at_k(h10),
              "Recall@10": metrics.recall_at_k(h10, n_relevant),
              "Recall@20": metrics.recall_at_k(hits, n_relevant),
              "HR@10": metrics.hit_rate_at_k(h10),
              "NDCG@10": metrics.ndcg_at_k(h10, n_relevant)}
    per_user = pd.DataFrame({name: values[name] for name in PROTOCOL_METRICS[protocol]
                             if name in values},
                            index=pd.Index(users, name="user")).astype(float)
    return per_user, top


def per_user_metrics(
    model,
    history: pd.DataFrame,
    test: pd.DataFrame,
    protocol: str,
    *,
    n_users: int | None = None,
    n_items: int | None = None,
    candidates=None,
) -> pd.DataFrame:
    """A fitted model's ranking metrics for each test user, for paired comparisons.

    Scores exactly as :func:`evaluate` does (its means are this frame's column means), but
    keeps one row per user with at least one test item, so two models scored on the same
    users can be compared user by user (:func:`recsys_lab.stats.paired_bootstrap`).

    Parameters
    ----------
    model : a fitted model; ``history`` is the data it was fitted on (its items are removed
        from each user's ranking under every protocol but COLD).
    protocol : ``"TOPN"``, ``"SEQ"``, ``"COLD"``, ``"COLD-USER"`` or ``"COLD-USER+5"``;
        RATING has no per-user ranking (compare squared errors per rating instead).
    n_users, n_items : default to the fitted model's.
    candidates : under COLD, the item ids to rank (default: the items of ``test``).

    Returns
    -------
    DataFrame indexed by ``user`` (sorted), one float column per metric of the protocol
    except coverage, which is a property of the whole list set.
    """
    _check_protocol(protocol)
    if protocol == RATING:
        raise ValueError("per_user_metrics ranks items; RATING has no ranking (compare "
                         "per-rating squared errors instead)")
    n_users = check_count(n_users if n_users is not None else model.n_users_, "n_users")
    n_items = check_count(n_items if n_items is not None else model.n_items_, "n_items")
    history = check_interactions(history, name="history", columns=("user", "item"),
                                 n_users=n_users, n_items=n_items)
    test = check_interactions(test, name="test", columns=("user", "item"), n_users=n_users,
                              n_items=n_items)
    candidates = _check_candidates(candidates, test, protocol, n_items)
    per_user, _ = _ranking_per_user(model, history, test, protocol, n_users, n_items,
                                    candidates)
    return per_user


def scoring_inputs(split, protocol: str) -> tuple[pd.DataFrame, np.ndarray | None]:
    """What a model fitted on a protocol's split is scored against: ``(history, candidates)``.

    ``history`` is the data whose items are excluded from the ranking and which the model
    was fitted on: ``split.history`` under SEQ (training plus the validation item),
    ``split.train`` otherwise. ``candidates`` is ``split.cold_items`` under COLD (only cold
    items are ranked), ``None`` otherwise.
    """
    _check_protocol(protocol)
    history = split.history if protocol == SEQ else split.train
    candidates = split.cold_items if protocol == COLD else None
    return history, candidates


def protocol_scores(model, split, protocol: str) -> np.ndarray:
    """Every user's scores as the protocol ranks them: ``(n_users, n_items)`` floats.

    The fitted ``model``'s :meth:`score_items` for every user, with the items of the user's
    history (:func:`scoring_inputs`) set to ``-inf`` and, under COLD, every item that is not a
    cold candidate too. ``n_users`` and ``n_items`` are the sizes the model was fitted with.
    Rankings, top-N lists and re-rankers start from this matrix.
    """
    if protocol == RATING:
        raise ValueError("RATING scores ratings, not rankings: protocol_scores needs a ranking "
                         f"protocol, one of {[p for p in PROTOCOLS if p != RATING]}")
    history, candidates = scoring_inputs(split, protocol)
    check_fitted(model, "n_users_")
    n_users, n_items = model.n_users_, model.n_items_
    scores = np.vstack([np.asarray(model.score_items(np.arange(start, min(start + _BATCH_USERS,
                                                                           n_users))), dtype=float)
                        for start in range(0, n_users, _BATCH_USERS)])
    seen = interaction_matrix(history, n_users, n_items).toarray().astype(bool)
    scores[seen] = -np.inf
    if candidates is not None:
        outside = np.ones(n_items, dtype=bool)
        outside[np.asarray(candidates, dtype=int)] = False
        scores[:, outside] = -np.inf
    return scores


def top_lists(model, split, protocol: str, k: int = 10) -> np.ndarray:
    """Each user's top-``k`` items under a protocol: ``(n_users, k)`` item ids, best first.

    The ``k`` highest of :func:`protocol_scores` (ties to the lower item id,
    :func:`recsys_lab.metrics.top_k`): what the user would be shown, for measures of the
    lists themselves (exposure, long-tail share, diversity; :mod:`recsys_lab.beyond_accuracy`).
    """
    return metrics.top_k(protocol_scores(model, split, protocol), check_count(k, "k"))


def ndcg_by_user(top, relevant, users) -> pd.Series:
    """NDCG@K of given top-K lists, one value per user: for lists a model did not rank alone.

    ``top`` ``(n_users, K)`` item ids, best first (e.g. :func:`top_lists`, a re-ranked or
    retrieve-then-rank list); ``relevant`` the sparse ``(n_users, n_items)`` held-out items;
    ``users`` the user ids to evaluate (each with at least one held-out item). Returns a
    Series named ``"NDCG@K"`` indexed by ``user``, to pair with
    :func:`recsys_lab.stats.paired_bootstrap`.
    """
    top, users = np.asarray(top), np.asarray(users)
    hits = metrics.relevance_hits(top[users], relevant[users])
    values = metrics.ndcg_at_k(hits, relevant[users].getnnz(axis=1))
    return pd.Series(values, index=pd.Index(users, name="user"), name=f"NDCG@{top.shape[1]}")


def per_unit_scores(model, split, protocol: str) -> pd.Series:
    """A fitted model's headline metric on each test unit of a protocol's split.

    What a leaderboard pairs: under the ranking protocols each test user's headline metric
    (:data:`HEADLINE`: NDCG@10, or HR@10 under SEQ); under RATING each test rating's squared
    error, whose mean is the MSE (lower is better). The model is scored as
    :func:`recsys_lab.registry.run` scored it: with ``split.history`` as the history under
    SEQ, among ``split.cold_items`` under COLD, with ``split.train`` otherwise.

    Parameters
    ----------
    model : a model fitted on the split's training data (``split.history`` under SEQ).
    split : the protocol's split (:func:`recsys_lab.splits.standard_splits`).
    protocol : one of :data:`recsys_lab.splits.PROTOCOLS`.

    Returns
    -------
    Series of floats named after the metric (``"squared error"`` under RATING), indexed by
    ``user`` (ranking protocols, as :func:`per_user_metrics`) or by the test frame's index
    (RATING). Two models' Series pair up in :func:`recsys_lab.stats.paired_bootstrap`.
    """
    _check_protocol(protocol)
    history, candidates = scoring_inputs(split, protocol)
    if protocol == RATING:
        test = split.test
        predicted = np.asarray(model.predict(test["user"].to_numpy(), test["item"].to_numpy()),
                               dtype=float)
        errors = (predicted - test["rating"].to_numpy(dtype=float)) ** 2
        return pd.Series(errors, index=test.index, name="squared error")
    metric = HEADLINE[protocol][0]
    return per_user_metrics(model, history, split.test, protocol, candidates=candidates)[metric]


class Validation:
    """A protocol's metrics on held-out data, for ``fit(train, n_users, n_items, valid=...)``.

    ``Validation(history, held_out, protocol)`` is called with the model being trained after
    every epoch and returns the protocol's metrics (:data:`PROTOCOL_METRICS`, or
    ``metrics``) on ``held_out``, scored as :func:`evaluate` does with ``history`` as the
    items each user has seen (normally the frame the model is fitted on). Models record them
    in ``curves_``. ``held_out`` must be a validation split carved from training data, never
    the test split.
    """

    def __init__(self, history: pd.DataFrame, held_out: pd.DataFrame, protocol: str, *,
                 metrics: Iterable[str] | None = None, candidates=None):
        _check_protocol(protocol)
        self.history, self.held_out, self.protocol = history, held_out, protocol
        self.metrics = tuple(metrics) if metrics is not None else PROTOCOL_METRICS[protocol]
        unknown = set(self.metrics) - set(PROTOCOL_METRICS[protocol])
        if unknown:
            raise ValueError(f"{protocol} reports {PROTOCOL_METRICS[protocol]}, not "
                             f"{sorted(unknown)}")
        self.candidates = candidates

    def __call__(self, model) -> dict[str, float]:
        row = evaluate(model, self.history, self.held_out, self.protocol, fitted=True,
                       candidates=self.candidates)
        return {name: row[name] for name in self.metrics}


def sweep(
    make_model: Callable,
    values: Iterable,
    train: pd.DataFrame,
    valid: pd.DataFrame,
    protocol: str,
    *,
    n_users: int,
    n_items: int,
    parameter: str = "value",
) -> pd.DataFrame:
    """Evaluate ``make_model(value)`` for each value; one row per value, ``parameter`` first.

    ``valid`` must be a validation split carved from training data: sweeping on the test
    split would tune on the test set.
    """
    rows = []
    for value in values:
        row = evaluate(make_model(value), train, valid, protocol, n_users=n_users,
                       n_items=n_items)
        rows.append({parameter: value, **row})
    if not rows:
        raise ValueError("sweep needs at least one value")
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------
# Sampled against full ranking, per test pair
# --------------------------------------------------------------------------------------------


def hits_by_user(
    model,
    train: pd.DataFrame,
    test: pd.DataFrame,
    *,
    n_negatives: int | None = None,
    k: int = 10,
    seed: int = 0,
) -> dict[int, np.ndarray]:
    """Whether each (user, test item) pair is a hit at K, by user: ``{user: bool array}``.

    A pair is a hit if fewer than ``k`` negatives score above its test item (a tie counts
    half). The negatives are every item the user never interacted with (in ``train`` or
    ``test``), or, with ``n_negatives``, that many drawn uniformly from them for each pair
    (seeded by ``seed``). Each user's array follows the order of her rows in ``test``.
    ``model`` must be fitted. The per-user means pair two models user by user
    (:mod:`recsys_lab.stats`); :func:`sampled_hit_rate` and :func:`full_hit_rate` average
    all pairs.
    """
    rng = np.random.default_rng(seed)
    seen = interaction_matrix(pd.concat([train[["user", "item"]], test[["user", "item"]]]),
                              model.n_users_, model.n_items_).toarray().astype(bool)
    users = np.unique(test["user"].to_numpy())
    positives = test.groupby("user")["item"].apply(np.asarray)
    # Full ranking scores users in batches; sampling scores one user at a time, in user
    # order, so that the draws and the scores stay those of the per-user definition.
    step = 256 if n_negatives is None else 1
    hits = {}
    for start in range(0, len(users), step):
        batch = users[start:start + step]
        scores = np.asarray(model.score_items(batch), dtype=float)
        for row, user in enumerate(batch):
            unseen = np.flatnonzero(~seen[user])
            positive = scores[row][positives[user]]
            if n_negatives is None:
                negative = np.sort(scores[row][unseen])
                right = np.searchsorted(negative, positive, side="right")
                above = len(negative) - right
                ties = right - np.searchsorted(negative, positive, side="left")
            else:
                drawn = rng.choice(unseen, size=(len(positive), n_negatives))
                above = (scores[row][drawn] > positive[:, None]).sum(1)
                ties = (scores[row][drawn] == positive[:, None]).sum(1)
            hits[int(user)] = above + 0.5 * ties < k
    return hits


def sampled_hit_rate(
    model,
    train: pd.DataFrame,
    test: pd.DataFrame,
    *,
    n_negatives: int = 100,
    k: int = 10,
    seed: int = 0,
) -> float:
    """HR@K when each test item is ranked among ``n_negatives`` sampled items only.

    For every (user, test item) pair, ``n_negatives`` items the user never interacted
    with (in ``train`` or ``test``) are drawn uniformly; the pair is a hit if fewer than
    ``k`` of them score higher than the test item (ties count half). ``model`` must be
    fitted. Shown beside full ranking to make a point: this number is inflated and can
    even order models differently (Krichene & Rendle 2020).
    """
    hits = hits_by_user(model, train, test, n_negatives=n_negatives, k=k, seed=seed)
    return float(np.concatenate(list(hits.values())).mean())


def full_hit_rate(model, train: pd.DataFrame, test: pd.DataFrame, k: int = 10) -> float:
    """HR@K of each (user, test item) pair ranked against *every* item the user never touched.

    The full-ranking twin of :func:`sampled_hit_rate`: the same pairs and the same tie rule
    (a tie counts half), but all unseen items (in neither ``train`` nor ``test``) are the
    negatives instead of 100 random ones. ``model`` must be fitted.
    """
    return float(np.concatenate(list(hits_by_user(model, train, test, k=k).values())).mean())


class ScoreCache:
    """A fitted model's scores for every user, computed once, behind ``score_items``.

    Evaluation loops that score one user at a time (:func:`full_hit_rate`,
    :func:`sampled_hit_rate`) call ``score_items`` per user; for models whose single-user
    scoring is slow (item-KNN) it is much faster to compute the ``(n_users, n_items)`` score
    matrix once. Exposes ``n_users_``, ``n_items_``, ``scores_`` and
    ``score_items(users) -> (len(users), n_items)``.
    """

    def __init__(self, model):
        self.n_users_, self.n_items_ = model.n_users_, model.n_items_
        self.scores_ = np.asarray(model.score_items(np.arange(model.n_users_)), dtype=float)

    def score_items(self, users) -> np.ndarray:
        """Rows of the cached scores (a copy), shape ``(len(users), n_items)``."""
        return self.scores_[check_ids(users, self.n_users_, kind="user")]


def next_item_ranks(model, history: pd.DataFrame, test: pd.DataFrame, n_users: int,
                    n_items: int) -> pd.DataFrame:
    """Where a fitted model ranks each user's next item, for per-user analyses (SEQ).

    ``model`` must have been fitted on ``history``; ``test`` holds one next item per user.
    Items of the user's ``history`` are excluded from the ranking, as in :func:`evaluate`.
    Ties count half (the expected rank under a random tie-break), so ``(rank < 10).mean()``
    is HR@10 up to ties.

    Returns
    -------
    DataFrame with one row per test row: ``user``, ``item``, ``rank`` (0 = first, float) and
    ``history_length`` (the user's interactions in ``history``).
    """
    history = check_interactions(history, name="history", columns=("user", "item"),
                                 n_users=n_users, n_items=n_items)
    test = check_interactions(test, name="test", columns=("user", "item"), n_users=n_users,
                              n_items=n_items)
    users = test["user"].to_numpy()
    items = test["item"].to_numpy()
    scores = np.array(model.score_items(users), dtype=float)
    seen = interaction_matrix(history, n_users, n_items)[users].toarray().astype(bool)
    seen[np.arange(len(users)), items] = False
    scores[seen] = -np.inf
    target = scores[np.arange(len(users)), items][:, None]
    rank = (scores > target).sum(axis=1) + 0.5 * ((scores == target).sum(axis=1) - 1)
    lengths = np.bincount(history["user"].to_numpy(), minlength=n_users)
    return pd.DataFrame({"user": users, "item": items, "rank": rank,
                         "history_length": lengths[users]})


# --------------------------------------------------------------------------------------------
# The leaderboard
# --------------------------------------------------------------------------------------------


class Leaderboard:
    """Rows of :func:`evaluate` from every chapter, as a table or a chart.

    A row is keyed by ``(model, protocol)``; adding a row with the same key replaces it, so
    re-running a chapter's cell updates its entries instead of duplicating them.
    """

    #: Columns shown after the metrics when the rows have them (the registry adds the last).
    COSTS = ("fit_seconds", "parameters")

    def __init__(self, rows=()):
        self._rows: dict[tuple[str, str], dict] = {}
        for row in rows:
            self.add(row)

    def add(self, row: dict) -> Leaderboard:
        """Add or replace one row; returns the leaderboard for chaining."""
        missing = {"model", "protocol"} - set(row)
        if missing:
            raise ValueError(f"a leaderboard row needs {sorted(missing)}")
        _check_protocol(row["protocol"])
        self._rows[(row["model"], row["protocol"])] = dict(row)
        return self

    def __len__(self) -> int:
        return len(self._rows)

    def table(self, protocol: str) -> pd.DataFrame:
        """The rows of one protocol, best first by its headline metric, indexed by model.

        Columns: the protocol's metrics, then ``fit_seconds`` and, when the rows have it,
        ``parameters``.
        """
        _check_protocol(protocol)
        rows = [r for (_, p), r in self._rows.items() if p == protocol]
        costs = [c for c in self.COSTS if c == "fit_seconds" or any(c in r for r in rows)]
        columns = ["model", *PROTOCOL_METRICS[protocol], *costs]
        frame = pd.DataFrame(rows, columns=columns).set_index("model")
        headline, ascending = HEADLINE[protocol]
        return frame.sort_values(headline, ascending=ascending)

    def best(self, protocol: str, models=None) -> str:
        """The name of the best row of ``protocol`` by its headline metric, among ``models``
        (an iterable of row names) when given; of tied rows, the first in ``models`` (or in
        :meth:`table`'s order)."""
        table = self.table(protocol)
        if models is not None:
            models = list(models)
            if not models:
                raise ValueError("models is empty: name at least one row to choose from")
            unknown = [name for name in models if name not in table.index]
            if unknown:
                raise ValueError(f"no {protocol} row named {unknown}; the rows are "
                                 f"{list(table.index)}")
            table = table.loc[models]
        headline, ascending = HEADLINE[protocol]
        return str(table[headline].idxmin() if ascending else table[headline].idxmax())

    def plot(self, protocol: str, metric: str | None = None, ax=None, highlight=()):
        """A horizontal bar chart of one metric; ``highlight`` names models drawn in colour."""
        import matplotlib.pyplot as plt

        metric = metric or HEADLINE[protocol][0]
        values = self.table(protocol)[metric].iloc[::-1]
        ax = ax or plt.subplots(figsize=(6, 0.4 * len(values) + 1))[1]
        colours = ["tab:orange" if m in highlight else "tab:blue" for m in values.index]
        ax.barh(values.index, values.to_numpy(), color=colours)
        for y, value in enumerate(values.to_numpy()):
            ax.annotate(f"{value:.3f}", (value, y), xytext=(3, 0),
                        textcoords="offset points", va="center")
        ax.set_xlabel(metric)
        ax.set_title(f"{protocol} protocol on MovieLens-100K")
        return ax
