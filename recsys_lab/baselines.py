"""Strong non-neural baselines: every deep model of the book is measured against these.

* :class:`GlobalMean` and :class:`Biases` predict ratings (RATING protocol).
* :class:`MostPopular`, :class:`ItemKNN` and :class:`EASE` rank items (TOPN, SEQ).

Constructor defaults are the settings chapter 1 chose on a validation split of ML-100K.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recsys_lab.base import RatingRecommender, Recommender


class GlobalMean(RatingRecommender):
    """Predicts the mean training rating for every pair: the floor every model must beat."""

    def _fit(self, train: pd.DataFrame) -> None:
        self.mean_ = float(train["rating"].mean())

    def _predict(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        return np.full(len(users), self.mean_)


class Biases(RatingRecommender):
    """``r̂_ui = μ + b_u + b_i`` with L2-regularised biases, fitted by alternating least squares.

    Each half-step solves its biases in closed form: ``b_i = Σ_u (r_ui − μ − b_u) / (λ_i + n_i)``
    and likewise for users, which shrinks the biases of rarely rated items towards zero.

    Parameters
    ----------
    reg_item, reg_user : float
        The shrinkage ``λ_i`` and ``λ_u`` (in pseudo-ratings).
    n_iter : int
        Alternating passes.
    """

    def __init__(self, reg_item: float = 3.0, reg_user: float = 3.0, n_iter: int = 10):
        self.reg_item = reg_item
        self.reg_user = reg_user
        self.n_iter = n_iter

    def _fit(self, train: pd.DataFrame) -> None:
        users = train["user"].to_numpy()
        items = train["item"].to_numpy()
        ratings = train["rating"].to_numpy(dtype=float)
        self.mean_ = float(ratings.mean())
        n_per_user = np.bincount(users, minlength=self.n_users_)
        n_per_item = np.bincount(items, minlength=self.n_items_)
        self.user_bias_ = np.zeros(self.n_users_)
        self.item_bias_ = np.zeros(self.n_items_)
        for _ in range(self.n_iter):
            residual = ratings - self.mean_ - self.user_bias_[users]
            self.item_bias_ = np.bincount(items, residual, self.n_items_) / (
                self.reg_item + n_per_item
            )
            residual = ratings - self.mean_ - self.item_bias_[items]
            self.user_bias_ = np.bincount(users, residual, self.n_users_) / (
                self.reg_user + n_per_user
            )

    def _predict(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        return self.mean_ + self.user_bias_[users] + self.item_bias_[items]


class MostPopular(Recommender):
    """Ranks items by how many training interactions they have, the same list for everyone."""

    def _fit(self, train: pd.DataFrame) -> None:
        self.popularity_ = np.asarray(self.history_.sum(axis=0)).ravel()

    def _score(self, users: np.ndarray) -> np.ndarray:
        return np.broadcast_to(self.popularity_, (len(users), self.n_items_))


class ItemKNN(Recommender):
    """Item-based collaborative filtering with cosine similarity on binary interactions.

    ``score(u, j) = Σ_{i ∈ history(u)} sim(i, j)``, where each item keeps only its
    ``n_neighbors`` most similar items (Sarwar et al. 2001; Deshpande & Karypis 2004).
    ``shrinkage`` is added to the cosine's denominator to damp similarities between
    items with few interactions.
    """

    def __init__(self, n_neighbors: int = 300, shrinkage: float = 10.0):
        self.n_neighbors = n_neighbors
        self.shrinkage = shrinkage

    def _fit(self, train: pd.DataFrame) -> None:
        if not 0 < self.n_neighbors:
            raise ValueError(f"n_neighbors must be positive, got {self.n_neighbors}")
        interactions = self.history_
        co_counts = (interactions.T @ interactions).toarray()
        norms = np.sqrt(np.diag(co_counts))
        similarity = co_counts / (np.outer(norms, norms) + self.shrinkage + 1e-12)
        np.fill_diagonal(similarity, 0.0)
        k = min(self.n_neighbors, self.n_items_ - 1)
        # Keep each item's k nearest neighbours (a row of the similarity matrix).
        weakest = np.argpartition(-similarity, k, axis=1)[:, k:]
        np.put_along_axis(similarity, weakest, 0.0, axis=1)
        self.similarity_ = sp.csr_matrix(similarity)

    def _score(self, users: np.ndarray) -> np.ndarray:
        # Neighbours of the history items vote for the items they are close to.
        return (self.history_[users] @ self.similarity_.T).toarray()


class EASE(Recommender):
    """Embarrassingly Shallow AutoEncoder (Steck 2019): a linear item-to-item model.

    Solves ``min_B ‖X − XB‖² + λ‖B‖²`` subject to ``diag(B) = 0`` in closed form:
    with ``P = (XᵀX + λI)⁻¹``, ``B = I − P · diag(1 / diag(P))``. Scores are ``X B``.
    """

    def __init__(self, l2: float = 800.0):
        self.l2 = l2

    def _fit(self, train: pd.DataFrame) -> None:
        if self.l2 <= 0:
            raise ValueError(f"l2 must be positive, got {self.l2}")
        gram = (self.history_.T @ self.history_).toarray()
        gram[np.diag_indices_from(gram)] += self.l2
        precision = np.linalg.inv(gram)
        self.weights_ = -precision / np.diag(precision)
        np.fill_diagonal(self.weights_, 0.0)

    def _score(self, users: np.ndarray) -> np.ndarray:
        return np.asarray(self.history_[users] @ self.weights_)


class GenrePopularity(Recommender):
    """Cold-start baseline: an item scores the mean popularity of the warm items of its genres.

    Needs no interactions with the item itself, only its genres, so it can rank items
    that were never seen in training (the COLD protocol). ``item_genres`` is a binary
    array of shape ``(n_items, n_genres)``.
    """

    def __init__(self, item_genres):
        self.item_genres = item_genres

    def _fit(self, train: pd.DataFrame) -> None:
        genres = np.asarray(self.item_genres, dtype=float)
        if genres.ndim != 2 or genres.shape[0] != self.n_items_:
            raise ValueError(f"item_genres must have shape (n_items={self.n_items_}, n_genres), "
                             f"got {genres.shape}")
        popularity = np.asarray(self.history_.sum(axis=0)).ravel()
        warm = popularity > 0
        items_per_genre = genres[warm].sum(axis=0)
        genre_popularity = genres[warm].T @ popularity[warm] / np.maximum(items_per_genre, 1)
        n_genres = np.maximum(genres.sum(axis=1), 1)
        self.item_scores_ = genres @ genre_popularity / n_genres

    def _score(self, users: np.ndarray) -> np.ndarray:
        return np.broadcast_to(self.item_scores_, (len(users), self.n_items_))
