"""Strong non-neural baselines: every deep model of the book is measured against these.

* :class:`GlobalMean` and :class:`Biases` predict ratings (RATING protocol).
* :class:`MostPopular`, :class:`ItemKNN` and :class:`EASE` rank items (TOPN, SEQ).
* :class:`GraphFilter` ranks items with a training-free filter on the item graph (the
  graph chapter's baseline).

Constructor defaults are the settings chapter 1 chose on a validation split of ML-100K.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recsys_lab.base import EpochRecommender, RatingRecommender, Recommender
from recsys_lab.validation import DATA, NON_NEGATIVE, POSITIVE, check_fitted, integer


class GlobalMean(RatingRecommender):
    """Predicts the mean training rating for every pair: the floor every model must beat."""

    def _fit(self, train: pd.DataFrame) -> None:
        self.mean_ = float(train["rating"].mean())

    def _predict(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        return np.full(len(users), self.mean_)


class Biases(EpochRecommender, RatingRecommender):
    """``r̂_ui = μ + b_u + b_i`` with L2-regularised biases, fitted by alternating least squares.

    Each epoch solves the item biases, then the user biases, in closed form:
    ``b_i = Σ_u (r_ui − μ − b_u) / (λ_i + n_i)`` and likewise for users, which shrinks the
    biases of rarely rated items towards zero: the minimiser of
    ``Σ (r_ui − μ − b_u − b_i)² + λ_i Σ_i b_i² + λ_u Σ_u b_u²`` (``curves_``' ``loss``, per
    rating).

    Parameters
    ----------
    l2_item, l2_user : float
        The shrinkage ``λ_i`` and ``λ_u`` (in pseudo-ratings).
    epochs : int
        Alternating passes.
    """

    hyperparameters = {"l2_item": NON_NEGATIVE, "l2_user": NON_NEGATIVE, "epochs": integer(1)}

    def __init__(self, l2_item: float = 3.0, l2_user: float = 3.0, epochs: int = 10):
        self.l2_item = l2_item
        self.l2_user = l2_user
        self.epochs = epochs

    def _start(self, train: pd.DataFrame) -> None:
        self._users = train["user"].to_numpy()
        self._items = train["item"].to_numpy()
        self._ratings = train["rating"].to_numpy(dtype=float)
        self.mean_ = float(self._ratings.mean())
        self._per_user = np.bincount(self._users, minlength=self.n_users_)
        self._per_item = np.bincount(self._items, minlength=self.n_items_)
        self.user_bias_ = np.zeros(self.n_users_)
        self.item_bias_ = np.zeros(self.n_items_)

    def _train_epoch(self, epoch: int) -> dict:
        users, items, ratings = self._users, self._items, self._ratings
        residual = ratings - self.mean_ - self.user_bias_[users]
        self.item_bias_ = np.bincount(items, residual, self.n_items_) / (
            self.l2_item + self._per_item)
        residual = ratings - self.mean_ - self.item_bias_[items]
        self.user_bias_ = np.bincount(users, residual, self.n_users_) / (
            self.l2_user + self._per_user)
        squared = (residual - self.user_bias_[users]) ** 2
        penalty = self.l2_item * self.item_bias_ @ self.item_bias_ + (
            self.l2_user * self.user_bias_ @ self.user_bias_)
        return {"loss": float((squared.sum() + penalty) / len(ratings)),
                "train_RMSE": float(np.sqrt(squared.mean()))}

    def _end_training(self) -> None:
        del self._users, self._items, self._ratings, self._per_user, self._per_item

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

    hyperparameters = {"n_neighbors": integer(1), "shrinkage": NON_NEGATIVE}

    def __init__(self, n_neighbors: int = 300, shrinkage: float = 10.0):
        self.n_neighbors = n_neighbors
        self.shrinkage = shrinkage

    def _fit(self, train: pd.DataFrame) -> None:
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

    hyperparameters = {"l2": POSITIVE}

    def __init__(self, l2: float = 800.0):
        self.l2 = l2

    def _fit(self, train: pd.DataFrame) -> None:
        gram = (self.history_.T @ self.history_).toarray()
        gram[np.diag_indices_from(gram)] += self.l2
        precision = np.linalg.inv(gram)
        self.weights_ = -precision / np.diag(precision)
        np.fill_diagonal(self.weights_, 0.0)

    def _score(self, users: np.ndarray) -> np.ndarray:
        return np.asarray(self.history_[users] @ self.weights_)


class GraphFilter(Recommender):
    """A training-free graph filter (in the spirit of Shen et al. 2021's GF-CF).

    With ``R`` the user–item matrix and ``D_U``, ``D_I`` its user and item degrees, the
    normalised matrix is ``R̃ = D_U^{-1/2} R D_I^{-1/2}`` and the item–item graph is
    ``P̃ = R̃ᵀ R̃``. Two filters on that graph are mixed:

    * the linear filter ``P̃``, what one round of user → item → user → item propagation on
      the normalised bipartite graph computes (a cosine-like ItemKNN without neighbour
      pruning);
    * the ideal low-pass filter ``D_I^{-1/2} V Vᵀ D_I^{1/2}``, ``V`` the ``n_components``
      leading eigenvectors of ``P̃`` (the smoothest signals on the item graph).

    ``score(u) = r_u (P̃ + alpha · D_I^{-1/2} V Vᵀ D_I^{1/2})``. With ``item_entities`` (an
    ``(n_items, n_entities)`` 0/1 matrix of knowledge-graph links) the item → entity → item
    graph ``K̃ K̃ᵀ`` (``K̃`` normalised by item and entity degrees, as ``R̃``) is added with
    weight ``entity_weight``: an item nobody rated is then reached through the entities it
    shares with the user's items. Nothing is learned by gradient descent; ``fit`` is a few
    sparse products and one symmetric eigendecomposition.

    Defaults chosen on the TOPN validation split of ML-100K (``topn_split(train, seed=1)``,
    NDCG@10): ``alpha`` 0, 0.1, 0.3, 1 × ``n_components`` 16, 64, 256 gave a best of 0.255
    at 0.3 and 64 (0.239 with ``alpha`` = 0; EASE 0.258); ``entity_weight`` 0, 0.1, 0.3, 1
    with the knowledge graph gave 0.2550, 0.2555, 0.2547, 0.2440.
    """

    hyperparameters = {"alpha": NON_NEGATIVE, "n_components": integer(1),
                       "item_entities": DATA, "entity_weight": NON_NEGATIVE}

    def __init__(self, alpha: float = 0.3, n_components: int = 64, item_entities=None,
                 entity_weight: float = 0.1):
        self.alpha = alpha
        self.n_components = n_components
        self.item_entities = item_entities
        self.entity_weight = entity_weight

    def _fit(self, train: pd.DataFrame) -> None:
        if self.n_components > self.n_items_:
            raise ValueError(f"n_components ({self.n_components}) exceeds the number of items "
                             f"({self.n_items_})")
        item_graph = self.item_graph()
        _, vectors = np.linalg.eigh(item_graph)  # ascending eigenvalues
        smooth = vectors[:, -self.n_components:]
        item_degree = np.asarray(self.history_.sum(axis=0), dtype=float).ravel()
        low_pass = ((_inverse_root(item_degree)[:, None] * smooth)
                    @ (smooth.T * np.sqrt(item_degree)[None, :]))
        self.weights_ = item_graph + self.alpha * low_pass
        if self.item_entities is not None:
            links = sp.csr_matrix(self.item_entities)
            if links.shape[0] != self.n_items_:
                raise ValueError(f"item_entities has {links.shape[0]} rows, one per item is "
                                 f"needed ({self.n_items_})")
            entity_normalized, _ = _normalize_bipartite((links != 0).astype(float))
            self.weights_ += self.entity_weight * (
                entity_normalized @ entity_normalized.T).toarray()

    def item_graph(self) -> np.ndarray:
        """The normalised item–item graph ``P̃ = R̃ᵀ R̃`` of the training data, dense
        ``(n_items, n_items)`` (computed on demand: not a learned parameter)."""
        check_fitted(self)
        normalized, _ = _normalize_bipartite(self.history_)
        return (normalized.T @ normalized).toarray()

    def _score(self, users: np.ndarray) -> np.ndarray:
        return np.asarray(self.history_[users] @ self.weights_)


def _inverse_root(degree: np.ndarray) -> np.ndarray:
    """``degree ** -0.5``, with 0 where the degree is 0."""
    return np.divide(1.0, np.sqrt(degree), out=np.zeros_like(degree), where=degree > 0)


def _normalize_bipartite(matrix: sp.spmatrix) -> tuple[sp.csr_matrix, np.ndarray]:
    """``D_rows^{-1/2} M D_columns^{-1/2}`` and the column degrees."""
    row_degree = np.asarray(matrix.sum(axis=1), dtype=float).ravel()
    column_degree = np.asarray(matrix.sum(axis=0), dtype=float).ravel()
    normalized = sp.diags(_inverse_root(row_degree)) @ matrix @ sp.diags(
        _inverse_root(column_degree))
    return sp.csr_matrix(normalized), column_degree


class GenrePopularity(Recommender):
    """Cold-start baseline: an item scores the mean popularity of the warm items of its genres.

    Needs no interactions with the item itself, only its genres, so it can rank items
    that were never seen in training (the COLD protocol). ``item_genres`` is a binary
    array of shape ``(n_items, n_genres)``.
    """

    hyperparameters = {"item_genres": DATA}

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
