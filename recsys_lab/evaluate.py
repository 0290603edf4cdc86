"""One evaluation for every model and protocol, and the leaderboard that collects the results.

``evaluate(model, train, test, protocol)`` fits the model on ``train`` (timed), scores
``test`` under the protocol's rules and returns one tidy row (a dict). A
:class:`Leaderboard` gathers rows from every chapter and draws them as a table or a chart.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pandas as pd

from recsys_lab import metrics
from recsys_lab.base import interaction_matrix
from recsys_lab.splits import COLD, PROTOCOLS, RATING, SEQ, TOPN
from recsys_lab.validation import check_interactions

#: The metrics each protocol reports, in display order.
PROTOCOL_METRICS = {
    RATING: ("RMSE", "MAE"),
    TOPN: ("Precision@10", "Recall@10", "Recall@20", "NDCG@10", "Coverage@10"),
    SEQ: ("HR@10", "NDCG@10"),
    COLD: ("Recall@20", "NDCG@10"),
}
#: The metric a leaderboard sorts by, and whether lower is better.
HEADLINE = {RATING: ("RMSE", True), TOPN: ("NDCG@10", False), SEQ: ("HR@10", False),
            COLD: ("NDCG@10", False)}

_BATCH_USERS = 256


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
        history: under TOPN and SEQ its items are removed from each user's ranking.
    protocol : one of ``"RATING"``, ``"TOPN"``, ``"SEQ"``, ``"COLD"``.
    n_users, n_items : sizes of the id spaces; default to the largest id seen plus one.
    candidates : under COLD, the item ids to rank (default: the items of ``test``).
        Equal scores are ordered by a fixed random permutation of the candidates.

    Returns
    -------
    dict with ``model``, ``protocol``, the protocol's metrics, ``fit_seconds`` and
    ``n_test_users`` (ranking) or ``n_test`` (ratings).
    """
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r}; choose one of {PROTOCOLS}")
    columns = ("user", "item", "rating") if protocol == RATING else ("user", "item")
    check_interactions(train, name="train", columns=columns)
    check_interactions(test, name="test", columns=columns)
    n_users = n_users or int(max(train["user"].max(), test["user"].max())) + 1
    n_items = n_items or int(max(train["item"].max(), test["item"].max())) + 1
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
    relevant = interaction_matrix(test, n_users, n_items)
    users = np.flatnonzero(relevant.getnnz(axis=1))
    if protocol == COLD:
        candidates = np.unique(test["item"]) if candidates is None else np.asarray(candidates)
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
        scores = np.array(model.score_items(batch), dtype=float)[:, candidates]
        if excluded is not None:
            scores[excluded[batch][:, candidates].toarray().astype(bool)] = -np.inf
        top[start:start + len(batch)] = candidates[metrics.top_k(scores, k_max)]
    hits = metrics.relevance_hits(top, relevant[users])
    n_relevant = relevant[users].getnnz(axis=1)
    h10 = hits[:, :10]
    if protocol == TOPN:
        values = {"Precision@10": metrics.precision_at_k(h10),
                  "Recall@10": metrics.recall_at_k(h10, n_relevant),
                  "Recall@20": metrics.recall_at_k(hits, n_relevant),
                  "NDCG@10": metrics.ndcg_at_k(h10, n_relevant)}
        values = {k: float(v.mean()) for k, v in values.items()}
        values["Coverage@10"] = metrics.coverage(top[:, :10], n_items)
    elif protocol == SEQ:
        values = {"HR@10": float(metrics.hit_rate_at_k(h10).mean()),
                  "NDCG@10": float(metrics.ndcg_at_k(h10, n_relevant).mean())}
    else:
        values = {"Recall@20": float(metrics.recall_at_k(hits, n_relevant).mean()),
                  "NDCG@10": float(metrics.ndcg_at_k(h10, n_relevant).mean())}
    return values | {"n_test_users": len(users)}


def default_leaderboard_path() -> Path:
    """Where rows persist: ``$RECSYS_LAB_LEADERBOARD``, else ``_build/leaderboard.csv``."""
    configured = os.environ.get("RECSYS_LAB_LEADERBOARD")
    if configured:
        return Path(configured)
    return Path(__file__).resolve().parents[1] / "_build" / "leaderboard.csv"


class Leaderboard:
    """Rows of :func:`evaluate` from every chapter: a table, a chart and a small CSV file.

    A row is keyed by ``(model, protocol)``; adding a row with the same key replaces it, so
    re-running a chapter updates its entries instead of duplicating them.
    """

    def __init__(self, rows=()):
        self._rows: dict[tuple[str, str], dict] = {}
        for row in rows:
            self.add(row)

    def add(self, row: dict) -> Leaderboard:
        """Add or replace one row; returns the leaderboard for chaining."""
        missing = {"model", "protocol"} - set(row)
        if missing:
            raise ValueError(f"a leaderboard row needs {sorted(missing)}")
        if row["protocol"] not in PROTOCOLS:
            raise ValueError(f"unknown protocol {row['protocol']!r}; choose one of {PROTOCOLS}")
        self._rows[(row["model"], row["protocol"])] = dict(row)
        return self

    def __len__(self) -> int:
        return len(self._rows)

    def table(self, protocol: str) -> pd.DataFrame:
        """The rows of one protocol, best first by its headline metric, indexed by model."""
        if protocol not in PROTOCOLS:
            raise ValueError(f"unknown protocol {protocol!r}; choose one of {PROTOCOLS}")
        rows = [r for (_, p), r in self._rows.items() if p == protocol]
        columns = ["model", *PROTOCOL_METRICS[protocol], "fit_seconds"]
        frame = pd.DataFrame(rows, columns=columns).set_index("model")
        headline, ascending = HEADLINE[protocol]
        return frame.sort_values(headline, ascending=ascending)

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

    def save(self, path: str | os.PathLike | None = None) -> Path:
        """Merge the rows into the CSV at ``path`` (default :func:`default_leaderboard_path`)."""
        path = Path(path) if path else default_leaderboard_path()
        merged = Leaderboard.load(path) if path.exists() else Leaderboard()
        for row in self._rows.values():
            merged.add(row)
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(".tmp")
        pd.DataFrame(list(merged._rows.values())).to_csv(temporary, index=False)
        os.replace(temporary, path)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike | None = None) -> Leaderboard:
        """Read a leaderboard saved by :meth:`save`; a missing file gives an empty one."""
        path = Path(path) if path else default_leaderboard_path()
        if not path.exists():
            return cls()
        return cls(pd.read_csv(path).to_dict("records"))


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
    rng = np.random.default_rng(seed)
    n_items = model.n_items_
    seen = interaction_matrix(pd.concat([train[["user", "item"]], test[["user", "item"]]]),
                              model.n_users_, n_items).tolil().rows
    hits = []
    for user, positives in test.groupby("user")["item"]:
        scores = np.asarray(model.score_items([user]))[0]
        pool = np.setdiff1d(np.arange(n_items), seen[user], assume_unique=True)
        negatives = rng.choice(pool, size=(len(positives), n_negatives))
        positive_scores = scores[positives.to_numpy()][:, None]
        above = (scores[negatives] > positive_scores).sum(1)
        ties = (scores[negatives] == positive_scores).sum(1)
        hits.append(above + 0.5 * ties < k)
    return float(np.concatenate(hits).mean())
