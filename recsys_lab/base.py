"""The one interface every model of the book implements, so evaluation never special-cases one.

* ``fit(train, n_users, n_items) -> self``: learn from a frame with ``user``, ``item``
  (and ``rating`` for rating models) columns.
* ``predict(users, items) -> ratings``, shape ``(n,)``, for models that predict ratings.
* ``score_items(users) -> scores``, shape ``(len(users), n_items)``, higher is better, for
  ranking. The caller removes the training history; models need not.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recsys_lab.validation import check_fitted, check_ids, check_interactions


def interaction_matrix(
    frame: pd.DataFrame, n_users: int, n_items: int, values: str | None = None
) -> sp.csr_matrix:
    """Sparse ``(n_users, n_items)`` matrix of a frame: 1 per interaction, or ``frame[values]``.

    Duplicate (user, item) pairs are counted once (binary) or keep their last value.
    """
    frame = frame.drop_duplicates(["user", "item"], keep="last")
    data = np.ones(len(frame)) if values is None else frame[values].to_numpy(dtype=float)
    return sp.csr_matrix(
        (data, (frame["user"].to_numpy(), frame["item"].to_numpy())), shape=(n_users, n_items)
    )


class Recommender:
    """Base class: validation at the boundary and the shared bookkeeping of ``fit``.

    Subclasses implement ``_fit(train)`` and ``_score(users)`` (and ``_predict`` for rating
    models). Hyper-parameters are set in ``__init__`` and never changed by ``fit``;
    learned state ends with an underscore, as in scikit-learn.
    """

    needs_ratings = False

    def fit(self, train: pd.DataFrame, n_users: int, n_items: int):
        """Learn from ``train``; ids must lie in ``[0, n_users)`` and ``[0, n_items)``."""
        for name, value in (("n_users", n_users), ("n_items", n_items)):
            if not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        columns = ("user", "item", "rating") if self.needs_ratings else ("user", "item")
        check_interactions(train, name="train", columns=columns, n_users=n_users, n_items=n_items)
        self.n_users_, self.n_items_ = int(n_users), int(n_items)
        self.history_ = interaction_matrix(train, self.n_users_, self.n_items_)
        self._fit(train)
        return self

    def score_items(self, users) -> np.ndarray:
        """Scores of every item for each user, shape ``(len(users), n_items)``; higher is better."""
        check_fitted(self, "history_")
        users = check_ids(users, self.n_users_, kind="user")
        return np.asarray(self._score(users), dtype=float)

    def predict(self, users, items) -> np.ndarray:
        """Predicted ratings for the pairs ``(users[j], items[j])``, shape ``(n,)``."""
        check_fitted(self, "history_")
        if not hasattr(self, "_predict"):
            raise ValueError(f"{type(self).__name__} ranks items; it does not predict ratings")
        users = check_ids(users, self.n_users_, kind="user")
        items = check_ids(items, self.n_items_, kind="item")
        if users.shape != items.shape:
            raise ValueError(f"users has shape {users.shape} but items has shape {items.shape}")
        return np.asarray(self._predict(users, items), dtype=float)

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.endswith("_")
                           and not k.startswith("_"))
        return f"{type(self).__name__}({params})"


class RatingRecommender(Recommender):
    """A model of explicit ratings; it ranks items by predicted rating."""

    needs_ratings = True

    def _score(self, users: np.ndarray) -> np.ndarray:
        items = np.arange(self.n_items_)
        pairs_users = np.repeat(users, self.n_items_)
        return self._predict(pairs_users, np.tile(items, len(users))).reshape(len(users), -1)
